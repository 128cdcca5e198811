/**
 * The provisioner Lambda handler against a real moto_server: SQS records in, IAM roles and
 * SSM parameters out, with partial batch failures.
 */
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
} from "@aws-sdk/client-iam";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import type { Context, SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { iamClient } from "../../../functions/adapters/aws-clients.ts";
import { composeProvisioner } from "../../../functions/compose.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import type { Env } from "../../../functions/core/env.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import {
  encodeQueueMessage,
  encodeReconcileOrder,
  reconcileOrderMessage,
} from "../../../functions/core/queue-message.ts";
import { legacyStackRoleNames, stackRoleName } from "../../../functions/core/role-names.ts";
import { synthesizedMessage } from "../../../functions/core/synthesized-event.ts";
import { createHandler, type ProvisionerHandler } from "../../../functions/handlers/provisioner.ts";
import { logger, metrics } from "../../../functions/observability.ts";
import { readParameter, readRole, subPattern, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { sqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { auditEvent } from "../../../testkit/spacelift/events.ts";
import {
  fixture,
  fixtureBody,
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
  STAGING_SPACE,
} from "../../../testkit/spacelift/fixtures.ts";

const ROLE = "spacelift-stack-payments-api";
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";

let moto: MotoServer;
let handler: ProvisionerHandler;
let env: Env;
let clients: ReturnType<typeof testClients>;
let boundaryArn: string;

const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

beforeAll(async () => {
  moto = await startMotoServer();
  clients = testClients(moto.endpoint);
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  const boundary = await clients.iam.send(
    new CreatePolicyCommand({
      PolicyName: "spacelift-boundary",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
      }),
    }),
  );
  boundaryArn = boundary.Policy?.Arn ?? "";
  // The SDK's own setting: the module-scope clients (adapters/aws-clients.ts) talk to moto.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: "123456789012",
    LEDGER_TABLE: resources.ledgerTable,
    DEFAULT_POLICY_ARNS: READ_ONLY,
    PERMISSIONS_BOUNDARY_ARN: boundaryArn,
    MAX_ROLES_PER_SPACE: "3",
  };
  handler = createHandler({ provisioner: await composeProvisioner(env) });
});

afterAll(async () => {
  await moto?.stop();
});

