/**
 * The reconcile use case: plans what makes the vended roles and parameters converge to what
 * Spacelift's own API says exists, whatever webhooks were missed, for the provisioner to
 * apply. Shared by the scheduled Lambda and the `npm run reconcile` CLI.
 *
 * One run: read what we manage in AWS (roles under the role path carrying our tags, parameters
 * under `<prefix>/<account>/`), then ask Spacelift which stacks and spaces exist, then
 * - for every stack and space Spacelift lists, converge it against stores that read the
 *   inventory but never write (the provisioner's own `convergeStack`/`convergeSpace`): when
 *   that would change anything, enqueue the resource as Spacelift listed it, a synthesized
 *   `stack.update`/`space.update` event dated at the listing, in the resource's own group;
 * - for roles whose stack or space is gone, decide (caps, grace period) to revoke or delete
 *   them, and enqueue a reconcile order for each.
 * The messages go out in batches once planning is over; the provisioner applies them in order
 * with the resource's webhook events, so a webhook Spacelift dated after the listing wins.
 * Planning makes no IAM or SSM call beyond the inventory. A dry run plans the same and enqueues
 * nothing. Without Spacelift (no API key, or its API failing) it only checks roles against
 * parameters, and that check writes itself (there is no listing to date an event with).
 */
import { depsIn, type PlacementDeps } from "../account-placement.ts";
import type { AccountAccess, ResourceLedger } from "../ports.ts";
import { type AccountScope, type AccountsInventory, inventoryEveryAccount } from "./accounts.ts";
import { byResource, type DecisionInput, type ReconcileReport } from "./decisions.ts";
import { dryRunStores } from "./dry-run-stores.ts";
import { stackSpacesOf } from "./inventory.ts";
import { settleOrphans } from "./orphan-removal.ts";
import { checkRolesAgainstParameters } from "./parameters-only.ts";
import {
  addDecision,
  convergeDepsOf,
  type Pass,
  type PassStores,
  type ReconcilerDeps,
  startPass,
} from "./pass-state.ts";
import { planResource, sendPlan } from "./plan.ts";
import { mapWithConcurrency } from "./pool.ts";
import { SnapshotParameterStore, SnapshotRoleStore } from "./snapshot-stores.ts";
import { repairSpaceCounts } from "./space-counts.ts";
import { useSpaceliftSpaces } from "./space-paths.ts";
import { readSpacelift, type SpaceliftListing } from "./spacelift-listing.ts";
import { listedTargets } from "./targets.ts";

/** One reconciliation run; see the module documentation. Never throws for one resource's failure. */
export async function reconcile(deps: ReconcilerDeps): Promise<ReconcileReport> {
  const { config, settings } = deps;
  // Before anything is read: a stack counted in a space after this is never uncounted here.
  const runStart = deps.now().getTime();
  // AWS is read before Spacelift: a role created for a new stack after our listing is simply
  // not seen, whereas reading Spacelift first would make such a role look like an orphan.
  const accounts = await inventoryEveryAccount(deps);
  const [service, ...targetScopes] = accounts.scopes;
  if (service === undefined) throw new Error("the service's own account was not inventoried");
  const { inventory } = service;
  const listing = await readSpacelift(deps);
  const planning = "reason" in listing ? settings.dryRun : true;
  // Planning converges against stores that read (the inventory's snapshot) but never write:
  // their outcome says what the provisioner will change when it applies the plan.
  const stores = planning
    ? planningStores(service)
    : {
        roles: new SnapshotRoleStore(deps.roles, inventory.snapshot, inventory.namesElsewhere),
        parameters: new SnapshotParameterStore(deps.parameters, inventory.parameterValues),
      };
  const stackSpaces = new Map<string, string>();
  for (const scope of accounts.scopes) {
    for (const [stack, space] of stackSpacesOf(scope.inventory)) stackSpaces.set(stack, space);
  }
  const pass = startPass(deps, stores, stackSpaces, { planning });
  for (const scope of accounts.scopes) {
    for (const role of scope.inventory.unrecognisedRoles) {
      addDecision(pass, {
        action: "report",
        resource: `role:${role.name}`,
        reason: `${scope === service ? "" : `in AWS account ${scope.account}: `}carries our tags but names no stack or space by a valid ID (spacelift:stack, spacelift:space); left untouched`,
        outcome: "reported",
        roles: [role.name],
      });
    }
  }

  let sent = { enqueued: 0, calls: 0 };
  let unplanned = new Map<string, number>();
  if ("reason" in listing) {
    addDecision(pass, {
      action: "report",
      resource: `spacelift:${config.spaceliftAccount}`,
      reason: `Spacelift not consulted (${listing.reason}): roles checked against parameters only, in the service's own account; nothing created from Spacelift, revoked or deleted`,
      outcome: listing.failed ? "failed" : "reported",
    });
    await checkRolesAgainstParameters(pass, inventory);
  } else {
    await planTargetAccounts(pass, targetScopes);
    unplanned = await reconcileWithSpacelift(pass, accounts, listing);
    sent = await sendPlan(pass, deps, settings.dryRun);
    await repairSpaceCounts(pass, listing, runStart);
  }
  for (const { account, error } of accounts.unreachable) {
    addDecision(pass, unreachableDecision(account, error, unplanned.get(account) ?? 0));
  }
  return {
    account: config.spaceliftAccount,
    dryRun: settings.dryRun,
    mode: "reason" in listing ? "parameters-only" : "spacelift",
    // Resources are reconciled concurrently; the report lists them in a stable order.
    decisions: [...pass.decisions].sort(byResource),
    counts: {
      spaceliftStacks: "reason" in listing ? 0 : listing.stacks.length,
      spaceliftSpaces: "reason" in listing ? 0 : listing.spaces.length,
      managedRoles: accounts.scopes.reduce((n, scope) => n + scope.inventory.managedRoles, 0),
      parameters: [...inventory.groups.values()].reduce((n, g) => n + g.parameters.length, 0),
      inSync: pass.inSync,
      enqueued: sent.enqueued,
      queueCalls: sent.calls,
    },
    accounts: {
      reconciled: accounts.scopes.map(({ account }) => account),
      unreachable: accounts.unreachable.map(({ account }) => account),
      usage: accounts.usage,
    },
  };
}

