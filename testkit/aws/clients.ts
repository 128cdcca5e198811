/** SDK clients pointed at a test's moto_server, and helpers to read what the product wrote. */
import {
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  NoSuchEntityException,
} from "@aws-sdk/client-iam";
import {
  GetParameterCommand,
  ListTagsForResourceCommand,
  ParameterNotFound,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import { assumedRoleClientConfig, localClientConfig } from "./local-aws.ts";

export function testClients(endpoint: string) {
  const config = localClientConfig(endpoint);
  return { iam: new IAMClient(config), ssm: new SSMClient(config) };
}

/** IAM and SSM clients acting in one account of the emulator; `close()` destroys them. */
export interface AccountClients {
  readonly iam: IAMClient;
  readonly ssm: SSMClient;
  close(): void;
}

/**
 * Clients acting in `account` of the emulator at `endpoint`, the way moto lets one: through an
 * assumed role (moto keeps per-account state; the credentials act in the role's account).
 */
export async function clientsInAccount(endpoint: string, account: string): Promise<AccountClients> {
  const local = localClientConfig(endpoint);
  const sts = new STSClient(local);
  try {
    const config = await assumedRoleClientConfig(
      sts,
      local,
      `arn:aws:iam::${account}:role/test-inspector`,
      "test-inspector",
    );
    const iam = new IAMClient(config);
    const ssm = new SSMClient(config);
    return {
      iam,
      ssm,
      close() {
        iam.destroy();
        ssm.destroy();
      },
    };
  } finally {
    sts.destroy();
  }
}

export async function readRole(iam: IAMClient, name: string) {
  try {
    const role = (await iam.send(new GetRoleCommand({ RoleName: name }))).Role;
    const attached = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }));
    return {
      arn: role?.Arn,
      path: role?.Path,
      maxSessionDuration: role?.MaxSessionDuration,
      boundary: role?.PermissionsBoundary?.PermissionsBoundaryArn,
      trust: JSON.parse(decodeURIComponent(role?.AssumeRolePolicyDocument ?? "{}")),
      tags: Object.fromEntries((role?.Tags ?? []).map((tag) => [tag.Key, tag.Value])),
      policies: (attached.AttachedPolicies ?? []).map((policy) => policy.PolicyArn).sort(),
    };
  } catch (error) {
    if (error instanceof NoSuchEntityException) return undefined;
    throw error;
  }
}

export async function readParameter(ssm: SSMClient, name: string) {
  try {
    const value = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    const tags = await ssm.send(
      new ListTagsForResourceCommand({ ResourceType: "Parameter", ResourceId: name }),
    );
    return {
      value,
      tags: Object.fromEntries((tags.TagList ?? []).map((tag) => [tag.Key, tag.Value])),
    };
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}

export function subPattern(
  trust: { Statement: { Condition: { StringLike: Record<string, string> } }[] },
  host: string,
) {
  return trust.Statement[0]?.Condition.StringLike[`${host}:sub`];
}

/** Polls until `read` returns something that satisfies `done`, or fails after `timeoutMs`. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
