/**
 * The audit-trail catch-up's Lambda handler (scheduled): enqueues the stack and space changes
 * Spacelift's audit trail recorded since the last run, for the provisioner to apply. One JSON
 * log line per change enqueued or entry skipped, and a summary; the run fails (Lambda's Errors
 * metric, the alarm) when Spacelift, the queue or the checkpoint failed. functions/catch-up.ts
 * builds it from the environment.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { type CatchUpDeps, type CatchUpReport, catchUp } from "../core/catch-up.ts";
import { CatchUpIncompleteError } from "../core/errors.ts";
import { logger, metrics } from "../observability.ts";

/** Opens one run: the catch-up's dependencies, or why it cannot run (no API key). */
export type CatchUpRun = () => Promise<
  | { readonly available: true; readonly deps: CatchUpDeps }
  | { readonly available: false; readonly reason: string }
>;

export interface CatchUpSummary {
  readonly ran: boolean;
  readonly reason?: string;
  readonly since?: string;
  readonly entriesRead?: number;
  readonly enqueued?: number;
  readonly skipped?: number;
  readonly deferred?: number;
  readonly checkpoint?: string | undefined;
}

export type CatchUpHandler = (_event: unknown, context: Context) => Promise<CatchUpSummary>;

export function createHandler(open: CatchUpRun): CatchUpHandler {
  return async (_event, context) => {
    logger.addContext(context);
    try {
      const run = await open();
      if (!run.available) {
        // Nothing to read the audit trail with: said every run, so it is not missed.
        logger.error("catch-up cannot run", { reason: run.reason, actor: "catch-up" });
        return { ran: false, reason: run.reason };
      }
      let report: CatchUpReport;
      try {
        report = await catchUp(run.deps);
      } catch (error) {
        metrics.addMetric("CatchUpFailures", MetricUnit.Count, 1);
        if (error instanceof CatchUpIncompleteError) logReport(error.report);
        logger.error("catch-up failed", { error: error as Error, actor: "catch-up" });
        throw error;
      }
      logReport(report);
      const summary = summarise(report);
      logger.info("catch-up finished", { ...summary, actor: "catch-up" });
      return summary;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

function logReport(report: CatchUpReport): void {
  if (report.lookbackCappedFrom !== undefined) {
    logger.warn(
      "catch-up checkpoint older than the longest lookback; older changes are left to the reconciler",
      {
        actor: "catch-up",
        checkpoint: new Date(report.lookbackCappedFrom).toISOString(),
        since: new Date(report.since).toISOString(),
      },
    );
  }
  if (report.futureCheckpointFrom !== undefined) {
    logger.warn("catch-up checkpoint was in the future; read as none and replaced", {
      actor: "catch-up",
      checkpoint: String(report.futureCheckpointFrom),
      since: new Date(report.since).toISOString(),
    });
  }
  for (const enqueued of report.enqueued) {
    logger.info("catch-up enqueued", {
      ...enqueued,
      eventTimestamp: new Date(enqueued.timestamp).toISOString(),
      actor: "catch-up",
    });
  }
  for (const skipped of report.skipped) {
    logger.warn("catch-up skipped an audit entry", { ...skipped, actor: "catch-up" });
  }
  if (report.enqueued.length > 0) {
    metrics.addMetric("CatchUpEnqueued", MetricUnit.Count, report.enqueued.length);
  }
}

function summarise(report: CatchUpReport): CatchUpSummary {
  return {
    ran: true,
    since: new Date(report.since).toISOString(),
    entriesRead: report.entriesRead,
    enqueued: report.enqueued.length,
    skipped: report.skipped.length,
    deferred: report.deferred,
    checkpoint:
      report.checkpoint === undefined ? undefined : new Date(report.checkpoint).toISOString(),
  };
}
