/**
 * The reconciler against a real moto_server and the local fake Spacelift, wired through the
 * same `composeReconciler` the Lambda and the CLI use. The product's SDK clients (module
 * singletons pointed at moto through AWS_ENDPOINT_URL) record every command they send, so a
 * test can assert that a dry run sent no write; the test's own clients are separate.
 * The reconciler plans onto moto's FIFO event queue; `reconcile` then applies what it queued
 * through the provisioner's own message processing (composeProvisioner, the ledger table in
 * moto), as the deployed provisioner would (testkit/fakes/plan-queue.ts).
 */

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  NoSuchEntityException,
  paginateListRoles,
} from "@aws-sdk/client-iam";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  paginateGetParametersByPath,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { createValidatedPolicy, validateTrustPolicy } from "@cloud-copilot/iam-policy";
import { runUnsafeSimulation } from "@cloud-copilot/iam-simulate";
import { dynamodbClient, iamClient, ssmClient } from "../functions/adapters/aws-clients.ts";
import { composeProvisioner, composeReconciler } from "../functions/compose.ts";
import type { ProvisionerDeps } from "../functions/core/provision.ts";
import type { BackfillOptions, BackfillReport } from "../functions/core/reconcile/backfill.ts";
import { backfill } from "../functions/core/reconcile/backfill.ts";
import type { ReconcileReport } from "../functions/core/reconcile/decisions.ts";
import { reconcile } from "../functions/core/reconcile/pass.ts";
import type { ReconcilerDeps } from "../functions/core/reconcile/pass-state.ts";
import type { ReconcileSettings } from "../functions/core/reconcile/settings.ts";
import { createLedgerTable, localClientConfig } from "./aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "./aws/moto.ts";
import { planThenApply, type QueueMessageOutcomes, SqsQueueDrain } from "./fakes/plan-queue.ts";
import {
  type FakeSpaceliftServer,
  ROOT_SPACE,
  startFakeSpacelift,
} from "./spacelift/fake-spacelift.ts";
import { SPACELIFT_HOST } from "./spacelift/fixtures.ts";

/** The provisioner's ledger table in moto (the reconciler gets it only when a test sets LEDGER_TABLE). */
export const LEDGER_TABLE = "spacelift-role-vending-ledger";
const EVENT_QUEUE = "spacelift-role-vending-events.fifo";

export interface DepsOptions {
  env?: Record<string, string | undefined>;
  now?: Date;
  settings?: Partial<ReconcileSettings>;
}

export const ACCOUNT = "acme";
export const AWS_ACCOUNT_ID = "123456789012";
export const OIDC_PROVIDER_ARN = `arn:aws:iam::${AWS_ACCOUNT_ID}:oidc-provider/${SPACELIFT_HOST}`;
export const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
export const BOUNDARY = `arn:aws:iam::${AWS_ACCOUNT_ID}:policy/spacelift-boundary`;
/** Under the product's own parameter namespace on purpose: the reconciler must leave it alone. */
export const API_KEY_PARAMETER = `/spacelift/${ACCOUNT}/api-key`;
export const PRODUCTION = "production-01HND497T9JKR76MR3KA2CDJHP";

