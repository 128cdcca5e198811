/**
 * The environment the handlers need to run against a local emulator, the same variables
 * scripts/local.ts sets. The handlers read it when first imported, as in Lambda.
 */
import type { LocalAwsResources } from "../../scripts/lib/local-aws.ts";

export const HOSTNAME = "acme.app.spacelift.io";
export const ACCOUNT = "acme";
export const WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef";

/** AWS managed policies (moto loads them with MOTO_IAM_LOAD_MANAGED_POLICIES=true). */
export const MANAGED_POLICIES = [
  "arn:aws:iam::aws:policy/ReadOnlyAccess",
  "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
  "arn:aws:iam::aws:policy/AmazonDynamoDBReadOnlyAccess",
  "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess",
] as const;

export function handlerEnv(
  endpoint: string,
  resources: LocalAwsResources,
  options: { policies?: number; boundary?: boolean } = {},
): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    POWERTOOLS_METRICS_DISABLED: "true",
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? "SILENT",
    AWS_ACCOUNT_ID: "123456789012",
    SPACELIFT_HOSTNAME: HOSTNAME,
    SPACELIFT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    OIDC_PROVIDER_ARN: resources.oidcProviderArn,
    QUEUE_URL: resources.queueUrl,
    LEDGER_TABLE: resources.ledgerTable,
    DEFAULT_POLICY_ARNS: MANAGED_POLICIES.slice(0, options.policies ?? 0).join(","),
    ...(options.boundary
      ? {
          PERMISSIONS_BOUNDARY_ARN:
            "arn:aws:iam::123456789012:policy/spacelift-role-vending/spacelift-role-vending-boundary",
        }
      : {}),
  };
}
