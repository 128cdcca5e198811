/**
 * The environment the handlers need to run against a local emulator, the same variables
 * scripts/local.ts sets. The handlers read it when first imported, as in Lambda.
 */
import { createLocalAwsResources, type LocalAwsResources } from "../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";

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
      : { UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true" }),
  };
}

/**
 * Runs `body` against a fresh moto_server holding the pipeline's resources, with the handlers'
 * environment set (before any handler is imported), and stops moto afterwards.
 */
export async function withBenchAws<T>(
  options: { policies?: number; boundary?: boolean },
  body: (moto: MotoServer, resources: LocalAwsResources) => Promise<T>,
): Promise<T> {
  const moto = await startMotoServer();
  try {
    const resources = await createLocalAwsResources({
      endpoint: moto.endpoint,
      spaceliftHostname: HOSTNAME,
    });
    Object.assign(process.env, handlerEnv(moto.endpoint, resources, options));
    return await body(moto, resources);
  } finally {
    await moto.stop();
  }
}
