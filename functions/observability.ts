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
  AccountRoleQuotaReached: "AccountRoleQuotaReached",
} as const;

export function count(name: (typeof Metric)[keyof typeof Metric], value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/**
 * An account's IAM role usage, read before creating roles there: `AccountRoles` and
 * `AccountRolesQuota` with an `account` dimension (their own EMF document, so the dimension
 * does not spread to the invocation's other metrics), and a warning from 80% of the quota.
 */
export function observeRoleQuota(observation: {
  readonly account: string;
  readonly roles: number;
  readonly quota: number;
  readonly nearQuota: boolean;
}): void {
  const single = metrics.singleMetric();
  single.addDimension("account", observation.account);
  single.addMetric("AccountRoles", MetricUnit.Count, observation.roles);
  single.addMetric("AccountRolesQuota", MetricUnit.Count, observation.quota);
  if (observation.nearQuota) {
    logger.warn("AWS account nears its IAM role quota", { ...observation });
  }
}

/** An account's role usage could not be read: the quota is not checked there for a minute. */
export function roleQuotaUnreadable(account: string, error: unknown): void {
  logger.warn(
    "cannot read the AWS account's IAM role usage (iam:GetAccountSummary); creates go ahead unchecked",
    {
      account,
      error: error instanceof Error ? error.message : String(error),
    },
  );
}
