/**
 * SQS events as the Lambda SQS event source hands them to a function: from messages a test
 * writes (bodies and FIFO group IDs) or from messages received from a queue. The provisioner
 * reads `messageId` (batch item failures), `body`, `attributes.ApproximateReceiveCount` and
 * `attributes.MessageGroupId`; the other fields are filled as the event source fills them.
 */
import type { Message } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";

/** One message a test puts in a batch. */
export interface QueuedMessage {
  readonly body: string;
  /** The FIFO message group ID, e.g. `stack:payments-api`. */
  readonly group: string;
  /**
   * Names the record: message ID `m-<id>`, receipt handle `r-<id>`, deduplication ID `d-<id>`,
   * sequence number `<id>`. Default: the message's index in the batch.
   */
  readonly id?: number;
}

/** A batch of messages, first receive each, from the FIFO queue `queueName`. */
export function sqsEvent(messages: readonly QueuedMessage[], queueName = "events.fifo"): SQSEvent {
  return {
    Records: messages.map(({ body, group, id: given }, index) => {
      const id = given ?? index;
      return sqsRecord({
        messageId: `m-${id}`,
        receiptHandle: `r-${id}`,
        body,
        receiveCount: "1",
        sentTimestamp: "0",
        senderId: "s",
        firstReceiveTimestamp: "0",
        sequenceNumber: String(id),
        group,
        deduplicationId: `d-${id}`,
        md5OfBody: "",
        queueName,
      });
    }),
  };
}

/** Messages received from the queue at `queueUrl`, as the event source would pass them on. */
export function toSqsEvent(messages: readonly Message[], queueUrl: string): SQSEvent {
  const queueName = queueUrl.split("/").pop() ?? "queue";
  return {
    Records: messages.map((message) =>
      sqsRecord({
        messageId: message.MessageId ?? "",
        receiptHandle: message.ReceiptHandle ?? "",
        body: message.Body ?? "",
        receiveCount: message.Attributes?.ApproximateReceiveCount ?? "1",
        sentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
        senderId: message.Attributes?.SenderId ?? "local",
        firstReceiveTimestamp:
          message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        sequenceNumber: message.Attributes?.SequenceNumber ?? "0",
        group: message.Attributes?.MessageGroupId ?? "",
        deduplicationId: message.Attributes?.MessageDeduplicationId ?? "",
        md5OfBody: message.MD5OfBody ?? "",
        queueName,
      }),
    ),
  };
}

interface RecordFields {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly receiveCount: string;
  readonly sentTimestamp: string;
  readonly senderId: string;
  readonly firstReceiveTimestamp: string;
  readonly sequenceNumber: string;
  readonly group: string;
  readonly deduplicationId: string;
  readonly md5OfBody: string;
  readonly queueName: string;
}

function sqsRecord(fields: RecordFields): SQSRecord {
  return {
    messageId: fields.messageId,
    receiptHandle: fields.receiptHandle,
    body: fields.body,
    attributes: {
      ApproximateReceiveCount: fields.receiveCount,
      SentTimestamp: fields.sentTimestamp,
      SenderId: fields.senderId,
      ApproximateFirstReceiveTimestamp: fields.firstReceiveTimestamp,
      SequenceNumber: fields.sequenceNumber,
      MessageGroupId: fields.group,
      MessageDeduplicationId: fields.deduplicationId,
    },
    messageAttributes: {},
    md5OfBody: fields.md5OfBody,
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${fields.queueName}`,
    awsRegion: "us-east-1",
  };
}
