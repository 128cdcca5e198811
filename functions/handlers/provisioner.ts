/**
 * The provisioner's Lambda handler over its dependencies: applies queued Spacelift events to
 * IAM and SSM (SQS FIFO source). functions/provisioner.ts builds it from the environment.
 */
import { processPartialResponse, SqsFifoPartialProcessorAsync } from "@aws-lambda-powertools/batch";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { AccountRoleQuotaError, SpaceRoleCapError } from "../core/errors.ts";
import { processQueueMessage } from "../core/process-queue-message.ts";
import type { ProvisionerDeps } from "../core/provision.ts";
import { isReconcileEnvelope } from "../core/queue-message.ts";
import type { OpenStackEnvironment } from "../core/stack-environment.ts";
import { count, logger, Metric, metrics } from "../observability.ts";
import { syncStackEnvironment } from "./stack-environment-step.ts";

/** The actor of what the reconciler enqueues (synthesized-event.ts writes it into its events). */
const RECONCILER_ACTOR = "spacelift-role-vending::reconciler";

export interface ProvisionerHandlerDeps {
  readonly provisioner: ProvisionerDeps;
  /** STACK_ENVIRONMENT=true: each stack's variables in Spacelift follow its role. */
  readonly openStackEnvironment?: OpenStackEnvironment | undefined;
}

export type ProvisionerHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export function createHandler({
  provisioner: deps,
  openStackEnvironment,
}: ProvisionerHandlerDeps): ProvisionerHandler {
  const processor = new SqsFifoPartialProcessorAsync();

  async function handleRecord(record: SQSRecord): Promise<void> {
    const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? "1");
    try {
      // The receiver's envelope (or a raw body enqueued before it), a synthesized event, or a
      // reconcile order (core/queue-message.ts).
      const outcome = await processQueueMessage(record.body, deps);
      switch (outcome.result) {
        case "ordered": {
          const { order, outcome: done } = outcome;
          if (done.result === "deleted" && done.roles.length > 0) {
            count(Metric.RolesDeleted, done.roles.length);
          }
          // Named here, like the reconciler's own metrics, rather than in the shared list.
          if (done.result === "revoked" && done.roles.length > 0) {
            metrics.addMetric("RolesRevoked", MetricUnit.Count, done.roles.length);
          }
          logger.info("reconcile order applied", {
            action: order.action,
            resource: order.resource,
            actor: RECONCILER_ACTOR,
            outcome: done.result,
            roles: done.roles,
            changes: done.changes,
            listedAt: new Date(order.listedAt).toISOString(),
          });
          return;
        }
        case "applied": {
          const { event, outcome: applied } = outcome;
          if (applied.result === "created") count(Metric.RolesCreated);
          if (applied.result === "updated") count(Metric.RolesUpdated);
          if (applied.result === "deleted") count(Metric.RolesDeleted);
          if (applied.result === "stale") count(Metric.EventsStale);
          // Synthesized events (the reconciler's, the catch-up's) carry their writer as actor.
          logger.info("event applied", {
            account: event.account,
            action: event.action,
            resource: applied.resource,
            actor: event.actor,
            outcome: applied.result,
            role: applied.roleName,
            parameter: applied.parameter,
            changes: applied.changes,
            ...(applied.skipped && { skipped: applied.skipped }),
          });
          if (applied.skipped) {
            logger.warn("roles at the resource's names belong to another resource; left alone", {
              resource: applied.resource,
              skipped: applied.skipped,
            });
          }
          // After AWS is done; a failure fails the record, and the retry finds AWS already right.
          if (openStackEnvironment)
            await syncStackEnvironment(event, applied, openStackEnvironment);
          return;
        }
        case "ignored":
          logger.info("event ignored", {
            outcome: "ignored",
            reason: outcome.reason,
            messageId: record.messageId,
          });
          return;
        case "dropped":
          count(Metric.EventsDropped);
          // A space at MAX_ROLES_PER_SPACE: its own metric, so it can be alarmed on apart.
          if (outcome.error instanceof SpaceRoleCapError) count(Metric.SpaceRoleCapReached);
          // An account at its IAM role quota: likewise.
          if (outcome.error instanceof AccountRoleQuotaError) {
            count(Metric.AccountRoleQuotaReached);
          }
          logger.error("event refused and dropped", {
            account: outcome.event?.account,
            action: outcome.event?.action,
            actor: outcome.event?.actor ?? (outcome.event ? undefined : orderActor(record.body)),
            outcome: "refused",
            reason: outcome.reason,
            messageId: record.messageId,
          });
          return;
      }
    } catch (error) {
      count(Metric.ProvisionFailures);
      logger.warn("event failed; the queue will retry it", {
        outcome: "failed",
        messageId: record.messageId,
        group: record.attributes.MessageGroupId,
        receiveCount,
        error: error as Error,
      });
      throw error;
    }
  }

  return async (event, context) => {
    try {
      // FIFO: a failure holds back the rest of its own message group (order per resource), while
      // other groups in the batch go on.
      return await processPartialResponse(event, handleRecord, processor, {
        context,
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

/** The reconciler, for a message in the reconcile order's envelope (which only it writes). */
function orderActor(body: string): string | undefined {
  return isReconcileEnvelope(body) ? RECONCILER_ACTOR : undefined;
}
