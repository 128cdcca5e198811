/**
 * The reconciler's Lambda handler over its dependencies (scheduled): plans what makes the
 * vended roles and parameters match Spacelift's API and enqueues it for the provisioner. One
 * JSON log line per decision (planned, enqueued, refused...); the run fails (so
 * the Lambda Errors metric and EventBridge's retry see it) when any decision failed or a safety
 * rule refused to act. functions/reconciler.ts builds it from the environment.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { ReconcileIncompleteError } from "../core/errors.ts";
import type { Decision, ReconcileReport } from "../core/reconcile/decisions.ts";
import { reconcile } from "../core/reconcile/pass.ts";
import type { ReconcilerDeps } from "../core/reconcile/pass-state.ts";
import { ROLE_QUOTA_WARNING_RATIO } from "../core/role-quota.ts";
import {
  count,
  logger,
  Metric,
  metrics,
  observeRoleQuota,
  roleQuotaUnreadable,
} from "../observability.ts";

export type ReconcilerHandler = (_event: unknown, context: Context) => Promise<ReconcileSummary>;

export function createHandler(deps: ReconcilerDeps): ReconcilerHandler {
  return async (_event, context) => {
    logger.addContext(context);
    try {
      const report = await reconcile(deps).catch((error: unknown) => {
        // Only the listing of what we manage can fail a whole run; nothing was decided.
        metrics.addMetric("ReconcileFailures", MetricUnit.Count, 1);
        logger.error("reconcile failed before deciding anything", { error: error as Error });
        throw error;
      });
      for (const decision of report.decisions) logDecision(decision, report.dryRun);
      observeAccounts(report);
      if (!report.dryRun) countDecisions(report.decisions, report.counts.enqueued);
      const summary = summarise(report);
      logger.info("reconcile finished", { ...summary });
      const incomplete = summary.failed + summary.refused;
      if (incomplete > 0) {
        throw new ReconcileIncompleteError(
          `${summary.failed} decisions failed and ${summary.refused} were refused; see the log`,
        );
      }
      return summary;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

export interface ReconcileSummary {
  readonly account: string;
  readonly mode: ReconcileReport["mode"];
  readonly dryRun: boolean;
  readonly spaceliftStacks: number;
  readonly spaceliftSpaces: number;
  readonly managedRoles: number;
  readonly inSync: number;
  /** Messages the pass sent to the event queue for the provisioner, and the calls that sent them. */
  readonly enqueued: number;
  readonly queueCalls: number;
  readonly decisions: Readonly<Record<string, number>>;
  readonly failed: number;
  readonly refused: number;
}

function summarise(report: ReconcileReport): ReconcileSummary {
  const decisions: Record<string, number> = {};
  for (const { action, outcome } of report.decisions) {
    const key = `${action}:${outcome}`;
    decisions[key] = (decisions[key] ?? 0) + 1;
  }
  return {
    account: report.account,
    mode: report.mode,
    dryRun: report.dryRun,
    ...report.counts,
    decisions,
    failed: report.decisions.filter(({ outcome }) => outcome === "failed").length,
    refused: report.decisions.filter(({ outcome }) => outcome === "refused").length,
  };
}

function logDecision(decision: Decision, dryRun: boolean): void {
  const fields = { ...decision, actor: "reconciler", dryRun };
  switch (decision.outcome) {
    case "failed":
    case "refused":
      logger.error("reconcile decision", fields);
      return;
    case "deferred":
      logger.warn("reconcile decision", fields);
      return;
    default:
      logger.info("reconcile decision", fields);
  }
}

/**
 * What the pass did itself (the check without Spacelift applies its repairs) and what it
 * planned: the roles it enqueued are counted by the provisioner when it applies them.
 */
function countDecisions(decisions: readonly Decision[], enqueued: number): void {
  const applied = decisions.filter(({ outcome }) => outcome === "applied");
  const created = applied.filter(({ action }) => action === "create").length;
  const repaired = applied.filter(({ action }) => action === "update" || action === "restore");
  const revoked = applied.filter(({ action }) => action === "revoke").length;
  const deleted = applied
    .filter(({ action }) => action === "delete")
    .reduce((n, { roles }) => n + roles.length, 0);
  const failed = decisions.filter(({ outcome }) => outcome === "failed").length;
  const refused = decisions.filter(({ outcome }) => outcome === "refused").length;
  if (created > 0) count(Metric.RolesCreated, created);
  if (repaired.length > 0) count(Metric.DriftRepaired, repaired.length);
  if (deleted > 0) count(Metric.RolesDeleted, deleted);
  // Reconciler-only metrics, named here rather than in the shared list.
  if (revoked > 0) metrics.addMetric("RolesRevoked", MetricUnit.Count, revoked);
  if (failed > 0) metrics.addMetric("ReconcileFailures", MetricUnit.Count, failed);
  if (refused > 0) metrics.addMetric("ReconcileRefused", MetricUnit.Count, refused);
  if (enqueued > 0) metrics.addMetric("ReconcileEnqueued", MetricUnit.Count, enqueued);
}

/**
 * Per AWS account: its IAM role usage (the AccountRoles/AccountRolesQuota metrics with the
 * `account` dimension, a warning from 80%), and for an account the pass could not reach, the
 * ReconcileAccountUnreachable metric with the same dimension and an error line (its decision,
 * `report account:<id> failed`, is logged with the others).
 */
function observeAccounts(report: ReconcileReport): void {
  for (const usage of report.accounts.usage) {
    if ("error" in usage) {
      roleQuotaUnreadable(usage.account, new Error(usage.error));
      continue;
    }
    observeRoleQuota({
      ...usage,
      nearQuota: usage.roles >= usage.quota * ROLE_QUOTA_WARNING_RATIO,
    });
  }
  for (const account of report.accounts.unreachable) {
    logger.error("AWS account unreachable: skipped by this reconcile", { account });
    const single = metrics.singleMetric();
    single.addDimension("account", account);
    single.addMetric("ReconcileAccountUnreachable", MetricUnit.Count, 1);
  }
}
