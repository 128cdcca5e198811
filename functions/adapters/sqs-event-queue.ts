/** EventQueue over an SQS FIFO queue: one message group per Spacelift resource. */
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { PlanEnqueueError } from "../core/errors.ts";
import type { EventQueue, PlannedMessage, PlanQueue } from "../core/ports.ts";
import {
  encodeQueueMessage,
  encodeReconcileOrder,
  isSqsMessageText,
} from "../core/queue-message.ts";

/** SendMessageBatch takes at most 10 entries (SQS API reference, SendMessageBatch). */
const BATCH_SIZE = 10;
/** Calls per batch: the first, then the entries that failed, sent again twice at most. */
const BATCH_ATTEMPTS = 3;

export class SqsEventQueue implements EventQueue, PlanQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  /**
   * Sends the body in its queue form (core/queue-message.ts), which SQS always accepts: a
   * character SQS refuses in the raw body would otherwise fail every delivery of the event.
   * The deduplication ID stays the caller's (the SHA-256 of the raw body).
   */
  async enqueue(message: { body: string; group: string; deduplicationId: string }): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: queueText(message),
        MessageGroupId: message.group,
        MessageDeduplicationId: message.deduplicationId,
      }),
    );
  }

  /**
   * Ten messages a call. SendMessageBatch answers 200 even when some entries failed, listing
   * them in `Failed` (SQS API reference, SendMessageBatch): only those are sent again. A plan
   * holds at most one message per resource, so resending one entry never reorders a group.
   */
  async enqueueBatch(messages: readonly PlannedMessage[]): Promise<{ readonly calls: number }> {
    let calls = 0;
    for (let start = 0; start < messages.length; start += BATCH_SIZE) {
      let pending: SendMessageBatchRequestEntry[] = messages
        .slice(start, start + BATCH_SIZE)
        .map((message, index) => ({
          Id: String(start + index),
          MessageBody: queueText(message),
          MessageGroupId: message.group,
          MessageDeduplicationId: message.deduplicationId,
        }));
      let failures: string[] = [];
      for (let attempt = 0; attempt < BATCH_ATTEMPTS && pending.length > 0; attempt += 1) {
        calls += 1;
        const answer = await this.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
        );
        const failed = new Map((answer.Failed ?? []).map((entry) => [entry.Id, entry]));
        failures = [...failed.values()].map(({ Id, Code, Message }) =>
          `${Id}: ${Code ?? "failed"} ${Message ?? ""}`.trim(),
        );
        pending = pending.filter(({ Id }) => failed.has(Id));
      }
      if (pending.length > 0) {
        throw new PlanEnqueueError(
          `${pending.length} planned messages could not be enqueued (${failures.join("; ")}); the next pass plans them again`,
        );
      }
    }
    return { calls };
  }
}

/** A message's queue form, refused here if SQS would refuse it. */
function queueText(message: PlannedMessage): string {
  const text =
    "order" in message ? encodeReconcileOrder(message.order) : encodeQueueMessage(message.body);
  if (!isSqsMessageText(text)) {
    throw new Error("queue message has characters SQS refuses (InvalidMessageContents)");
  }
  return text;
}
