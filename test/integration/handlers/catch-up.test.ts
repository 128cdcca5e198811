/**
 * The audit-trail catch-up end to end, as deployed: the catch-up handler (composed from the
 * environment, API key read from SSM) against the fake Spacelift, a moto FIFO queue and ledger
 * table, then the provisioner handler draining the queue into IAM and SSM on moto.
 *
 * Issue 14 goal 4: a stack created while the webhook endpoint was down has its role within one
 * catch-up period of the endpoint coming back; no webhook is sent in these tests.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbCatchUpCheckpoint } from "../../../functions/adapters/dynamodb-catch-up-checkpoint.ts";
import { composeProvisioner } from "../../../functions/compose.ts";
import { composeCatchUp } from "../../../functions/compose-catch-up.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { decodeQueueMessage } from "../../../functions/core/queue-message.ts";
import {
  type CatchUpHandler,
  createHandler as createCatchUpHandler,
} from "../../../functions/handlers/catch-up.ts";
import {
  createHandler as createProvisionerHandler,
  type ProvisionerHandler,
} from "../../../functions/handlers/provisioner.ts";
import { readRole, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { lambdaContext } from "../../../testkit/lambda/local-pipeline.ts";
import { toSqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { spaceliftRunMayAssume } from "../../../testkit/reconcile-harness.ts";
import {
  type FakeSpaceliftServer,
  ROOT_SPACE,
  startFakeSpacelift,
} from "../../../testkit/spacelift/fake-spacelift.ts";
import {
  fixtureBody,
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
  STAGING_SPACE,
} from "../../../testkit/spacelift/fixtures.ts";

const API_KEY_PARAMETER = "/spacelift-role-vending/spacelift-api-key";
const MINUTE = 60_000;

let moto: MotoServer;
let spacelift: FakeSpaceliftServer;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
let queueUrl: string;
let ledgerTable: string;
let clients: ReturnType<typeof testClients>;
let catchUp: CatchUpHandler;
let provisioner: ProvisionerHandler;
let provisionerDeps: ProvisionerDeps;

beforeAll(async () => {
  moto = await startMotoServer();
  spacelift = await startFakeSpacelift();
  clients = testClients(moto.endpoint);
  sqs = new SQSClient(localClientConfig(moto.endpoint));
  dynamodb = new DynamoDBClient(localClientConfig(moto.endpoint));
  // The SDK's own setting: the module-scope clients (adapters/aws-clients.ts) talk to moto.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
}, 60_000);

beforeEach(async () => {
  await moto.reset();
  spacelift.state.stacks = [];
  spacelift.state.spaces = [
    ROOT_SPACE,
    { id: PRODUCTION_SPACE, name: "production", parentSpace: "root", labels: [] },
    { id: STAGING_SPACE, name: "staging", parentSpace: "root", labels: [] },
  ];
  spacelift.state.auditTrail = [];
  spacelift.faults.clear();
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  queueUrl = resources.queueUrl;
  ledgerTable = resources.ledgerTable;
  await clients.ssm.send(
    new PutParameterCommand({
      Name: API_KEY_PARAMETER,
      Type: "SecureString",
      Value: JSON.stringify({ id: spacelift.apiKeyId, secret: spacelift.apiKeySecret }),
    }),
  );
  const env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: resources.permissionsBoundaryArn,
    AWS_ACCOUNT_ID: "123456789012",
    QUEUE_URL: queueUrl,
    LEDGER_TABLE: ledgerTable,
    DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
    SPACELIFT_API_KEY_PARAMETER: API_KEY_PARAMETER,
    SPACELIFT_API_ENDPOINT: spacelift.endpoint,
  };
  catchUp = createCatchUpHandler(composeCatchUp(env));
  provisionerDeps = await composeProvisioner(env);
  provisioner = createProvisionerHandler({ provisioner: provisionerDeps });
}, 60_000);

afterAll(async () => {
  sqs?.destroy();
  dynamodb?.destroy();
  await spacelift?.close();
  await moto?.stop();
});

async function receiveAll(): Promise<Message[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["MessageDeduplicationId"],
    }),
  );
  return received.Messages ?? [];
}

/** What Lambda's event source mapping does after a batch without failures. */
async function deleteMessages(messages: readonly Message[]): Promise<void> {
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: messages.map((message, index) => ({
        Id: String(index),
        ReceiptHandle: message.ReceiptHandle,
      })),
    }),
  );
}

/**
 * The provisioner's Lambda over whatever the queue holds now; the messages are then deleted,
 * as Lambda's event source mapping does after a batch without failures.
 */
async function drainQueue(): Promise<number> {
  const messages = await receiveAll();
  if (messages.length === 0) return 0;
  const result = await provisioner(toSqsEvent(messages, queueUrl), lambdaContext());
  expect(result.batchItemFailures).toEqual([]);
  await deleteMessages(messages);
  return messages.length;
}

