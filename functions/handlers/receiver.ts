/**
 * The receiver's Lambda handler over its dependencies: Spacelift's audit-trail webhook, behind
 * an HTTP API. functions/receiver.ts builds it from the environment; tests pass fakes.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type ReceiveOutcome, type ReceiverDeps, receiveWebhook } from "../core/receive.ts";
import { count, logger, Metric, metrics } from "../observability.ts";

export type ReceiverHandler = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyStructuredResultV2>;

export function createHandler(deps: ReceiverDeps): ReceiverHandler {
  return async (event) => {
    const body = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
    const { response, outcome } = await receiveWebhook(
      {
        method: event.requestContext?.http?.method ?? "POST",
        path: event.rawPath ?? event.requestContext?.http?.path ?? "/",
        headers: event.headers ?? {},
        body,
      },
      deps,
    );
    logOutcome(outcome, response.statusCode);
    metrics.publishStoredMetrics();
    return response;
  };
}

/** One log line and the metrics of a webhook delivery's outcome. */
function logOutcome(outcome: ReceiveOutcome, status: number): void {
  count(Metric.EventsReceived);
  switch (outcome.result) {
    case "enqueued": {
      count(Metric.EventsEnqueued);
      const { event } = outcome;
      logger.info("event enqueued", {
        account: event.account,
        action: event.action,
        resource: outcome.group,
        actor: event.actor,
        outcome: "enqueued",
        status,
      });
      return;
    }
    case "ignored": {
      count(Metric.EventsIgnored);
      const { event } = outcome;
      if (event.alarm) {
        count(Metric.WebhookDisabled);
        logger.error("ALARM: Spacelift audit-trail webhook disabled or deleted", {
          account: event.account,
          action: event.action,
          outcome: "ignored",
          reason: event.reason,
        });
        return;
      }
      logger.info("event ignored", {
        account: event.account,
        action: event.action,
        outcome: "ignored",
        reason: event.reason,
        status,
      });
      return;
    }
    case "unidentified": {
      count(Metric.EventsIgnored);
      const { event } = outcome;
      // The body's shape (key paths and JSON types, no values) is what we need to learn the
      // drifted payload; the audit-trail catch-up converges the change itself.
      logger.warn("event accepted without an identifier; the catch-up will converge it", {
        account: event.account,
        action: event.action,
        outcome: "unidentified",
        reason: event.reason,
        shape: event.unidentified.shape,
        status,
      });
      return;
    }
    case "refused":
      count(Metric.EventsRefused);
      logger.warn("event refused", { outcome: "refused", status, reason: outcome.error.message });
      return;
    case "failed":
      count(Metric.EnqueueFailures);
      logger.error("event not enqueued", {
        outcome: "failed",
        status,
        error: outcome.error as Error,
      });
      return;
  }
}
