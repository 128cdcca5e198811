/**
 * The provisioner's last step for a stack event (STACK_ENVIRONMENT=true): the stack's
 * variables in Spacelift follow its role. It runs after the role and its parameter are done,
 * and a failure never undoes them: the record fails, the queue redelivers it, AWS converges
 * with no write call (it is already right) and the variables are tried again; after the
 * queue's receive limit the message is dead-lettered, which raises the DLQ alarm.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { ResourceEvent } from "../core/audit-event.ts";
import type { ProvisionOutcome } from "../core/converge-contract.ts";
import { StackEnvironmentError } from "../core/errors.ts";
import { applyStackEnvironment, type OpenStackEnvironment } from "../core/stack-environment.ts";
import { logger, metrics } from "../observability.ts";

export async function syncStackEnvironment(
  event: ResourceEvent,
  outcome: ProvisionOutcome,
  open: OpenStackEnvironment,
): Promise<void> {
  let report: Awaited<ReturnType<typeof applyStackEnvironment>>;
  try {
    report = await applyStackEnvironment(event, outcome, open);
  } catch (error) {
    metrics.addMetric("StackEnvironmentFailures", MetricUnit.Count, 1);
    logger.warn(
      "stack environment not set; the role and its parameter stand; the queue will retry",
      {
        resource: outcome.resource,
        error: error as Error,
      },
    );
    throw new StackEnvironmentError(
      `stack environment of ${outcome.resource} not set: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (report === undefined) return;
  if ("unavailable" in report) {
    logger.warn("stack environment skipped; SSM is the only contract", {
      resource: outcome.resource,
      reason: report.unavailable,
    });
    return;
  }
  for (const name of report.refused) {
    logger.warn("stack environment variable refused: someone else set it; left alone", {
      resource: outcome.resource,
      variable: name,
      outcome: "refused",
    });
  }
  if (report.changes.length > 0 || report.stackAbsent) {
    logger.info("stack environment converged", {
      resource: outcome.resource,
      changes: report.changes,
      ...(report.stackAbsent && { stackAbsent: true }),
    });
  }
}
