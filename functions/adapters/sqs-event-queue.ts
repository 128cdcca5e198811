/** EventQueue over an SQS FIFO queue: one message group per Spacelift resource. */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { EventQueue } from "../core/ports.ts";

export class SqsEventQueue implements EventQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(message: { body: string; group: string; deduplicationId: string }): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: message.body,
        MessageGroupId: message.group,
        MessageDeduplicationId: message.deduplicationId,
      }),
    );
  }
}
