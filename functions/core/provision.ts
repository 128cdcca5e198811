/**
 * The provisioner's use case: applies one queued Spacelift resource event to IAM and SSM,
 * convergently, in the order the ledger vouches for. Running an event twice, or against a role
 * that is already right, makes no write call.
 */

import {
  clearFormerAccounts,
  convergeInDestination,
  depsIn,
  destinationOf,
  everyPlacement,
  type Placement,
  type PlacementDeps,
  placed,
  placementOf,
} from "./account-placement.ts";
import { eventResourceKey, type ResourceEvent } from "./audit-event.ts";
import type { VendingConfig } from "./config.ts";
import { type ConvergeDeps, convergeSpace, convergeStack } from "./converge.ts";
import type { OtherShapeRoles, ProvisionOutcome } from "./converge-contract.ts";
import { AccountNotRoutedError, ForeignResourceError, PermanentEventError } from "./errors.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import type { LedgerEntry, StackFactsRecord } from "./ports.ts";
import { removeSpace, removeStack } from "./remove.ts";
import { spaceRoleName, stackRoleName } from "./role-names.ts";
import { stackScopes, stackShape } from "./role-spec.ts";
import { recordSpace } from "./space-path.ts";
import {
  factsOf,
  isSuperseded,
  learnFacts,
  stopVouchingForOtherShape,
  vouchedShape,
  vouching,
  withoutShape,
} from "./stack-ledger.ts";

/**
 * What applying an event needs: the converge engine's ports, the ledger of events, (with
 * `accounts` in the permissions file) access to the target accounts, and what reconcile
 * orders are checked with.
 */
export interface ProvisionerDeps extends PlacementDeps {
  /**
   * Hours a role must have been revoked before a reconcile order may delete it
   * (ORPHAN_GRACE_PERIOD_HOURS, the reconciler's own setting); 72 when not given.
   */
  readonly orphanGracePeriodHours?: number;
  /** The clock reconcile orders are checked and revocations dated with; the system's when not given. */
  readonly now?: () => Date;
}