export interface Harness {
  readonly moto: MotoServer;
  readonly spacelift: FakeSpaceliftServer;
  /** The test's own clients (not recorded). */
  readonly iam: IAMClient;
  readonly ssm: SSMClient;
  /** Names of the commands the product's clients sent since the last `commands.length = 0`. */
  readonly commands: string[];
  readonly env: Record<string, string>;
  /** Fresh moto state, Spacelift back to only its root space, API key parameter in place. */
  reset(): Promise<void>;
  /** Reconciler deps as composed for the Lambda, with the clock and settings overridable. */
  deps(options?: DepsOptions): Promise<ReconcilerDeps>;
  /** Provisioner deps as composed for the Lambda (ledger table in moto), same env and clock. */
  provisionerDeps(options?: DepsOptions): Promise<ProvisionerDeps>;
  /** A reconcile pass (it plans onto the event queue), then the provisioner applies the plan. */
  reconcile(options?: DepsOptions): Promise<ReconcileReport>;
  /** Same, with what the provisioner made of each queued message. */
  reconcileAndApplied(
    options?: DepsOptions,
  ): Promise<{ report: ReconcileReport; applied: QueueMessageOutcomes }>;
  /** A backfill (it plans onto the event queue), then the provisioner applies the plan. */
  backfill(options?: DepsOptions, backfillOptions?: BackfillOptions): Promise<BackfillReport>;
  /** The event queue as the provisioner reads it. */
  readonly queue: SqsQueueDrain;
  readonly sqs: SQSClient;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const moto = await startMotoServer();
  // The product's clients are created on first use and read the endpoint then.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  const spacelift = await startFakeSpacelift();
  const iam = new IAMClient(localClientConfig(moto.endpoint));
  const ssm = new SSMClient(localClientConfig(moto.endpoint));
  const sqs = new SQSClient(localClientConfig(moto.endpoint));
  const dynamodb = new DynamoDBClient(localClientConfig(moto.endpoint));
  const queueUrl = `${moto.endpoint}/${"123456789012"}/${EVENT_QUEUE}`;
  const queue = new SqsQueueDrain(sqs, queueUrl);
  const commands: string[] = [];
  for (const client of [iamClient(), ssmClient(), dynamodbClient()]) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "recordCommands" },
    );
  }
  const env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID,
    OIDC_PROVIDER_ARN,
    DEFAULT_POLICY_ARNS: READ_ONLY,
    PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
    SPACELIFT_API_KEY_PARAMETER: API_KEY_PARAMETER,
    SPACELIFT_API_ENDPOINT: spacelift.endpoint,
    EVENT_QUEUE_URL: queueUrl,
  };
  const deps = async (options: DepsOptions = {}): Promise<ReconcilerDeps> => {
    const composed = await composeReconciler({ ...env, ...options.env });
    return {
      ...composed,
      settings: { ...composed.settings, ...options.settings },
      ...(options.now !== undefined && { now: () => options.now as Date }),
    };
  };
  const provisionerDeps = async (options: DepsOptions = {}): Promise<ProvisionerDeps> => {
    const composed = await composeProvisioner({ LEDGER_TABLE, ...env, ...options.env });
    return {
      ...composed,
      ...(options.now !== undefined && { now: () => options.now as Date }),
    };
  };
  const reconcileAndApplied = async (options: DepsOptions = {}) => {
    const { report, applied } = await planThenApply(
      async () => reconcile(await deps(options)),
      queue,
      await provisionerDeps(options),
    );
    return { report, applied };
  };
  return {
    moto,
    spacelift,
    iam,
    ssm,
    commands,
    env,
    queue,
    sqs,
    async reset() {
      await moto.reset();
      await sqs.send(
        new CreateQueueCommand({
          QueueName: EVENT_QUEUE,
          Attributes: { FifoQueue: "true", DeduplicationScope: "messageGroup" },
        }),
      );
      await createLedgerTable(dynamodb, LEDGER_TABLE);
      spacelift.state.stacks = [];
      spacelift.state.spaces = [ROOT_SPACE];
      spacelift.state.config.clear();
      spacelift.faults.clear();
      spacelift.unauthorizedResponse = "graphql-error";
      spacelift.tokenLifetimeSeconds = 3600;
      spacelift.requests.length = 0;
      spacelift.afterAnswer = undefined;
      await ssm.send(
        new PutParameterCommand({
          Name: API_KEY_PARAMETER,
          Type: "SecureString",
          Value: JSON.stringify({ id: spacelift.apiKeyId, secret: spacelift.apiKeySecret }),
        }),
      );
      commands.length = 0;
    },
    deps,
    provisionerDeps,
    reconcileAndApplied,
    async reconcile(options = {}) {
      return (await reconcileAndApplied(options)).report;
    },
    async backfill(options = {}, backfillOptions = {}) {
      const { report } = await planThenApply(
        async () => backfill(await deps(options), backfillOptions),
        queue,
        await provisionerDeps(options),
      );
      return report;
    },
    async stop() {
      iam.destroy();
      ssm.destroy();
      sqs.destroy();
      dynamodb.destroy();
      await spacelift.close();
      await moto.stop();
    },
  };
}

export interface RoleState {
  readonly name: string;
  readonly arn: string;
  readonly trustPolicy: Record<string, unknown>;
  readonly tags: Record<string, string>;
  readonly boundary: string | undefined;
  readonly policies: string[];
}

