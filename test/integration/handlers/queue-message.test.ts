/**
 * An event whose stack description carries characters SQS refuses (moto accepts them; real SQS
 * answers InvalidMessageContents, see functions/core/queue-message.ts) goes through the
 * receiver handler, a moto FIFO queue and the provisioner handler: the message sent is one SQS
 * accepts, its deduplication ID is the SHA-256 of the raw body, and the role is created. A
 * message of the old form (the raw body), still in flight during a deploy, is processed too.
 */
import { createHash } from "node:crypto";
import {
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeProvisioner } from "../../../functions/compose.ts";
import { composeReceiver } from "../../../functions/compose-receiver.ts";
import { isSqsMessageText } from "../../../functions/core/queue-message.ts";
import { WEBHOOK_PATH } from "../../../functions/core/receive.ts";
import {
  createHandler as createProvisionerHandler,
  type ProvisionerHandler,
} from "../../../functions/handlers/provisioner.ts";
import {
  createHandler as createReceiverHandler,
  type ReceiverHandler,
} from "../../../functions/handlers/receiver.ts";
import { readRole, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { lambdaContext } from "../../../testkit/lambda/local-pipeline.ts";
import { toSqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { signedDelivery } from "../../../testkit/spacelift/events.ts";
import { fixtureBody, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const SECRET = "queue-message-webhook-secret-0123";

let moto: MotoServer;
let sqs: SQSClient;
let queueUrl: string;
let clients: ReturnType<typeof testClients>;
let receiver: ReceiverHandler;
let provisioner: ProvisionerHandler;

/** A stack.create for `stack` whose description holds U+FFFE, U+FFFF and an escaped U+0001. */
function stackCreate(stack: string): string {
  return fixtureBody("stack.create", Date.now())
    .replaceAll("payments-api", stack)
    .replace('"Description": ""', '"Description": "deploy bot \uFFFE\uFFFF \\u0001 😀"');
}

function httpApiEvent(body: string, headers: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    rawPath: WEBHOOK_PATH,
    headers,
    requestContext: { http: { method: "POST", path: WEBHOOK_PATH } },
    body: Buffer.from(body, "utf8").toString("base64"),
    isBase64Encoded: true,
  } as unknown as APIGatewayProxyEventV2;
}

async function receiveAll(): Promise<Message[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: ["All"],
    }),
  );
  return received.Messages ?? [];
}

beforeAll(async () => {
  moto = await startMotoServer();
  clients = testClients(moto.endpoint);
  sqs = new SQSClient(localClientConfig(moto.endpoint));
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  queueUrl = resources.queueUrl;
  // The SDK's own setting: the module-scope clients (adapters/aws-clients.ts) talk to moto.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  const env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    SPACELIFT_WEBHOOK_SECRET: SECRET,
    AWS_ACCOUNT_ID: "123456789012",
    QUEUE_URL: queueUrl,
    LEDGER_TABLE: resources.ledgerTable,
    DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  };
  receiver = createReceiverHandler(composeReceiver(env));
  provisioner = createProvisionerHandler({ provisioner: await composeProvisioner(env) });
}, 60_000);

afterAll(async () => {
  sqs?.destroy();
  await moto?.stop();
});

describe("an event with characters SQS refuses, through moto", () => {
  it("is enqueued as a message SQS accepts, deduplicated by its raw body, and provisioned", async () => {
    const body = stackCreate("nonchar-stack");
    expect(isSqsMessageText(body)).toBe(false);
    const delivery = signedDelivery(body, SECRET);

    const answer = await receiver(httpApiEvent(delivery.body, delivery.headers));
    expect(answer.statusCode).toBe(202);
    const messages = await receiveAll();
    expect(messages).toHaveLength(1);
    const [message] = messages as [Message];
    expect(isSqsMessageText(message.Body ?? "\u0000")).toBe(true);
    expect(message.Attributes?.MessageDeduplicationId).toBe(
      createHash("sha256").update(Buffer.from(body, "utf8")).digest("hex"),
    );
    const result = await provisioner(toSqsEvent(messages, queueUrl), lambdaContext());

    expect(result.batchItemFailures).toEqual([]);
    expect(await readRole(clients.iam, "spacelift-stack-nonchar-stack")).toBeDefined();
  });

  it("still provisions a message of the old form (the raw body) enqueued before a deploy", async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: fixtureBody("stack.create").replaceAll("payments-api", "old-form-stack"),
        MessageGroupId: "stack:old-form-stack",
        MessageDeduplicationId: "old-form",
      }),
    );
    const messages = await receiveAll();

    const result = await provisioner(toSqsEvent(messages, queueUrl), lambdaContext());

    expect(result.batchItemFailures).toEqual([]);
    expect(await readRole(clients.iam, "spacelift-stack-old-form-stack")).toBeDefined();
  });
});