export async function applyEvent(
  event: ResourceEvent,
  deps: ProvisionerDeps,
): Promise<ProvisionOutcome> {
  const resource = eventResourceKey(event);
  const last = await deps.ledger.get(resource);
  const facts = learnFacts(last?.facts, event);
  // Spacelift does not deliver in order: an event older than the last one applied to this
  // resource (a create arriving after the delete) must not undo it. It may still be the newest
  // to name the stack's space or labels; then the stack converges on what is now known.
  if (last !== undefined && isSuperseded(event, last)) {
    const stale: ProvisionOutcome = {
      resource,
      result: "stale",
      roleName: roleNameOf(event, deps.config),
      changes: [],
    };
    if (facts === last.facts) return stale;
    if (last.state === "present" && event.type === "stack.upserted") {
      const otherShapeRoles = await stopVouchingForOtherShape(last, deps);
      const stack = factsOf(event.stackId, facts);
      const { outcome, placement } = await convergeInDestination(
        resource,
        destinationOf(deps, stack.spaceId, last),
        withoutShape(last),
        deps,
        (accountDeps, moving) =>
          convergeStack(stack, accountDeps, {
            fresh: false,
            otherShapeRoles: moving ? "remove-then-vouch" : otherShapeRoles,
          }),
      );
      const recorded = placed(
        { ...withoutShape(last), ...(facts && { facts }), ...vouching(outcome.shape) },
        placement,
        deps,
      );
      await deps.ledger.record(recorded);
      return withChanges(
        outcome,
        await clearStackElsewhere(stack.stackId, recorded, stack.spaceId, deps),
      );
    }
    await deps.ledger.record({ ...last, ...(facts && { facts }) });
    return stale;
  }
  const otherShapeRoles: OtherShapeRoles =
    event.type === "stack.upserted"
      ? await stopVouchingForOtherShape(last, deps)
      : event.type === "stack.deleted" && vouchedShape(last) === stackShape(deps.config)
        ? "vouched-absent"
        : "remove-then-vouch";
  const entry = {
    resource,
    timestamp: event.timestamp,
    state: event.type.endsWith(".deleted") ? ("deleted" as const) : ("present" as const),
    ...(facts && { facts }),
  };
  // Every account that may hold the resource's roles if this event fails half-way.
  let atRisk: Placement = placementOf(deps, last);
  try {
    const destination =
      event.type === "stack.upserted"
        ? destinationOf(deps, factsOf(event.stackId, facts).spaceId, last)
        : event.type === "space.upserted"
          ? destinationOf(deps, event.spaceId, last)
          : undefined;
    if (destination !== undefined) {
      atRisk = { ...atRisk, formerAccounts: [...atRisk.formerAccounts, destination] };
    }
    const { outcome, placement } = await applyToAws(
      event,
      deps,
      last?.state === "present",
      facts,
      otherShapeRoles,
      { last, destination },
    );
    const recorded = placed({ ...entry, ...vouching(outcome.shape) }, placement, deps);
    await deps.ledger.record(recorded);
    if (event.type === "stack.upserted") {
      return withChanges(
        outcome,
        await clearStackElsewhere(
          event.stackId,
          recorded,
          factsOf(event.stackId, facts).spaceId,
          deps,
        ),
      );
    }
    if (event.type === "space.upserted") {
      const cleared = await clearFormerAccounts(
        recorded,
        deps,
        (accountDeps) => removeSpace(event.spaceId, accountDeps),
        undefined,
      );
      return withChanges(outcome, cleared);
    }
    return outcome;
  } catch (error) {
    // A refusal may come after AWS was already changed (the role written, then its parameter
    // found to be someone else's): the event still counts as the latest, so that an older
    // event delivered later cannot undo what this one did. What the ledger vouched for of the
    // stack's shape still holds if the event touched only that shape's roles. Every account
    // that may hold roles stays recorded.
    if (error instanceof PermanentEventError) {
      if (error instanceof AccountNotRoutedError && last?.state === "present") {
        // Moved into a space no account takes (defaultAccount: none): refused, so it keeps no
        // role anywhere, like a resource that was never routed.
        atRisk = await removeUnrouted(event, last, deps, atRisk);
      }
      const shape = otherShapeRoles === "vouched-absent" ? vouchedShape(last) : undefined;
      await deps.ledger.record(placed({ ...entry, ...vouching(shape) }, atRisk, deps));
    }
    throw error;
  }
}

/**
 * Removes the roles of a resource that is routed nowhere now from every account that may hold
 * them; returns what may still hold roles (unchanged if a removal fails: retried by a later event).
 */
async function removeUnrouted(
  event: ResourceEvent,
  last: LedgerEntry,
  deps: ProvisionerDeps,
  atRisk: Placement,
): Promise<Placement> {
  const resource = eventResourceKey(event);
  try {
    await removeEverywhere(last, undefined, deps, resource, (accountDeps) =>
      "stackId" in event
        ? removeStack(event.stackId, accountDeps)
        : removeSpace(event.spaceId, accountDeps),
    );
  } catch (error) {
    if (error instanceof PermanentEventError) return atRisk;
    throw error;
  }
  return { account: deps.config.awsAccountId, formerAccounts: [] };
}

/** Removes a stack's roles from its former accounts; its place in its space stays counted. */
function clearStackElsewhere(
  stackId: StackId,
  recorded: LedgerEntry,
  spaceId: SpaceId | undefined,
  deps: ProvisionerDeps,
): Promise<string[]> {
  return clearFormerAccounts(
    recorded,
    deps,
    (accountDeps) => removeStack(stackId, accountDeps),
    spaceId,
  );
}

function withChanges(outcome: ProvisionOutcome, more: readonly string[]): ProvisionOutcome {
  return more.length === 0 ? outcome : { ...outcome, changes: [...outcome.changes, ...more] };
}

function roleNameOf(event: ResourceEvent, config: VendingConfig): string {
  return "stackId" in event
    ? stackRoleName(config, event.stackId, stackScopes(config)[0])
    : spaceRoleName(config, event.spaceId);
}