/** A role as moto holds it, or undefined. */
export async function readRole(harness: Harness, name: string): Promise<RoleState | undefined> {
  try {
    const { Role } = await harness.iam.send(new GetRoleCommand({ RoleName: name }));
    const attached = await harness.iam.send(
      new ListAttachedRolePoliciesCommand({ RoleName: name }),
    );
    return {
      name,
      arn: Role?.Arn ?? "",
      trustPolicy: JSON.parse(decodeURIComponent(Role?.AssumeRolePolicyDocument ?? "{}")),
      tags: Object.fromEntries((Role?.Tags ?? []).map(({ Key, Value }) => [Key, Value])),
      boundary: Role?.PermissionsBoundary?.PermissionsBoundaryArn,
      policies: (attached.AttachedPolicies ?? []).map(({ PolicyArn }) => PolicyArn ?? "").sort(),
    };
  } catch (error) {
    if (error instanceof NoSuchEntityException) return undefined;
    throw error;
  }
}

/** Every role in the account, by name. */
export async function readRoles(harness: Harness): Promise<Record<string, RoleState>> {
  const names: string[] = [];
  for await (const page of paginateListRoles({ client: harness.iam }, {})) {
    for (const { RoleName } of page.Roles ?? []) if (RoleName) names.push(RoleName);
  }
  const roles = await Promise.all(names.map((name) => readRole(harness, name)));
  return Object.fromEntries(
    roles.filter((role) => role !== undefined).map((role) => [role.name, role]),
  );
}

/**
 * The roles (found by tag, whatever their names) and parameters of one Spacelift resource, as
 * moto holds them.
 */
export async function readResource(
  harness: Harness,
  kind: "stack" | "space",
  id: string,
): Promise<{ roles: RoleState[]; parameters: Record<string, string> }> {
  const roles = Object.values(await readRoles(harness)).filter((role) =>
    kind === "stack"
      ? role.tags["spacelift:stack"] === id
      : role.tags["spacelift:space"] === id && role.tags["spacelift:stack"] === undefined,
  );
  const parameters: Record<string, string> = {};
  const path = `/spacelift/${ACCOUNT}/${kind === "stack" ? "stacks" : "spaces"}/${id}`;
  for await (const page of paginateGetParametersByPath(
    { client: harness.ssm },
    { Path: path, Recursive: true },
  )) {
    for (const { Name, Value } of page.Parameters ?? []) {
      if (Name && Value !== undefined) parameters[Name] = Value;
    }
  }
  return { roles: roles.sort((a, b) => a.name.localeCompare(b.name)), parameters };
}

export async function readParameter(harness: Harness, name: string): Promise<string | undefined> {
  try {
    return (await harness.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
  } catch (error) {
    if (error instanceof ParameterNotFound) return undefined;
    throw error;
  }
}

/** Deletes a role the way a person would in the console (policies first). */
export async function deleteRoleByHand(harness: Harness, name: string): Promise<void> {
  const attached = await harness.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }));
  for (const { PolicyArn } of attached.AttachedPolicies ?? []) {
    await harness.iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn }));
  }
  await harness.iam.send(new DeleteRoleCommand({ RoleName: name }));
}

/** Everything IAM and SSM hold, for before/after comparisons. */
export async function snapshotAws(harness: Harness): Promise<unknown> {
  const parameters: unknown[] = [];
  for await (const page of paginateGetParametersByPath(
    { client: harness.ssm },
    { Path: "/", Recursive: true },
  )) {
    for (const { Name, Value, Version } of page.Parameters ?? []) {
      parameters.push({ Name, Value, Version });
    }
  }
  return { roles: await readRoles(harness), parameters };
}

/** Whether IAM would let a Spacelift run of `stackId` in `spaceId` assume a role with this trust. */
export function spaceliftRunMayAssume(
  trustPolicy: Record<string, unknown>,
  run: { stackId: string; spaceId: string },
): boolean {
  const result = runUnsafeSimulation(
    {
      request: {
        principal: OIDC_PROVIDER_ARN,
        action: "sts:AssumeRoleWithWebIdentity",
        resource: { resource: `arn:aws:iam::${AWS_ACCOUNT_ID}:role/x`, accountId: AWS_ACCOUNT_ID },
        contextVariables: {
          [`${SPACELIFT_HOST}:sub`]: `space:${run.spaceId}:stack:${run.stackId}:run_type:TRACKED:scope:write`,
          [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST,
        },
      },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: createValidatedPolicy(trustPolicy, validateTrustPolicy, {
        name: "TrustPolicy",
      }),
    },
    {},
  );
  return result === "Allowed";
}

/** Write commands are everything that does not only read. */
export function writeCommands(commands: readonly string[]): string[] {
  return commands.filter((name) => !/^(Get|List|Describe)/.test(name));
}
