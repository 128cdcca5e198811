/**
 * SqsEventQueue.enqueueBatch, the reconciler's way onto the event queue: ten messages a
 * SendMessageBatch call, only the entries SQS reports failed sent again, and an error naming
 * what could still not be sent. SQS's answer is mocked with the SDK's own shapes.
 */
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { SqsEventQueue } from "../../../functions/adapters/sqs-event-queue.ts";
import { PlanEnqueueError } from "../../../functions/core/errors.ts";
import type { PlannedMessage } from "../../../functions/core/ports.ts";
import {
  decodeQueueMessage,
  reconcileOrderMessage,
} from "../../../functions/core/queue-message.ts";

const sqsMock = mockClient(SQSClient);
const queue = new SqsEventQueue(new SQSClient({ region: "us-east-1" }), "https://sqs/q.fifo");
const meta = { $metadata: {} };

const messages = (count: number): PlannedMessage[] =>
  Array.from({ length: count }, (_, index) => ({
    body: `{"n":${index}}`,
    group: `stack:s${index}`,
    deduplicationId: `d${index}`,
  }));

beforeEach(() => {
  sqsMock.reset();
});

describe("SqsEventQueue.enqueueBatch", () => {
  it("sends 25 messages in 3 calls of at most 10, each in its queue form, group and deduplication ID", async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({ ...meta, Successful: [], Failed: [] });

    const { calls } = await queue.enqueueBatch(messages(25));

    const sent = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
    expect(calls).toBe(3);
    expect(sent.map(({ Entries }) => Entries?.length)).toEqual([10, 10, 5]);
    const first = sent[0]?.Entries?.[0];
    expect(first).toMatchObject({ MessageGroupId: "stack:s0", MessageDeduplicationId: "d0" });
    expect(decodeQueueMessage(first?.MessageBody ?? "")).toBe('{"n":0}');
  });

  it("sends a reconcile order in its own envelope, never the webhook's", async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({ ...meta, Successful: [], Failed: [] });
    const order = reconcileOrderMessage({
      resource: "stack:gone",
      action: "revoke",
      roles: ["spacelift-stack-gone"],
      listedAt: 1_000,
    });

    await queue.enqueueBatch([order]);

    const entry = sqsMock.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.[0];
    expect(JSON.parse(entry?.MessageBody ?? "")).toEqual({
      v: 2,
      reconcile: {
        resource: "stack:gone",
        action: "revoke",
        roles: ["spacelift-stack-gone"],
        listedAt: 1_000,
      },
    });
    expect(entry?.MessageGroupId).toBe("stack:gone");
  });

  it("sends again only the entries SQS reported failed", async () => {
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        ...meta,
        Successful: [],
        Failed: [
          { Id: "2", SenderFault: false, Code: "InternalError" },
          { Id: "5", SenderFault: false, Code: "InternalError" },
        ],
      })
      .resolves({ ...meta, Successful: [], Failed: [] });

    const { calls } = await queue.enqueueBatch(messages(8));

    const sent = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
    expect(calls).toBe(2);
    expect(sent[1]?.Entries?.map(({ Id }) => Id)).toEqual(["2", "5"]);
  });

  it("throws PlanEnqueueError naming what still failed after three calls", async () => {
    sqsMock.on(SendMessageBatchCommand).resolves({
      ...meta,
      Successful: [],
      Failed: [{ Id: "1", SenderFault: false, Code: "ServiceUnavailable" }],
    });

    const sending = queue.enqueueBatch(messages(3));

    await expect(sending).rejects.toBeInstanceOf(PlanEnqueueError);
    await expect(sending).rejects.toThrow(
      /1 planned messages could not be enqueued.*ServiceUnavailable/,
    );
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(3);
  });
});