async function applyToAws(
  event: ResourceEvent,
  deps: ProvisionerDeps,
  knownPresent: boolean,
  facts: StackFactsRecord | undefined,
  otherShapeRoles: OtherShapeRoles,
  where: { last: LedgerEntry | undefined; destination: string | undefined },
): Promise<{ outcome: ProvisionOutcome; placement: Placement }> {
  // A fresh create tries CreateRole straight away (no read first); anything else reads the
  // role first, since the event may leave the space or labels unsaid.
  const fresh = event.action.endsWith(".create") && !knownPresent;
  const resource = eventResourceKey(event);
  const { last, destination } = where;
  switch (event.type) {
    case "stack.upserted":
      // What the event leaves unsaid comes from the newest event that said it. Moving into
      // another account, the roles there are looked for (any shape), not assumed absent.
      return convergeInDestination(
        resource,
        destination as string,
        last,
        deps,
        (accountDeps, moving) =>
          convergeStack(factsOf(event.stackId, facts), accountDeps, {
            fresh: fresh && !moving,
            otherShapeRoles: moving ? "remove-then-vouch" : otherShapeRoles,
          }),
      );
    case "space.upserted":
      await recordSpace(event, deps, event.timestamp);
      return convergeInDestination(
        resource,
        destination as string,
        last,
        deps,
        (accountDeps, moving) =>
          convergeSpace({ spaceId: event.spaceId }, accountDeps, { fresh: fresh && !moving }),
      );
    case "stack.deleted": {
      // A stack admitted to its space whose role was never created: only events know where.
      const admitted = factsOf(event.stackId, facts).spaceId;
      const release = async () => {
        if (admitted !== undefined) await deps.spaceRoleCap?.quota.release(admitted, event.stackId);
      };
      let outcome: ProvisionOutcome;
      try {
        outcome = await removeEverywhere(
          last,
          admitted,
          deps,
          resource,
          (accountDeps, inLedgerAccount) =>
            removeStack(event.stackId, accountDeps, inLedgerAccount ? { otherShapeRoles } : {}),
        );
      } catch (error) {
        // Refused for a role at its name that is not ours: its own roles are gone all the same.
        if (error instanceof ForeignResourceError) await release();
        throw error;
      }
      await release();
      return { outcome, placement: { account: deps.config.awsAccountId, formerAccounts: [] } };
    }
    case "space.deleted": {
      const outcome = await removeEverywhere(last, event.spaceId, deps, resource, (accountDeps) =>
        removeSpace(event.spaceId, accountDeps),
      );
      await deps.spacePaths?.remove(event.spaceId);
      return { outcome, placement: { account: deps.config.awsAccountId, formerAccounts: [] } };
    }
  }
}

/**
 * Removes a deleted resource's roles and parameters from every account that may hold them
 * (the ledger's first, whose outcome is the one reported; the others' changes are added).
 */
async function removeEverywhere(
  last: LedgerEntry | undefined,
  spaceId: SpaceId | undefined,
  deps: ProvisionerDeps,
  resource: string,
  /** `inLedgerAccount`: what the ledger vouches for holds in that account only. */
  remove: (accountDeps: ConvergeDeps, inLedgerAccount: boolean) => Promise<ProvisionOutcome>,
): Promise<ProvisionOutcome> {
  const ledgerAccount = placementOf(deps, last).account;
  const [first = deps.config.awsAccountId, ...others] = everyPlacement(deps, last, spaceId);
  let outcome = await remove(await depsIn(deps, first, resource, "vend"), first === ledgerAccount);
  for (const account of others) {
    const more = await remove(
      await depsIn(deps, account, resource, "vend"),
      account === ledgerAccount,
    );
    outcome = {
      ...outcome,
      result: more.result === "deleted" ? "deleted" : outcome.result,
      changes: [
        ...outcome.changes,
        ...more.changes.map((change) => `account ${account}: ${change}`),
      ],
    };
  }
  return outcome;
}
