/**
 * Structured JSON logs and CloudWatch embedded-metric-format metrics (Powertools), one
 * instance per container. Secrets, signatures and raw bodies are never logged.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";

// The service name is a dimension of every metric: serverless.yml makes it stage-specific, so
// two stages in one account do not share (and both alarm on) the same metric.
const serviceName = process.env.POWERTOOLS_SERVICE_NAME || "spacelift-role-vending";
const namespace = process.env.POWERTOOLS_METRICS_NAMESPACE || "SpaceliftRoleVending";

export const logger = new Logger({ serviceName });
export const metrics = new Metrics({ serviceName, namespace });

export const Metric = {
  EventsReceived: "EventsReceived",
  EventsEnqueued: "EventsEnqueued",
  EventsIgnored: "EventsIgnored",
  EventsRefused: "EventsRefused",
  EnqueueFailures: "EnqueueFailures",
  RolesCreated: "RolesCreated",
  RolesUpdated: "RolesUpdated",
  RolesDeleted: "RolesDeleted",
  EventsStale: "EventsStale",
  EventsDropped: "EventsDropped",
  ProvisionFailures: "ProvisionFailures",
  DriftRepaired: "DriftRepaired",
  WebhookDisabled: "WebhookDisabled",
  SpaceRoleCapReached: "SpaceRoleCapReached",
} as const;

export function count(name: (typeof Metric)[keyof typeof Metric], value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}
