/**
 * The form an accepted webhook body takes on the event queue.
 *
 * SQS refuses (InvalidMessageContents) a message body with any character outside
 * #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html);
 * moto does not check. Spacelift copies stack descriptions and labels into its audit events, so
 * one U+0001 or U+FFFE in a description would make every delivery of that event answer 503 and
 * be lost. The body therefore travels base64-encoded in a small JSON envelope, which is always
 * valid. It grows by a third: the receiver's 256 KiB limit stays well within SQS's 1 MiB.
 *
 * Version 1 was the raw body itself. Messages of that form may still be in flight (or in the
 * dead-letter queue) after a deploy, so decoding accepts both.
 */

import { createHash } from "node:crypto";

/**
 * SQS refuses a MessageGroupId longer than 128 characters ("The length of MessageGroupId is 128
 * characters", API_SendMessage above); moto does not check. `stack:<id>` of a 123+ character
 * stack ID (or `space:<id>` of a long space ID) would make every delivery of that resource's
 * events answer 503. A longer key becomes `<kind>:#<SHA-256 hex>`: stable per resource (its
 * events keep one ordered lane), and never another resource's group (IDs hold no `:` or `#`).
 */
export const MAX_MESSAGE_GROUP_LENGTH = 128;

/** The FIFO message group of a resource key (`stack:<id>` / `space:<id>`). */
export function messageGroupOf(resource: string): string {
  if (resource.length <= MAX_MESSAGE_GROUP_LENGTH) return resource;
  const kind = resource.slice(0, resource.indexOf(":"));
  return `${kind}:#${createHash("sha256").update(resource).digest("hex")}`;
}

/** The envelope's version marker: `{"v":2,"body":"<base64 of the UTF-8 body>"}`. */
export const QUEUE_MESSAGE_VERSION = 2;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True when every character of `text` is one SQS accepts in a message body. */
export function isSqsMessageText(text: string): boolean {
  // The `u` flag makes the class match code points: a lone surrogate is not in any range.
  return /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u.test(text);
}

/** The queue message carrying `body`: printable ASCII only, whatever `body` contains. */
export function encodeQueueMessage(body: string): string {
  return JSON.stringify({
    v: QUEUE_MESSAGE_VERSION,
    body: Buffer.from(body, "utf8").toString("base64"),
  });
}

/**
 * The webhook body a queue message carries: the envelope's content, or the message itself when
 * it is not an envelope (version 1, the raw body). Anything else that is not an event is left
 * to the event parser to refuse.
 */
export function decodeQueueMessage(message: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return message;
  }
  if (
    typeof parsed === "object" &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    Object.keys(parsed).length === 2 &&
    (parsed as { v?: unknown }).v === QUEUE_MESSAGE_VERSION &&
    typeof (parsed as { body?: unknown }).body === "string" &&
    BASE64.test((parsed as { body: string }).body)
  ) {
    return Buffer.from((parsed as { body: string }).body, "base64").toString("utf8");
  }
  return message;
}

/**
 * A reconcile order: what the reconciler decided for a resource Spacelift no longer lists
 * (revoke its roles' trust, or delete them once the grace period is over), applied by the
 * provisioner in the resource's own message group. It is not a webhook event and has its own
 * envelope, `{"v":2,"reconcile":{...}}`, which the receiver never writes (it always writes
 * `{"v":2,"body":...}`, whatever the webhook's body holds).
 */
export interface ReconcileOrder {
  /** `stack:<id>` or `space:<id>`. */
  readonly resource: string;
  /**
   * `revoke`/`delete`: an orphan's roles; `misplaced`: roles of a resource Spacelift lists,
   * found in `account` although its space is routed elsewhere (the provisioner records that
   * account as one that may hold its roles, so the next converge removes them there).
   */
  readonly action: "revoke" | "delete" | "misplaced";
  /** The resource's roles as the reconciler's inventory found them (each checked again). */
  readonly roles: readonly string[];
  /** When Spacelift's listing that did not list the resource was read (ms). */
  readonly listedAt: number;
  /**
   * The AWS account whose inventory holds the roles (a configured target account); absent:
   * the service's own account (orders written before accounts were reconciled have none).
   */
  readonly account?: string;
}

/** The queue message of a reconcile order (printable ASCII: every field is a checked name). */
export function encodeReconcileOrder(order: ReconcileOrder): string {
  return JSON.stringify({
    v: QUEUE_MESSAGE_VERSION,
    reconcile: {
      resource: order.resource,
      action: order.action,
      roles: [...order.roles],
      listedAt: order.listedAt,
      ...(order.account !== undefined && { account: order.account }),
    },
  });
}

/**
 * A reconcile order as the planner hands it to the queue: its resource's own group, and a
 * deduplication ID that is the message's SHA-256 (the same order sent twice within SQS's
 * 5-minute window is sent once).
 */
export function reconcileOrderMessage(order: ReconcileOrder): {
  readonly order: ReconcileOrder;
  readonly group: string;
  readonly deduplicationId: string;
} {
  return {
    order,
    group: messageGroupOf(order.resource),
    deduplicationId: createHash("sha256").update(encodeReconcileOrder(order)).digest("hex"),
  };
}

/** Whether a queue message is in the reconcile order's envelope (valid or not). */
export function isReconcileEnvelope(message: string): boolean {
  if (!message.startsWith("{")) return false;
  try {
    const parsed: unknown = JSON.parse(message);
    return (
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      (parsed as { v?: unknown }).v === QUEUE_MESSAGE_VERSION &&
      "reconcile" in parsed
    );
  } catch {
    return false;
  }
}
