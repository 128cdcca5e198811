/**
 * Which AWS account holds a resource's roles, as the ledger records it, and how they move when
 * the resource's space is routed to another account (the permissions file's `accounts`).
 *
 * A move from account A to B, each step recorded before the next can depend on it:
 * 1. if the ledger does not yet name B, it records B as a former account (B may hold roles
 *    from now on: a crash, then a move back to A, still finds and removes them);
 * 2. the roles are converged in B, and published there and in the service's account
 *    (re-pointing the service's parameters to B's roles);
 * 3. the event is recorded with account B, and A as a former account;
 * 4. the roles (and B-side parameters) in A are removed, after the ownership checks in A;
 * 5. the ledger records no former account.
 * A crash anywhere leaves the ledger naming every account that may hold roles, so the retry
 * (or any later event, a move back included) converges in its destination and clears the rest.
 */
import { accountFor, configForAccount, targetAccount } from "./account-routing.ts";
import type { ConvergeDeps } from "./converge.ts";
import type { ProvisionOutcome } from "./converge-contract.ts";
import { PolicyRenderError } from "./errors.ts";
import type { SpaceId } from "./identifiers.ts";
import type {
  AccountAccess,
  LedgerEntry,
  ParameterStore,
  ResourceLedger,
  SpaceQuota,
  Tags,
} from "./ports.ts";
import { permissionsOf } from "./role-spec.ts";

/** What placing a resource needs: the converge engine's ports, the ledger, the accounts. */
export interface PlacementDeps extends ConvergeDeps {
  readonly ledger: ResourceLedger;
  /** The configured target accounts; required when the permissions file has `accounts`. */
  readonly accounts?: AccountAccess;
}

/** Where a resource's roles are: its account, and accounts that may still hold some. */
export interface Placement {
  readonly account: string;
  readonly formerAccounts: readonly string[];
}

export function placementOf(deps: PlacementDeps, entry: LedgerEntry | undefined): Placement {
  return {
    account: entry?.account ?? deps.config.awsAccountId,
    formerAccounts: entry?.formerAccounts ?? [],
  };
}

/** The entry with that placement (the service's account and no former account: no fields). */
export function placed(entry: LedgerEntry, placement: Placement, deps: PlacementDeps): LedgerEntry {
  const { account: _account, formerAccounts: _former, ...rest } = entry;
  const former = [...new Set(placement.formerAccounts)]
    .filter((id) => id !== placement.account)
    .sort();
  return {
    ...rest,
    ...(placement.account !== deps.config.awsAccountId && { account: placement.account }),
    ...(former.length > 0 && { formerAccounts: former }),
  };
}

/**
 * The account a resource's roles go to now: routed by its space (a space by its own ID). A
 * stack whose space no event has said stays where the ledger has it.
 */
export function destinationOf(
  deps: PlacementDeps,
  spaceId: SpaceId | undefined,
  last: LedgerEntry | undefined,
): string {
  if (spaceId !== undefined) return accountFor(deps.config, spaceId);
  return last?.account ?? accountFor(deps.config, deps.config.defaultSpaceId);
}

/**
 * What converging (or removing) in an account works with: that account's configuration
 * (provider, boundary, the rules that apply there) and stores. `vend`: the role's ARN is
 * published in the service's account, and in the target account when publishInTargetAccount
 * says so. `clear` (a former account): only that account's own parameters are touched; the
 * service's account's now name the roles of the destination.
 */
export async function depsIn(
  deps: PlacementDeps,
  accountId: string,
  resource: string,
  use: "vend" | "clear",
  keepSpace?: string,
): Promise<ConvergeDeps> {
  const config = configForAccount(deps.config, accountId);
  const spaceRoleCap =
    deps.spaceRoleCap === undefined || keepSpace === undefined
      ? deps.spaceRoleCap
      : { ...deps.spaceRoleCap, quota: keepingSpace(deps.spaceRoleCap.quota, keepSpace) };
  const base = {
    ...deps,
    config,
    ...(spaceRoleCap !== undefined && { spaceRoleCap }),
  };
  if (accountId === deps.config.awsAccountId) {
    return use === "vend" ? base : { ...base, parameters: NO_PARAMETERS };
  }
  if (deps.accounts === undefined) {
    throw new PolicyRenderError(
      `account ${accountId} is configured but the provisioner was wired without account access`,
    );
  }
  const stores = await deps.accounts.storesFor(accountId, resource);
  const inTarget = permissionsOf(deps.config).publishInTargetAccount;
  const { roleQuota: _serviceQuota, ...withoutServiceQuota } = base;
  return {
    ...withoutServiceQuota,
    ...(stores.roleQuota !== undefined && { roleQuota: stores.roleQuota }),
    roles: stores.roles,
    parameters:
      use === "clear"
        ? stores.parameters
        : new PublishedInBothAccounts(deps.parameters, inTarget ? stores.parameters : undefined),
  };
}

/**
 * Step 1 and 2 of a move (see the module comment): records that `destination` may hold the
 * resource's roles if the ledger does not say so yet, then converges there. Returns the
 * outcome and the placement to record with the event.
 */
