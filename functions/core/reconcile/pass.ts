/**
 * The reconcile use case: makes the vended roles and parameters converge to what Spacelift's
 * own API says exists, whatever webhooks were missed. Shared by the scheduled Lambda and the
 * `npm run reconcile` CLI.
 *
 * One run: read what we manage in AWS (roles under the role path carrying our tags, parameters
 * under `<prefix>/<account>/`), then ask Spacelift which stacks and spaces exist, then
 * - converge every stack and space Spacelift lists (create what is missing, repair drift,
 *   restore the trust of an orphan whose stack came back) through the provisioner's
 *   `convergeStack`/`convergeSpace`;
 * - revoke the trust of roles whose stack or space is gone and tag them `spacelift:orphaned-at`;
 * - delete them once the grace period has passed, at most a few per run.
 * Without Spacelift (no API key, or its API failing) it only checks roles against parameters.
 *
 * A dry run goes through exactly the same code with stores that read but never write, so the
 * plan it prints is the one a real run would carry out.
 */
import { convergeSpace, convergeStack } from "../converge.ts";
import { removeSpace, removeStack } from "../remove.ts";
import {
  byResource,
  type DecisionSubject,
  decisionFromOutcome,
  failedDecision,
  type ReconcileReport,
} from "./decisions.ts";
import { dryRunStores } from "./dry-run-stores.ts";
import {
  describeFindings,
  type Inventory,
  type ManagedGroup,
  stackSpacesOf,
  takeInventory,
} from "./inventory.ts";
import { beforeCreatingRoles, deletedSinceListing, rememberStackFacts } from "./ledger-listing.ts";
import { settleOrphans } from "./orphan-removal.ts";
import { orphanedAtOf } from "./orphans.ts";
import { checkRolesAgainstParameters } from "./parameters-only.ts";
import {
  addDecision,
  convergeDepsOf,
  type Pass,
  type ReconcilerDeps,
  startPass,
} from "./pass-state.ts";
import { mapWithConcurrency } from "./pool.ts";
import { SnapshotParameterStore, SnapshotRoleStore } from "./snapshot-stores.ts";
import { repairSpaceCounts } from "./space-counts.ts";
import { useSpaceliftSpaces } from "./space-paths.ts";
import { readSpacelift, type SpaceliftListing } from "./spacelift-listing.ts";
import { checkStackEnvironment } from "./stack-environment.ts";
import { type ConvergeTarget, listedTargets } from "./targets.ts";

/** One reconciliation run; see the module documentation. Never throws for one resource's failure. */
export async function reconcile(deps: ReconcilerDeps): Promise<ReconcileReport> {
  const { config, settings } = deps;
  // Before anything is read: a stack counted in a space after this is never uncounted here.
  const runStart = deps.now().getTime();
  // AWS is read before Spacelift: a role created for a new stack after our listing is simply
  // not seen, whereas reading Spacelift first would make such a role look like an orphan.
  const inventory = await takeInventory(deps);
  const roles = new SnapshotRoleStore(deps.roles, inventory.snapshot);
  const stores = settings.dryRun
    ? dryRunStores(roles, config.awsAccountId, inventory.parameterValues)
    : {
        roles,
        parameters: new SnapshotParameterStore(deps.parameters, inventory.parameterValues),
      };
  const pass = startPass(deps, stores, stackSpacesOf(inventory));
  for (const role of inventory.unrecognisedRoles) {
    addDecision(pass, {
      action: "report",
      resource: `role:${role.name}`,
      reason: "carries our tags but neither spacelift:stack nor spacelift:space; left untouched",
      outcome: "reported",
      roles: [role.name],
    });
  }

  const listing = await readSpacelift(deps);
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
  const targets = listedTargets(pass, listing);
  await mapWithConcurrency(targets, pass.deps.settings.concurrency, (target) =>
    convergeTarget(pass, target, inventory.groups.get(target.key)),
  );
  await settleOrphans(pass, inventory, listing);
}

/** Converges one resource Spacelift lists; records a decision when something was (or would be) done. */
async function convergeTarget(
  pass: Pass,
  target: ConvergeTarget,
  group: ManagedGroup | undefined,
): Promise<void> {
  const convergeDeps = convergeDepsOf(pass);
  const { dryRun } = pass.deps.settings;
  const fresh = group === undefined || group.roles.length === 0;
  const orphanedAt = group === undefined ? undefined : orphanedAtOf(group);
  const base: DecisionSubject = {
    resource: target.key,
    reason: describeFindings(target.kind, group, orphanedAt),
  };
  try {
    // A resource with no role here that Spacelift deleted after listing it (the provisioner
    // applied its delete already) must not get its role back from the listing.
    if (fresh && (await deletedSinceListing(pass, target.key))) {
      addDecision(pass, {
        ...base,
        action: "report",
        reason: `${base.reason}; but it was deleted after Spacelift listed it (the provisioner applied the delete): not created`,
        outcome: "reported",
      });
      return;
    }
    if (target.kind === "stack") {
      await beforeCreatingRoles(pass, target.stack.stackId, group?.roles ?? []);
    }
    const outcome =
      target.kind === "stack"
        ? await convergeStack(target.stack, convergeDeps, { fresh })
        : await convergeSpace({ spaceId: target.spaceId }, convergeDeps, { fresh });
    // The delete may have been applied while the role was being created (it found nothing to
    // remove then): look again once the role exists, and remove what this run created.
    if (outcome.result === "created" && (await deletedSinceListing(pass, target.key))) {
      const removed =
        target.kind === "stack"
          ? await removeStack(target.stack.stackId, convergeDeps)
          : await removeSpace(target.spaceId, convergeDeps);
      addDecision(pass, {
        ...base,
        action: "delete",
        reason: `${base.reason}; but it was deleted after Spacelift listed it (the provisioner applied the delete while this run created its role): removed again`,
        outcome: "applied",
        roles: [outcome.roleName],
        changes: [...outcome.changes, ...removed.changes],
      });
      return;
    }
    await rememberStackFacts(pass, target);
    if (target.kind === "stack" && target.stack.spaceId !== undefined) {
      pass.stackSpaces.set(target.stack.stackId, target.stack.spaceId);
    }
    const decision = decisionFromOutcome(outcome, base, orphanedAt !== undefined, dryRun);
    if (decision === undefined) pass.inSync += 1;
    else addDecision(pass, decision);
    await checkStackEnvironment(pass, target, outcome);
  } catch (error) {
    addDecision(pass, failedDecision(fresh ? "create" : "update", base, error, dryRun));
  }
}
