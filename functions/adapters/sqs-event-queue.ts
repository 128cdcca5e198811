/** EventQueue over an SQS FIFO queue: one message group per Spacelift resource. */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EventQueue } from "../core/ports.ts";
import { encodeQueueMessage, isSqsMessageText } from "../core/queue-message.ts";

export class SqsEventQueue implements EventQueue {
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
    const messageBody = encodeQueueMessage(message.body);
    if (!isSqsMessageText(messageBody)) {
      throw new Error("queue message has characters SQS refuses (InvalidMessageContents)");
    }
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: messageBody,
        MessageGroupId: message.group,
        MessageDeduplicationId: message.deduplicationId,
      }),
    );
  }
}