export async function convergeInDestination(
  resource: string,
  destination: string,
  last: LedgerEntry | undefined,
  deps: PlacementDeps,
  converge: (accountDeps: ConvergeDeps, moving: boolean) => Promise<ProvisionOutcome>,
): Promise<{ outcome: ProvisionOutcome; placement: Placement }> {
  const before = placementOf(deps, last);
  const known = [before.account, ...before.formerAccounts];
  if (!known.includes(destination)) {
    // No entry yet: a tombstone dated 0, older than any event, so nothing counts as applied.
    const entry = last ?? { resource, timestamp: 0, state: "deleted" as const };
    await deps.ledger.record(
      placed(entry, { ...before, formerAccounts: [...before.formerAccounts, destination] }, deps),
    );
  }
  const moving = destination !== before.account;
  const outcome = await converge(await depsIn(deps, destination, resource, "vend"), moving);
  return {
    outcome,
    placement: { account: destination, formerAccounts: known.filter((id) => id !== destination) },
  };
}

/**
 * Steps 4 and 5: removes the resource's roles from its former accounts, then records that none
 * holds any (an account no longer configured cannot be reached: its roles are left there, said
 * so, and it stays recorded). `entry` is what the ledger holds now. Returns the changes made.
 */
export async function clearFormerAccounts(
  entry: LedgerEntry,
  deps: PlacementDeps,
  remove: (accountDeps: ConvergeDeps) => Promise<ProvisionOutcome>,
  keepSpace: string | undefined,
): Promise<string[]> {
  const placement = placementOf(deps, entry);
  if (placement.formerAccounts.length === 0) return [];
  const changes: string[] = [];
  // An account no longer configured keeps its roles (still trusting the resource's runs): it
  // stays recorded, so that configuring it again removes them instead of their being forgotten.
  const unreachable: string[] = [];
  for (const former of placement.formerAccounts) {
    if (former !== deps.config.awsAccountId && targetAccount(deps.config, former) === undefined) {
      changes.push(`account ${former}: no longer configured; its roles are left there`);
      unreachable.push(former);
      continue;
    }
    const accountDeps = await depsIn(deps, former, entry.resource, "clear", keepSpace);
    const removed = await remove(accountDeps);
    changes.push(...removed.changes.map((change) => `account ${former}: ${change}`));
  }
  if (unreachable.length < placement.formerAccounts.length) {
    await deps.ledger.record(placed(entry, { ...placement, formerAccounts: unreachable }, deps));
  }
  return changes;
}

/**
 * Every account that may hold the resource's roles, the ledger's first (for a delete):
 * the ledger's account, its former accounts, and where the space is routed now.
 */
export function everyPlacement(
  deps: PlacementDeps,
  last: LedgerEntry | undefined,
  spaceId: SpaceId | undefined,
): string[] {
  const before = placementOf(deps, last);
  let routed: string | undefined;
  try {
    routed = spaceId === undefined ? undefined : accountFor(deps.config, spaceId);
  } catch {
    // Routed nowhere (defaultAccount: none): nothing was vended for it there.
    routed = undefined;
  }
  return [
    ...new Set([
      before.account,
      ...before.formerAccounts,
      ...(routed === undefined ? [] : [routed]),
    ]),
  ].filter((id) => id === deps.config.awsAccountId || targetAccount(deps.config, id) !== undefined);
}

/** A role's ARN published in the service's account and, when configured, in the target's. */
export class PublishedInBothAccounts implements ParameterStore {
  constructor(
    private readonly service: ParameterStore,
    private readonly target: ParameterStore | undefined,
  ) {}

  async publish(
    name: string,
    value: string,
    tags: Tags,
    options?: { fresh?: boolean; current?: string },
  ): Promise<"created" | "updated" | "unchanged"> {
    const inService = await this.service.publish(name, value, tags, options);
    if (this.target === undefined) return inService;
    const fresh = options?.fresh;
    const inTarget = await this.target.publish(
      name,
      value,
      tags,
      fresh === undefined ? {} : { fresh },
    );
    if (inService === "created" || inTarget === "created") return "created";
    return inService === "unchanged" && inTarget === "unchanged" ? "unchanged" : "updated";
  }

  async remove(name: string): Promise<"deleted" | "absent"> {
    const inService = await this.service.remove(name);
    const inTarget = this.target === undefined ? "absent" : await this.target.remove(name);
    return inService === "deleted" || inTarget === "deleted" ? "deleted" : "absent";
  }

  listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return this.service.listByPath(path);
  }
}

/** A former account that is the service's own: its parameters name the destination's roles now. */
const NO_PARAMETERS: ParameterStore = {
  publish: async () => "unchanged",
  remove: async () => "absent",
  listByPath: async () => [],
};

/** The space quota, except that the stack keeps its place in `space` (its current space). */
function keepingSpace(quota: SpaceQuota, space: string): SpaceQuota {
  return {
    admit: (spaceId, stackId, cap) => quota.admit(spaceId, stackId, cap),
    include: (spaceId, stackId) => quota.include(spaceId, stackId),
    release: async (spaceId, stackId, options) => {
      if (spaceId !== space) await quota.release(spaceId, stackId, options);
    },
    members: (spaceId) => quota.members(spaceId),
  };
}
