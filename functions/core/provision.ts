/**
 * The provisioner's use case: applies one queued Spacelift resource event to IAM and SSM,
 * convergently, in the order the ledger vouches for. Running an event twice, or against a role
 * that is already right, makes no write call.
 */
import {
  type AuditEvent,
  eventResourceKey,
  parseAuditEvent,
  type ResourceEvent,
} from "./audit-event.ts";
import type { VendingConfig } from "./config.ts";
import { type ConvergeDeps, convergeSpace, convergeStack } from "./converge.ts";
import type { OtherShapeRoles, ProvisionOutcome } from "./converge-contract.ts";
import {
  ForeignResourceError,
  HttpError,
  InvalidReconcileOrderError,
  PermanentEventError,
} from "./errors.ts";
import type { ResourceLedger, StackFactsRecord } from "./ports.ts";
import { decodeQueueMessage, isReconcileEnvelope } from "./queue-message.ts";
import {
  applyReconcileOrder,
  type OrderOutcome,
  type ParsedReconcileOrder,
  parseReconcileOrder,
} from "./reconcile-order.ts";
import { removeSpace, removeStack } from "./remove.ts";
import { spaceRoleName, stackRoleName, stackScopes, stackShape } from "./role-spec.ts";
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

/** What applying an event needs: the converge engine's ports, and the ledger of events. */
export interface ProvisionerDeps extends ConvergeDeps {
  readonly ledger: ResourceLedger;
  /**
   * Hours a role must have been revoked before a reconcile order may delete it
   * (ORPHAN_GRACE_PERIOD_HOURS, the reconciler's own setting); 72 when not given.
   */
  readonly orphanGracePeriodHours?: number;
  /** The clock reconcile orders are checked and revocations dated with; the system's when not given. */
  readonly now?: () => Date;
}

/** ORPHAN_GRACE_PERIOD_HOURS's default, the reconciler's and the provisioner's. */
export const DEFAULT_ORPHAN_GRACE_PERIOD_HOURS = 72;

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
      const outcome = await convergeStack(factsOf(event.stackId, facts), deps, {
        fresh: false,
        otherShapeRoles,
      });
      await deps.ledger.record({
        ...withoutShape(last),
        ...(facts && { facts }),
        ...vouching(outcome.shape),
      });
      return outcome;
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
  try {
    const outcome = await applyToAws(
      event,
      deps,
      last?.state === "present",
      facts,
      otherShapeRoles,
    );
    await deps.ledger.record({ ...entry, ...vouching(outcome.shape) });
    return outcome;
  } catch (error) {
    // A refusal may come after AWS was already changed (the role written, then its parameter
    // found to be someone else's): the event still counts as the latest, so that an older
    // event delivered later cannot undo what this one did. What the ledger vouched for of the
    // stack's shape still holds if the event touched only that shape's roles.
    if (error instanceof PermanentEventError) {
      const shape = otherShapeRoles === "vouched-absent" ? vouchedShape(last) : undefined;
      await deps.ledger.record({ ...entry, ...vouching(shape) });
    }
    throw error;
  }
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
): Promise<ProvisionOutcome> {
  // A fresh create tries CreateRole straight away (no read first); anything else reads the
  // role first, since the event may leave the space or labels unsaid.
  const fresh = event.action.endsWith(".create") && !knownPresent;
  switch (event.type) {
    case "stack.upserted":
      // What the event leaves unsaid comes from the newest event that said it.
      return convergeStack(factsOf(event.stackId, facts), deps, { fresh, otherShapeRoles });
    case "space.upserted":
      await recordSpace(event, deps, event.timestamp);
      return convergeSpace({ spaceId: event.spaceId }, deps, { fresh });
    case "stack.deleted": {
      // A stack admitted to its space whose role was never created: only events know where.
      const admitted = factsOf(event.stackId, facts).spaceId;
      const release = async () => {
        if (admitted !== undefined) await deps.spaceRoleCap?.quota.release(admitted, event.stackId);
      };
      let outcome: ProvisionOutcome;
      try {
        outcome = await removeStack(event.stackId, deps, { otherShapeRoles });
      } catch (error) {
        // Refused for a role at its name that is not ours: its own roles are gone all the same.
        if (error instanceof ForeignResourceError) await release();
        throw error;
      }
      await release();
      return outcome;
    }
    case "space.deleted": {
      const outcome = await removeSpace(event.spaceId, deps);
      await deps.spacePaths?.remove(event.spaceId);
      return outcome;
    }
  }
}

export type MessageOutcome =
  | {
      readonly result: "applied";
      readonly event: ResourceEvent;
      readonly outcome: ProvisionOutcome;
    }
  | {
      readonly result: "dropped";
      readonly reason: string;
      readonly error: Error;
      readonly event?: ResourceEvent;
    }
  | { readonly result: "ignored"; readonly reason: string };

/** What became of a message off the queue: an event's outcome, or a reconcile order's. */
export type QueueMessageOutcome =
  | MessageOutcome
  | {
      readonly result: "ordered";
      readonly order: ParsedReconcileOrder;
      readonly outcome: OrderOutcome;
    };

/**
 * One message off the event queue: a reconcile order (its own envelope, which the receiver
 * never writes) or a webhook event, the receiver's or a synthesized one (processMessage).
 * A malformed order, or one that what is true now forbids, is reported as dropped.
 */
export async function processQueueMessage(
  message: string,
  deps: ProvisionerDeps,
): Promise<QueueMessageOutcome> {
  if (!isReconcileEnvelope(message)) return processMessage(decodeQueueMessage(message), deps);
  let order: ParsedReconcileOrder;
  try {
    order = parseReconcileOrder(message);
  } catch (error) {
    if (error instanceof InvalidReconcileOrderError) {
      return { result: "dropped", reason: error.message, error };
    }
    throw error;
  }
  try {
    const outcome = await applyReconcileOrder(order, {
      ...deps,
      orphanGracePeriodHours: deps.orphanGracePeriodHours ?? DEFAULT_ORPHAN_GRACE_PERIOD_HOURS,
      now: deps.now ?? (() => new Date()),
    });
    return { result: "ordered", order, outcome };
  } catch (error) {
    if (error instanceof PermanentEventError) {
      return { result: "dropped", reason: error.message, error };
    }
    throw error;
  }
}

/**
 * One queued message. What can never succeed (an invalid event, a role we must not touch) is
 * reported as dropped; anything else throws, so the queue redelivers it (and, after the
 * configured number of receives, moves it to the dead-letter queue).
 */
export async function processMessage(body: string, deps: ProvisionerDeps): Promise<MessageOutcome> {
  let event: AuditEvent;
  try {
    event = parseAuditEvent(body, {
      account: deps.config.spaceliftAccount,
      defaultSpaceId: deps.config.defaultSpaceId,
    });
  } catch (error) {
    if (error instanceof HttpError) return { result: "dropped", reason: "invalid event", error };
    throw error;
  }
  if (event.type === "ignored") return { result: "ignored", reason: event.reason };
  try {
    return { result: "applied", event, outcome: await applyEvent(event, deps) };
  } catch (error) {
    if (error instanceof PermanentEventError) {
      return { result: "dropped", reason: error.message, error, event };
    }
    throw error;
  }
}