describe("the audit-trail catch-up, through moto", () => {
  it("gives a stack created while the webhook endpoint was down its role, trusting its space, after one catch-up run", async () => {
    spacelift.state.addStack({ id: "missed-stack", space: PRODUCTION_SPACE, labels: [] });
    spacelift.state.recordAudit("stack.create", "missed-stack", Date.now() - 3 * MINUTE);

    const summary = await catchUp({}, lambdaContext("catch-up-local"));
    expect(summary).toMatchObject({ ran: true, enqueued: 1, skipped: 0 });
    expect(await drainQueue()).toBe(1);

    const role = await readRole(clients.iam, "spacelift-stack-missed-stack");
    expect(role).toBeDefined();
    const run = { stackId: "missed-stack", spaceId: PRODUCTION_SPACE };
    expect(spaceliftRunMayAssume(role?.trust, run)).toBe(true);
    expect(spaceliftRunMayAssume(role?.trust, { ...run, spaceId: STAGING_SPACE })).toBe(false);
  });

  it("re-run: enqueues nothing new after the checkpoint: the overlap's entry gives the same message, which changes nothing", async () => {
    spacelift.state.addStack({ id: "once", space: "root", labels: [] });
    spacelift.state.recordAudit("stack.create", "once", Date.now() - 20 * MINUTE);
    await catchUp({}, lambdaContext("catch-up-local"));
    const [first] = (await receiveAll()) as [Message];
    await processMessage(decodeQueueMessage(first.Body ?? ""), provisionerDeps);
    await deleteMessages([first]);

    const again = await catchUp({}, lambdaContext("catch-up-local"));

    // The entry is within the overlap, so it is read again; the change it makes is the same
    // body, hence the same deduplication ID, which SQS drops within its 5-minute window
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html);
    // moto does not keep the ID of a deleted message, so the duplicate is seen here.
    expect(again).toMatchObject({ ran: true, entriesRead: 1, enqueued: 1 });
    const messages = await receiveAll();
    expect(
      messages.map(({ Body, Attributes }) => [Body, Attributes?.MessageDeduplicationId]),
    ).toEqual([[first.Body, first.Attributes?.MessageDeduplicationId]]);
    const outcome = await processMessage(
      decodeQueueMessage(messages[0]?.Body ?? ""),
      provisionerDeps,
    );
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "unchanged" } });
  });

  it("an audit entry older than a webhook already applied is stale at the provisioner: the newer webhook is not undone", async () => {
    const now = Date.now();
    // The webhook the endpoint did receive: payments-api moved to staging, 2 minutes ago.
    const webhook = JSON.parse(fixtureBody("stack.update", now - 2 * MINUTE));
    expect(webhook.data.args.Input.Space).toBe(STAGING_SPACE);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(webhook),
        MessageGroupId: "stack:payments-api",
        MessageDeduplicationId: "webhook",
      }),
    );
    expect(await drainQueue()).toBe(1);
    // Spacelift's API still says production (a later change whose entry is not visible yet),
    // and its audit trail has the older create, 10 minutes ago.
    spacelift.state.addStack({ id: "payments-api", space: PRODUCTION_SPACE, labels: [] });
    spacelift.state.recordAudit("stack.create", "payments-api", now - 10 * MINUTE);

    await catchUp({}, lambdaContext("catch-up-local"));
    const messages = await receiveAll();
    expect(messages).toHaveLength(1);
    const [message] = messages as [Message];

    const outcome = await processMessage(decodeQueueMessage(message.Body ?? ""), provisionerDeps);

    expect(outcome).toMatchObject({
      result: "applied",
      // The entry's time, in whole seconds as the audit trail gives it.
      event: {
        actor: "spacelift-role-vending::catch-up",
        timestamp: Math.floor((now - 10 * MINUTE) / 1000) * 1000,
      },
      outcome: { result: "stale" },
    });

    const role = await readRole(clients.iam, "spacelift-stack-payments-api");
    expect(
      spaceliftRunMayAssume(role?.trust, { stackId: "payments-api", spaceId: STAGING_SPACE }),
    ).toBe(true);
    expect(
      spaceliftRunMayAssume(role?.trust, { stackId: "payments-api", spaceId: PRODUCTION_SPACE }),
    ).toBe(false);
  });

  it("fails the run and leaves the checkpoint where it was when the audit trail fails on a later page", async () => {
    const checkpoint = new DynamoDbCatchUpCheckpoint(dynamodb, ledgerTable);
    const before = Date.now() - 30 * MINUTE;
    await checkpoint.advance(before);
    for (let index = 0; index < 120; index++) {
      spacelift.state.recordAudit("stack.update", `s-${index}`, Date.now() - MINUTE);
    }
    spacelift.faults.graphqlErrors(1, ["internal error"], {
      operation: "searchAuditTrailEntries",
      skip: 2,
    });

    await expect(catchUp({}, lambdaContext("catch-up-local"))).rejects.toThrow();

    expect(await checkpoint.read()).toBe(before);
    expect(await receiveAll()).toEqual([]);
  });
});

describe("DynamoDbCatchUpCheckpoint on moto", () => {
  it("starts empty, moves forward, and never moves backwards", async () => {
    const checkpoint = new DynamoDbCatchUpCheckpoint(dynamodb, ledgerTable);
    expect(await checkpoint.read()).toBeUndefined();

    await checkpoint.advance(2_000);
    await checkpoint.advance(1_000);
    expect(await checkpoint.read()).toBe(2_000);

    await checkpoint.advance(3_000);
    expect(await checkpoint.read()).toBe(3_000);
  });

  it("replaces a checkpoint found in the future, backwards, only if it still holds that value", async () => {
    const checkpoint = new DynamoDbCatchUpCheckpoint(dynamodb, ledgerTable);
    await checkpoint.advance(9_000_000);

    await checkpoint.advance(1_000, 8_000_000);
    const whenChanged = await checkpoint.read();
    await checkpoint.advance(1_000, 9_000_000);

    expect(whenChanged).toBe(9_000_000);
    expect(await checkpoint.read()).toBe(1_000);
  });
});