/** An account's planning stores: its inventory's snapshot, with writes answered, never sent. */
function planningStores(scope: AccountScope): PassStores {
  const { inventory } = scope;
  return dryRunStores(
    new SnapshotRoleStore(scope.stores.roles, inventory.snapshot, inventory.namesElsewhere),
    scope.account,
    inventory.parameterValues,
  );
}

/**
 * What converge and removal go through in each reachable target account: that account's
 * configuration and planning stores, published as the provisioner publishes (depsIn: in the
 * service's account, and in the target's when configured).
 */
async function planTargetAccounts(pass: Pass, scopes: readonly AccountScope[]): Promise<void> {
  const stores = new Map(scopes.map((scope) => [scope.account, planningStores(scope)]));
  const planningAccess: AccountAccess = {
    storesFor: async (accountId) => {
      const found = stores.get(accountId);
      if (found === undefined) throw new Error(`AWS account ${accountId} was not inventoried`);
      return found;
    },
  };
  const placementDeps: PlacementDeps = {
    ...convergeDepsOf(pass),
    ledger: PLANNING_LEDGER,
    accounts: planningAccess,
  };
  for (const scope of scopes) {
    pass.targetAccounts.set(
      scope.account,
      await depsIn(placementDeps, scope.account, `account:${scope.account}`, "vend"),
    );
  }
}

/** Planning never reads or writes the ledger (the provisioner orders the plan against it). */
const PLANNING_LEDGER: ResourceLedger = {
  get: async () => {
    throw new Error("the ledger is not read while planning");
  },
  record: async () => {
    throw new Error("the ledger is not written while planning");
  },
};

/**
 * Plans every listed resource against the inventory of the account it is routed to, then the
 * orphans of each reachable account. Returns, per unreachable account, how many listed
 * resources routed there were not planned.
 */
async function reconcileWithSpacelift(
  pass: Pass,
  accounts: AccountsInventory,
  listing: SpaceliftListing,
): Promise<Map<string, number>> {
  pass.listedAt = listing.listedAt;
  pass.environment = listing.environment;
  await useSpaceliftSpaces(pass, listing.spaces);
  const spaces = new Map(listing.spaces.map((space) => [space.id, space]));
  const inventories = new Map(accounts.scopes.map((scope) => [scope.account, scope.inventory]));
  const unplanned = new Map<string, number>();
  // A resource routed to an account that could not be inventoried is not planned at all: not
  // even a create (it would fail and be retried), and its roles elsewhere are left alone.
  const targets = listedTargets(pass, listing).filter((target) => {
    if (inventories.has(target.account)) return true;
    unplanned.set(target.account, (unplanned.get(target.account) ?? 0) + 1);
    return false;
  });
  await mapWithConcurrency(targets, pass.deps.settings.concurrency, (target) => {
    const foundIn = [...inventories].flatMap(([account, held]) => {
      const roles = held.groups.get(target.key)?.roles ?? [];
      if (account === target.account || roles.length === 0) return [];
      return [{ account, roles: roles.map(({ name }) => name) }];
    });
    return planResource(
      pass,
      target,
      inventories.get(target.account)?.groups.get(target.key),
      spaces,
      { checkEnvironment: true, foundIn },
    );
  });
  for (const scope of accounts.scopes) await settleOrphans(pass, scope, listing);
  return unplanned;
}

/** The report of an account the pass could not inventory. */
function unreachableDecision(account: string, error: string, unplanned: number): DecisionInput {
  return {
    action: "report",
    resource: `account:${account}`,
    reason: `AWS account ${account} could not be inventoried: skipped, never taken as holding no roles; ${unplanned} listed resources routed there were not planned (no creates either: they would fail and be retried), and nothing anywhere was revoked or deleted because of it`,
    outcome: "failed",
    error,
  };
}
