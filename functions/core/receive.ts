/**
 * The receiver's decision: from a raw HTTP request to an HTTP answer, enqueueing accepted
 * resource events. Who retries drives the status codes: Spacelift may retry a 5xx, so 5xx is
 * kept for failures a retry can fix (enqueueing); everything a retry cannot fix is a 4xx.
 */
import { createHash } from "node:crypto";
import {
  assertEventInWindow,
  type EventWindow,
  eventResourceKey,
  type IgnoredEvent,
  parseAuditEvent,
  type ResourceEvent,
} from "./audit-event.ts";
import { EnqueueError, HttpError, PayloadTooLargeError, SignatureError } from "./errors.ts";
import type { SpaceId } from "./identifiers.ts";
import type { EventQueue } from "./ports.ts";
import { messageGroupOf } from "./queue-message.ts";
import { verifySignature } from "./signature.ts";

export const MAX_BODY_BYTES = 256 * 1024;
export const WEBHOOK_PATH = "/webhooks/spacelift";

export interface WebhookRequest {
  readonly method: string;
  readonly path: string;
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Uint8Array;
}

export interface WebhookResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ReceiverDeps {
  readonly account: string;
  readonly defaultSpaceId: SpaceId;
  /** Secrets in force: the current one, and the previous one during a rotation. */
  readonly secrets: () => Promise<readonly string[]>;
  readonly queue: EventQueue;
  /** The receiver's clock, in ms since the epoch (injected: the core never reads the clock). */
  readonly now: () => number;
  /** The dates of events it accepts: a signed body re-sent outside it is refused. */
  readonly eventWindow: EventWindow;
}

/** What happened, for the log line and metrics (never the body or the signature). */
export type ReceiveOutcome =
  | { readonly result: "enqueued"; readonly event: ResourceEvent; readonly group: string }
  | { readonly result: "ignored"; readonly event: IgnoredEvent }
  | {
      /** A handled action without its identifier: accepted, nothing enqueued (catch-up's job). */
      readonly result: "unidentified";
      readonly event: IgnoredEvent & { readonly unidentified: object };
    }
  | { readonly result: "refused"; readonly error: HttpError }
  | { readonly result: "failed"; readonly error: unknown };

export async function receiveWebhook(
  request: WebhookRequest,
  deps: ReceiverDeps,
): Promise<{ response: WebhookResponse; outcome: ReceiveOutcome }> {
  try {
    if (request.path !== WEBHOOK_PATH) throw new HttpError(404, "not found");
    if (request.method.toUpperCase() !== "POST") throw new HttpError(405, "method not allowed");
    if (request.body.byteLength > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
    const signature = header(request.headers, "x-signature-256");
    if (!verifySignature(request.body, signature, await deps.secrets())) {
      throw new SignatureError();
    }
    const body = Buffer.from(request.body).toString("utf8");
    const event = parseAuditEvent(body, {
      account: deps.account,
      defaultSpaceId: deps.defaultSpaceId,
    });
    // Replay protection: the signature says Spacelift wrote the body, the window says when.
    // Ignored events too, so a replayed audit_trail_webhook.delete raises no alarm.
    if (event.timestamp !== undefined) {
      assertEventInWindow(event.timestamp, deps.now(), deps.eventWindow);
    }
    if (event.type === "ignored" && event.unidentified !== undefined) {
      // 2xx: a redelivery could not carry the ID either. The audit-trail catch-up finds the
      // change in Spacelift's audit trail and converges it from the API.
      return {
        response: respond(202, { status: "accepted-unidentified", reason: event.reason }),
        outcome: { result: "unidentified", event: { ...event, unidentified: event.unidentified } },
      };
    }
    if (event.type === "ignored") {
      return {
        response: respond(200, { status: "ignored", reason: event.reason }),
        outcome: { result: "ignored", event },
      };
    }
    const group = messageGroupOf(eventResourceKey(event));
    try {
      await deps.queue.enqueue({
        body,
        group,
        deduplicationId: createHash("sha256").update(request.body).digest("hex"),
      });
    } catch (error) {
      throw new EnqueueError({ cause: error });
    }
    return {
      response: respond(202, { status: "accepted", resource: group }),
      outcome: { result: "enqueued", event, group },
    };
  } catch (error) {
    return errorResponse(error);
  }
}

/** Maps an error to an answer; messages are shown only below 500. */
function errorResponse(error: unknown): { response: WebhookResponse; outcome: ReceiveOutcome } {
  if (error instanceof HttpError && error.statusCode < 500) {
    return {
      response: respond(error.statusCode, { message: error.message }),
      outcome: { result: "refused", error },
    };
  }
  const statusCode = error instanceof HttpError ? error.statusCode : 500;
  return {
    response: respond(statusCode, { message: "temporary failure, retry later" }),
    outcome: { result: "failed", error },
  };
}

function respond(statusCode: number, body: Record<string, string>): WebhookResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

function header(headers: WebhookRequest["headers"], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && key.toLowerCase() === name) return value;
  }
  return undefined;
}
