/**
 * One provisioner "Lambda container" for the burst benchmark: imports the real handler
 * (functions/provisioner.ts, its module-scope SDK clients with adaptive retry), then does what
 * Lambda's SQS event source does for it — receive a batch of up to 10, invoke, delete what
 * succeeded, leave the reported failures to come back after the visibility timeout. Talks to
 * its parent over IPC; started with `fork` and the handler's environment.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { dynamodbClient, iamClient, ssmClient } from "../../functions/adapters/aws-clients.ts";
import { decodeQueueMessage } from "../../functions/core/queue-message.ts";
import { ApiCallCounter } from "../../testkit/aws/api-calls.ts";
import { lambdaContext } from "../../testkit/lambda/local-pipeline.ts";
import { toSqsEvent } from "../../testkit/lambda/sqs-event.ts";

export type WorkerMessage =
  | { readonly type: "ready" }
  | {
      readonly type: "batch";
      readonly applied: readonly string[];
      readonly failed: number;
      readonly redelivered: number;
      readonly durationMs: number;
    }
  | { readonly type: "done"; readonly tally: ReturnType<ApiCallCounter["snapshot"]> };

type ParentMessage = { readonly type: "start" } | { readonly type: "stop" };
type Handler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

const queueUrl = process.env.QUEUE_URL ?? "";
const { handler } = (await import("../../functions/provisioner.ts")) as { handler: Handler };
const counter = new ApiCallCounter();
counter.attach(iamClient());
counter.attach(ssmClient());
counter.attach(dynamodbClient());

// The event source's own client: it is Lambda's poller, not the function, so it goes straight
// to the emulator and is not counted.
const poller = new SQSClient({
  endpoint: process.env.AWS_ENDPOINT_URL ?? "",
  region: "us-east-1",
  credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
});

const post = (message: WorkerMessage) => process.send?.(message);
let running = false;
let loop: Promise<void> | undefined;

process.on("message", (message: ParentMessage) => {
  if (message.type === "start" && loop === undefined) {
    running = true;
    loop = pollUntilStopped();
  }
  if (message.type === "stop") {
    running = false;
    void (loop ?? Promise.resolve()).then(() => {
      post({ type: "done", tally: counter.snapshot() });
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
    });
  }
});
post({ type: "ready" });

async function pollUntilStopped(): Promise<void> {
  while (running) {
    const received = await poller.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) continue;
    const started = performance.now();
    const result = await handler(
      toSqsEvent(messages, queueUrl),
      lambdaContext("provisioner-bench"),
    );
    const durationMs = performance.now() - started;
    const failed = new Set(result.batchItemFailures.map((item) => item.itemIdentifier));
    const done = messages.filter((message) => !failed.has(message.MessageId ?? ""));
    if (done.length > 0) {
      await poller.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle ?? "",
          })),
        }),
      );
    }
    post({
      type: "batch",
      applied: done.map(stackIdOf),
      failed: failed.size,
      redelivered: messages.filter(
        (message) => Number(message.Attributes?.ApproximateReceiveCount ?? "1") > 1,
      ).length,
      durationMs,
    });
  }
}

function stackIdOf(message: Message): string {
  const body = JSON.parse(decodeQueueMessage(message.Body ?? "{}")) as { data?: { ID?: string } };
  return body.data?.ID ?? "";
}
