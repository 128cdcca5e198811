/** The backfill use case (adoption, `npm run reconcile -- --backfill`). */

import { SpaceliftUnavailableError } from "../errors.ts";
import type { Decision } from "./decisions.ts";
import { dryRunStores } from "./dry-run-stores.ts";
import { takeInventory } from "./inventory.ts";
import { addDecision, type ReconcilerDeps, startPass } from "./pass-state.ts";
import { planResource, sendPlan } from "./plan.ts";
import { runPool } from "./pool.ts";
import { SnapshotRoleStore } from "./snapshot-stores.ts";
import { useSpaceliftSpaces } from "./space-paths.ts";
import { readSpacelift } from "./spacelift-listing.ts";
import { listedTargets } from "./targets.ts";

export interface BackfillProgress {
  readonly total: number;
  /** Planned this run (whatever the result), plus skipped. */
  readonly done: number;
  /** Already completed according to the checkpoint. */
  readonly skipped: number;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly failed: number;
}

export interface BackfillOptions {
  /** Resources (`stack:<id>`, `space:<id>`) a previous, interrupted run completed. */
  readonly completed?: ReadonlySet<string>;
  /** Called for each resource once its message is on the queue (or it needed nothing). */
  readonly onCompleted?: (resource: string) => void | Promise<void>;
  readonly onProgress?: (progress: BackfillProgress) => void;
  /** Stops handing out new resources; those in flight finish. */
  readonly signal?: AbortSignal;
}

export interface BackfillReport {
  readonly account: string;
  readonly dryRun: boolean;
  readonly progress: BackfillProgress;
  readonly decisions: readonly Decision[];
  /** True when the signal stopped the run before every resource was handled. */
  readonly interrupted: boolean;
  /** SendMessageBatch calls that enqueued the plan. */
  readonly queueCalls: number;
}

/**
 * Adoption: plans every stack and space Spacelift lists (creating most of them) as reconcile
 * does, from the inventory, with a resumable record of what is done, and enqueues each that
 * needs a write for the provisioner. Never revokes or deletes. A resource counts as completed
 * once its message is on the queue (or it needed nothing).
 */
export async function backfill(
  deps: ReconcilerDeps,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const { config, settings } = deps;
  const inventory = await takeInventory(deps);
  const listing = await readSpacelift(deps);
  if ("reason" in listing)
    throw new SpaceliftUnavailableError(`backfill needs Spacelift: ${listing.reason}`);
  const stores = dryRunStores(
    new SnapshotRoleStore(deps.roles, inventory.snapshot, inventory.namesElsewhere),
    config.awsAccountId,
    inventory.parameterValues,
  );
  const pass = startPass(deps, stores, new Map(), { planning: true });
  pass.listedAt = listing.listedAt;
  await useSpaceliftSpaces(pass, listing.spaces);
  const spaces = new Map(listing.spaces.map((space) => [space.id, space]));

  const targets = listedTargets(pass, listing).filter((target) => {
    if (target.account === config.awsAccountId) return true;
    addDecision(pass, {
      action: "report",
      resource: target.key,
      reason: `space is routed to AWS account ${target.account}: the backfill plans the service's own account only (the scheduled reconcile plans the target accounts); left alone`,
      outcome: "reported",
    });
    return false;
  });
  const completed = options.completed ?? new Set<string>();
  const pending = targets.filter(({ key }) => !completed.has(key));
  const progress = {
    total: targets.length,
    done: targets.length - pending.length,
    skipped: targets.length - pending.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    failed: 0,
  };
  options.onProgress?.({ ...progress });

  const planned: string[] = [];
  const handled = await runPool(
    pending,
    settings.concurrency,
    async (target) => {
      const decision = await planResource(pass, target, inventory.groups.get(target.key), spaces, {
        checkEnvironment: false,
      });
      if (decision === undefined) progress.unchanged += 1;
      else if (decision.outcome === "failed" || decision.outcome === "refused")
        progress.failed += 1;
      else if (decision.action === "create") progress.created += 1;
      else progress.updated += 1;
      if (decision === undefined || decision.outcome === "enqueued") planned.push(target.key);
      progress.done += 1;
      options.onProgress?.({ ...progress });
    },
    options.signal,
  );
  const sent = await sendPlan(pass, deps, settings.dryRun);
  // Completed once on the queue: a plan that could not be sent leaves the checkpoint as it was.
  const failedToSend = sent.enqueued === 0 && pass.messages.length > 0;
  if (!settings.dryRun && !failedToSend) {
    for (const key of planned) await options.onCompleted?.(key);
  }
  return {
    account: config.spaceliftAccount,
    dryRun: settings.dryRun,
    progress: { ...progress },
    decisions: pass.decisions,
    interrupted: handled < pending.length,
    queueCalls: sent.calls,
  };
}