describe("provisioner handler against moto", () => {
  it("creates the stack role with trust, boundary, policies and tags, then publishes its ARN", async () => {
    const result = await handler(
      sqsEvent([{ body: fixtureBody("stack.create"), group: "stack:payments-api" }]),
      context,
    );
    expect(result.batchItemFailures).toEqual([]);
    const role = await readRole(clients.iam, ROLE);
    expect(role).toMatchObject({
      path: "/spacelift/",
      maxSessionDuration: 3600,
      boundary: boundaryArn,
      policies: [READ_ONLY],
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": "payments-api",
      },
    });
    expect(subPattern(role?.trust, SPACELIFT_HOST)).toBe(
      `space:${PRODUCTION_SPACE}:stack:payments-api:run_type:*:scope:*`,
    );
    expect(role?.trust.Statement[0].Condition.StringEquals).toEqual({
      [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST,
    });
    expect(await readParameter(clients.ssm, PARAMETER)).toEqual({
      value: role?.arn,
      tags: role?.tags,
    });
  });

  it("rewrites the trust policy when the stack moves space", async () => {
    await handler(
      sqsEvent([{ body: fixtureBody("stack.update"), group: "stack:payments-api" }]),
      context,
    );
    const role = await readRole(clients.iam, ROLE);
    expect(subPattern(role?.trust, SPACELIFT_HOST)).toBe(
      `space:${STAGING_SPACE}:stack:payments-api:run_type:*:scope:*`,
    );
  });

  it("drops invalid and refused messages while applying the rest of the batch", async () => {
    await clients.iam.send(
      new CreateRoleCommand({
        RoleName: "spacelift-stack-not-ours",
        Path: "/spacelift/",
        AssumeRolePolicyDocument: "{}",
        Tags: [{ Key: "team", Value: "someone-else" }],
      }),
    );
    const notOurs = { ...fixture("stack.delete"), data: { args: { ID: "not-ours" } } };
    const spaceCreate = fixtureBody("space.create");
    const result = await handler(
      sqsEvent([
        { body: "not json", group: "stack:x" },
        { body: JSON.stringify(notOurs), group: "stack:not-ours" },
        { body: spaceCreate, group: "space:data-platform-01HPE6H08F8HR8PJR78DPYR3TC" },
      ]),
      context,
    );
    expect(result.batchItemFailures).toEqual([]);
    expect((await readRole(clients.iam, "spacelift-stack-not-ours"))?.tags).toEqual({
      team: "someone-else",
    });
    expect(
      await readRole(clients.iam, "spacelift-space-data-platform-01HPE6H08F8HR8PJR78DPYR3TC"),
    ).toBeDefined();
  });

  it("reports only the message whose AWS call failed as a batch item failure", async () => {
    // Inject a failure into the handler's own IAM client for one role only.
    iamClient().middlewareStack.add(
      (next) => async (args) => {
        if ((args.input as { RoleName?: string }).RoleName === "spacelift-stack-broken") {
          throw Object.assign(new Error("ServiceUnavailable"), { name: "ServiceUnavailable" });
        }
        return next(args);
      },
      { step: "initialize", name: "injectFailure" },
    );
    const withId = (id: string) =>
      JSON.stringify({
        ...fixture("stack.create"),
        data: { ...fixture("stack.create").data, ID: id },
      });
    try {
      const result = await handler(
        sqsEvent([
          { body: withId("broken"), group: "stack:broken" },
          { body: withId("fine"), group: "stack:fine" },
        ]),
        context,
      );
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: "m-0" }]);
      expect(await readRole(clients.iam, "spacelift-stack-fine")).toBeDefined();
      expect(await readRole(clients.iam, "spacelift-stack-broken")).toBeUndefined();
    } finally {
      iamClient().middlewareStack.remove("injectFailure");
    }
  });

  it("deletes the role, its attachments and its parameter on stack.delete", async () => {
    const result = await handler(
      sqsEvent([{ body: fixtureBody("stack.delete"), group: "stack:payments-api" }]),
      context,
    );
    expect(result.batchItemFailures).toEqual([]);
    expect(await readRole(clients.iam, ROLE)).toBeUndefined();
    expect(await readParameter(clients.ssm, PARAMETER)).toBeUndefined();
  });

  it("moves a role named under the previous scheme to its new name: new role, new ARN published, old role gone", async () => {
    const stackId = `${"payments-platform-".repeat(5)}api`;
    const config = await loadVendingConfig(env);
    const [legacyName = ""] = legacyStackRoleNames(config, stackId as StackId);
    const parameter = `/spacelift/acme/stacks/${stackId}/role-arn`;
    const ours = [
      { Key: "managed-by", Value: "spacelift-role-vending" },
      { Key: "spacelift:account", Value: "acme" },
      { Key: "spacelift:stack", Value: stackId },
      { Key: "spacelift:space", Value: PRODUCTION_SPACE },
    ];
    const legacy = await clients.iam.send(
      new CreateRoleCommand({
        RoleName: legacyName,
        Path: "/spacelift/",
        AssumeRolePolicyDocument: "{}",
        Tags: ours,
      }),
    );
    await clients.iam.send(
      new AttachRolePolicyCommand({ RoleName: legacyName, PolicyArn: READ_ONLY }),
    );
    await clients.ssm.send(
      new PutParameterCommand({
        Name: parameter,
        Type: "String",
        Value: legacy.Role?.Arn,
        Tags: ours,
      }),
    );
    const update = fixture("stack.update");
    update.data = { ...update.data, args: { ...(update.data.args as object), ID: stackId } };

    const result = await handler(
      sqsEvent([{ body: JSON.stringify(update), group: `stack:${stackId}` }]),
      context,
    );

    expect(result.batchItemFailures).toEqual([]);
    const newName = stackRoleName(config, stackId as StackId);
    expect(newName).toMatch(/\.[0-9a-f]{16}$/);
    const role = await readRole(clients.iam, newName);
    expect(role).toMatchObject({ policies: [READ_ONLY], tags: { "spacelift:stack": stackId } });
    expect((await readParameter(clients.ssm, parameter))?.value).toBe(role?.arn);
    expect(await readRole(clients.iam, legacyName)).toBeUndefined();
  });

  it("does not resurrect the role from a create delivered after the delete", async () => {
    await handler(
      sqsEvent([{ body: fixtureBody("stack.create"), group: "stack:payments-api" }]),
      context,
    );
    expect(await readRole(clients.iam, ROLE)).toBeUndefined();
    expect(await readParameter(clients.ssm, PARAMETER)).toBeUndefined();
  });
});

