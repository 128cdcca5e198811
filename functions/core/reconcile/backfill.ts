/** The backfill use case (adoption, `npm run reconcile -- --backfill`). */

import { convergeSpace, convergeStack } from "../converge.ts";
import { SpaceliftUnavailableError } from "../errors.ts";
import { type Decision, decisionFromOutcome, failedDecision } from "./decisions.ts";
import { dryRunStores } from "./dry-run-stores.ts";
import { beforeCreatingRoles, rememberStackFacts } from "./ledger-listing.ts";
import {
  addDecision,
  convergeDepsOf,
  type PassStores,
  type ReconcilerDeps,
  startPass,
} from "./pass-state.ts";
import { runPool } from "./pool.ts";
import { useSpaceliftSpaces } from "./space-paths.ts";
import { readSpacelift } from "./spacelift-listing.ts";
import { listedTargets } from "./targets.ts";

export interface BackfillProgress {
  readonly total: number;
  /** Converged this run (whatever the result), plus skipped. */
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
  /** Called after each resource converged, before the next is reported as progress. */
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
}

/**
 * Adoption: converges every stack and space Spacelift lists (creating most of them), with
 * bounded concurrency and a resumable record of what is done. Never revokes or deletes.
 */
export async function backfill(
  deps: ReconcilerDeps,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const { config, settings } = deps;
  const listing = await readSpacelift(deps);
  if ("reason" in listing)
    throw new SpaceliftUnavailableError(`backfill needs Spacelift: ${listing.reason}`);
  let stores: PassStores = deps;
  if (settings.dryRun) {
    const base = `${config.parameterPrefix}/${config.spaceliftAccount}`;
    const known = new Map(
      (await deps.parameters.listByPath(base)).map(({ name, value }) => [name, value]),
    );
    stores = dryRunStores(deps.roles, config.awsAccountId, known);
  }
  const pass = startPass(deps, stores, new Map());
  pass.listedAt = listing.listedAt;
  await useSpaceliftSpaces(pass, listing.spaces);

  const targets = listedTargets(pass, listing);
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

  const convergeDeps = convergeDepsOf(pass);
  const handled = await runPool(
    pending,
    settings.concurrency,
    async (target) => {
      const base = { resource: target.key, reason: `Spacelift lists this ${target.kind}` };
      try {
        // Most resources have no role yet when adopting: try CreateRole first, read only if
        // it already exists.
        if (target.kind === "stack") {
          await beforeCreatingRoles(pass, target.stack.stackId, undefined);
        }
        const outcome =
          target.kind === "stack"
            ? await convergeStack(target.stack, convergeDeps, { fresh: true })
            : await convergeSpace({ spaceId: target.spaceId }, convergeDeps, { fresh: true });
        await rememberStackFacts(pass, target);
        const decision = decisionFromOutcome(outcome, base, false, settings.dryRun);
        if (decision === undefined) progress.unchanged += 1;
        else {
          addDecision(pass, decision);
          if (decision.action === "create") progress.created += 1;
          else progress.updated += 1;
        }
        if (!settings.dryRun) await options.onCompleted?.(target.key);
      } catch (error) {
        progress.failed += 1;
        addDecision(pass, failedDecision("create", base, error, settings.dryRun));
      }
      progress.done += 1;
      options.onProgress?.({ ...progress });
    },
    options.signal,
  );
  return {
    account: config.spaceliftAccount,
    dryRun: settings.dryRun,
    progress: { ...progress },
    decisions: pass.decisions,
    interrupted: handled < pending.length,
  };
}
