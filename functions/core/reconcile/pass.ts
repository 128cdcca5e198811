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
import { byResource, type ReconcileReport } from "./decisions.ts";
import { dryRunStores } from "./dry-run-stores.ts";
import { type Inventory, stackSpacesOf, takeInventory } from "./inventory.ts";
import { settleOrphans } from "./orphan-removal.ts";
import { checkRolesAgainstParameters } from "./parameters-only.ts";
import { addDecision, type Pass, type ReconcilerDeps, startPass } from "./pass-state.ts";
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
  const inventory = await takeInventory(deps);
  const listing = await readSpacelift(deps);
  const planning = "reason" in listing ? settings.dryRun : true;
  // Planning converges against stores that read (the inventory's snapshot) but never write:
  // their outcome says what the provisioner will change when it applies the plan.
  const stores = planning
    ? dryRunStores(
        new SnapshotRoleStore(deps.roles, inventory.snapshot, inventory.namesElsewhere),
        config.awsAccountId,
        inventory.parameterValues,
      )
    : {
        roles: new SnapshotRoleStore(deps.roles, inventory.snapshot, inventory.namesElsewhere),
        parameters: new SnapshotParameterStore(deps.parameters, inventory.parameterValues),
      };
  const pass = startPass(deps, stores, stackSpacesOf(inventory), { planning });
  for (const role of inventory.unrecognisedRoles) {
    addDecision(pass, {
      action: "report",
      resource: `role:${role.name}`,
      reason: "carries our tags but neither spacelift:stack nor spacelift:space; left untouched",
      outcome: "reported",
      roles: [role.name],
    });
  }

  let sent = { enqueued: 0, calls: 0 };
  if ("reason" in listing) {
    addDecision(pass, {
      action: "report",
      resource: `spacelift:${config.spaceliftAccount}`,
      reason: `Spacelift not consulted (${listing.reason}): roles checked against parameters only; nothing created from Spacelift, revoked or deleted`,
      outcome: listing.failed ? "failed" : "reported",
    });
    await checkRolesAgainstParameters(pass, inventory);
  } else {
    await reconcileWithSpacelift(pass, inventory, listing);
    sent = await sendPlan(pass, deps, settings.dryRun);
    await repairSpaceCounts(pass, listing, runStart);
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
      managedRoles: inventory.managedRoles,
      parameters: [...inventory.groups.values()].reduce((n, g) => n + g.parameters.length, 0),
      inSync: pass.inSync,
      enqueued: sent.enqueued,
      queueCalls: sent.calls,
    },
  };
}

async function reconcileWithSpacelift(
  pass: Pass,
  inventory: Inventory,
  listing: SpaceliftListing,
): Promise<void> {
  pass.listedAt = listing.listedAt;
  pass.environment = listing.environment;
  await useSpaceliftSpaces(pass, listing.spaces);
  const spaces = new Map(listing.spaces.map((space) => [space.id, space]));
  const targets = listedTargets(pass, listing);
  await mapWithConcurrency(targets, pass.deps.settings.concurrency, (target) =>
    planResource(pass, target, inventory.groups.get(target.key), spaces, {
      checkEnvironment: true,
    }),
  );
  await settleOrphans(pass, inventory, listing);
}