describe("MAX_ROLES_PER_SPACE through the handler", () => {
  it("refuses the stack over the space's cap without retrying it, and says so in a log line and its own metric", async () => {
    const space = "capped-01HQ1234567890ABCDEFGHJKMQ";
    const stacks = ["cap-a", "cap-b", "cap-c", "cap-d"];
    const added = vi.spyOn(metrics, "addMetric");
    // Logs are silenced in tests (POWERTOOLS_LOG_LEVEL=SILENT): the calls are what is checked.
    const errors = vi.spyOn(logger, "error");
    let metricNames: string[] = [];
    let errorCalls: unknown[][] = [];
    let result: SQSBatchResponse = { batchItemFailures: [] };
    try {
      result = await handler(
        sqsEvent(
          stacks.map((stack, index) => ({
            body: JSON.stringify(
              auditEvent("stack.create", {
                account: "acme",
                stack,
                space,
                timestamp: 5000 + index,
              }),
            ),
            group: `stack:${stack}`,
          })),
        ),
        context,
      );
    } finally {
      metricNames = added.mock.calls.map(([name]) => name);
      errorCalls = errors.mock.calls;
      added.mockRestore();
      errors.mockRestore();
    }

    expect(result.batchItemFailures).toEqual([]);
    const created = await Promise.all(
      stacks.map(
        async (stack) => (await readRole(clients.iam, `spacelift-stack-${stack}`)) !== undefined,
      ),
    );
    expect(created.filter(Boolean)).toHaveLength(3);
    // Dropped (not retried), logged with its reason, and counted apart.
    expect(metricNames.filter((name) => !name.startsWith("Roles"))).toEqual([
      "EventsDropped",
      "SpaceRoleCapReached",
    ]);
    expect(errorCalls).toEqual([
      [
        "event refused and dropped",
        expect.objectContaining({
          outcome: "refused",
          reason: expect.stringMatching(
            /already holds the roles of 3 stacks \(MAX_ROLES_PER_SPACE=3/,
          ),
        }),
      ],
    ]);
  });
});

describe("what the reconciler enqueued, through the handler", () => {
  it("logs each synthesized event and reconcile order it applies with the reconciler as actor, and drops a malformed order with its reason", async () => {
    const infos = vi.spyOn(logger, "info");
    const errors = vi.spyOn(logger, "error");
    const added = vi.spyOn(metrics, "addMetric");
    await clients.iam.send(
      new CreateRoleCommand({
        RoleName: "spacelift-stack-never-listed",
        Path: "/spacelift/",
        AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
        PermissionsBoundary: boundaryArn,
        Tags: [
          { Key: "managed-by", Value: "spacelift-role-vending" },
          { Key: "spacelift:account", Value: "acme" },
          { Key: "spacelift:stack", Value: "never-listed" },
          { Key: "spacelift:space", Value: "root" },
        ],
      }),
    );
    const synthesized = synthesizedMessage(
      {
        kind: "stack.update",
        stack: {
          stackId: "from-reconciler" as StackId,
          spaceId: "root" as SpaceId,
          labels: [],
        },
      },
      { account: "acme", timestamp: 9_000, source: "reconciler" },
    );
    const order = reconcileOrderMessage({
      resource: "stack:never-listed",
      action: "revoke",
      roles: ["spacelift-stack-never-listed"],
      listedAt: 9_000,
    });
    let metricNames: string[] = [];
    let infoCalls: unknown[][] = [];
    let errorCalls: unknown[][] = [];
    let result: SQSBatchResponse = { batchItemFailures: [] };
    try {
      result = await handler(
        sqsEvent([
          { body: encodeQueueMessage(synthesized.body), group: synthesized.group },
          { body: encodeReconcileOrder(order.order), group: order.group },
          { body: '{"v":2,"reconcile":{"resource":"stack:*"}}', group: "stack:x" },
        ]),
        context,
      );
    } finally {
      metricNames = added.mock.calls.map(([name]) => name);
      infoCalls = infos.mock.calls;
      errorCalls = errors.mock.calls;
      added.mockRestore();
      infos.mockRestore();
      errors.mockRestore();
    }

    expect(result.batchItemFailures).toEqual([]);
    expect(metricNames).toContain("RolesRevoked");
    expect(infoCalls).toContainEqual([
      "event applied",
      expect.objectContaining({
        action: "stack.update",
        resource: "stack:from-reconciler",
        actor: "spacelift-role-vending::reconciler",
        outcome: "created",
      }),
    ]);
    expect(infoCalls).toContainEqual([
      "reconcile order applied",
      expect.objectContaining({
        action: "revoke",
        resource: "stack:never-listed",
        actor: "spacelift-role-vending::reconciler",
        outcome: "revoked",
        roles: ["spacelift-stack-never-listed"],
      }),
    ]);
    expect(errorCalls).toContainEqual([
      "event refused and dropped",
      expect.objectContaining({
        actor: "spacelift-role-vending::reconciler",
        reason: expect.stringMatching(/^reconcile order: /),
      }),
    ]);
  });
});
