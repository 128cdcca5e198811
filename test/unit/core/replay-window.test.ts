/**
 * The receiver's replay window: a body signed with the real HMAC proves Spacelift wrote it, not
 * when. Re-sending a captured body (or one dated in the future) is refused with a 4xx that
 * Spacelift does not retry, nothing is enqueued, and the refusal is the outcome that the
 * receiver logs as `event refused`.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_EVENT_MAX_AGE_SECONDS } from "../../../functions/core/audit-event.ts";
import { ConfigurationError, EventOutsideWindowError } from "../../../functions/core/errors.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import {
  type ReceiverDeps,
  receiveWebhook,
  WEBHOOK_PATH,
} from "../../../functions/core/receive.ts";
import { loadReceiverConfig } from "../../../functions/core/receiver-config.ts";
import { signBody } from "../../../functions/core/signature.ts";
import { InMemoryQueue } from "../../../testkit/fakes/in-memory.ts";
import { auditEvent } from "../../../testkit/spacelift/events.ts";
import { fixture } from "../../../testkit/spacelift/fixtures.ts";

const SECRET = "replay-window-secret-0123456789";
const NOW = Date.UTC(2026, 11, 6, 9, 0, 0);
const MINUTE = 60_000;
const STACK = "payments-api";
const SPACE = "production-01HND497T9JKR76MR3KA2CDJHP";
const RECEIVER_ENV = {
  QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
  SPACELIFT_WEBHOOK_SECRET: SECRET,
};

function receiver(now: () => number = () => NOW, env: Record<string, string> = {}) {
  const queue = new InMemoryQueue();
  const deps: ReceiverDeps = {
    account: "acme",
    defaultSpaceId: "root" as SpaceId,
    secrets: async () => [SECRET],
    queue,
    now,
    eventWindow: loadReceiverConfig({ ...RECEIVER_ENV, ...env }).eventWindow,
  };
  const post = (payload: unknown) => {
    const body = Buffer.from(JSON.stringify(payload));
    return receiveWebhook(
      {
        method: "POST",
        path: WEBHOOK_PATH,
        headers: { "x-signature-256": signBody(body, SECRET) },
        body,
      },
      deps,
    );
  };
  return { queue, post };
}

describe("the receiver's replay window", () => {
  it("refuses a signed stack.update dated in 2100, so the stack's genuine stack.delete is the one that is applied", async () => {
    // Prepare: the forged update would have made the ledger treat every later event as stale.
    const { queue, post } = receiver();
    const forged = auditEvent("stack.update", {
      account: "acme",
      stack: STACK,
      space: SPACE,
      timestamp: Date.UTC(2100, 0, 1),
    });

    // Act
    const refused = await post(forged);
    const deleted = await post(
      auditEvent("stack.delete", { account: "acme", stack: STACK, timestamp: NOW - MINUTE }),
    );

    // Assess
    expect(refused.response.statusCode).toBe(422);
    expect(JSON.parse(refused.response.body)).toEqual({
      message:
        "event timestamp 2100-01-01T00:00:00.000Z is more than 300 s ahead of the receiver's clock; refused",
    });
    expect(refused.outcome).toMatchObject({ result: "refused" });
    expect(
      refused.outcome.result === "refused" &&
        refused.outcome.error instanceof EventOutsideWindowError,
    ).toBe(true);
    expect(deleted.response.statusCode).toBe(202);
    expect(queue.messages.map((message) => JSON.parse(message.body).action)).toEqual([
      "stack.delete",
    ]);
  });

  it("refuses a captured signed stack.create re-sent after the replay window (500 days later), enqueueing nothing", async () => {
    const { queue, post } = receiver();
    const captured = auditEvent("stack.create", {
      account: "acme",
      stack: STACK,
      space: SPACE,
      timestamp: NOW - 500 * 86_400_000,
    });

    const { response } = await post(captured);

    expect(response.statusCode).toBe(422);
    expect(JSON.parse(response.body).message).toContain(
      "is older than the replay window of 3600 s",
    );
    expect(queue.messages).toEqual([]);
  });

  it.each([
    ["just inside the clock skew", NOW + 5 * MINUTE, 202],
    ["just beyond the clock skew", NOW + 5 * MINUTE + 1, 422],
    ["as old as the window", NOW - DEFAULT_EVENT_MAX_AGE_SECONDS * 1000, 202],
    ["just older than the window", NOW - DEFAULT_EVENT_MAX_AGE_SECONDS * 1000 - 1, 422],
    ["dated now", NOW, 202],
  ])("answers an event dated %s with %i", async (_, timestamp, status) => {
    const { queue, post } = receiver();
    const { response } = await post({ ...fixture("stack.delete"), timestamp });
    expect(response.statusCode).toBe(status);
    expect(queue.messages).toHaveLength(status === 202 ? 1 : 0);
  });

  it("answers 422, not a 500 that Spacelift would retry, for a timestamp beyond JavaScript's dates", async () => {
    const { queue, post } = receiver();

    const { response } = await post({ ...fixture("stack.delete"), timestamp: 9e15 });

    expect(response.statusCode).toBe(422);
    expect(JSON.parse(response.body).message).toBe(
      "event timestamp 9000000000000000 is more than 300 s ahead of the receiver's clock; refused",
    );
    expect(queue.messages).toEqual([]);
  });

  it("refuses a replayed audit_trail_webhook.delete without raising its alarm", async () => {
    const { post } = receiver();
    const old = NOW - 2 * DEFAULT_EVENT_MAX_AGE_SECONDS * 1000;

    const replayed = await post({ ...fixture("audit_trail_webhook.delete"), timestamp: old });
    const fresh = await post({ ...fixture("audit_trail_webhook.delete"), timestamp: NOW });

    expect(replayed.response.statusCode).toBe(422);
    expect(replayed.outcome.result).toBe("refused");
    expect(fresh.outcome).toMatchObject({ result: "ignored", event: { alarm: true } });
  });

  it("still answers 200 to run state payloads, which carry no timestamp", async () => {
    const { post } = receiver();
    const { response } = await post({
      run: { id: "r" },
      state: "FINISHED",
      stack: { id: "payments-api" },
    });
    expect(response.statusCode).toBe(200);
  });

  it("checks every kind of resource event, spaces too", async () => {
    const { queue, post } = receiver();
    const old = NOW - 2 * DEFAULT_EVENT_MAX_AGE_SECONDS * 1000;
    for (const action of [
      "stack.create",
      "stack.update",
      "stack.delete",
      "space.create",
      "space.update",
      "space.delete",
    ] as const) {
      const { response } = await post(
        auditEvent(action, { account: "acme", stack: STACK, space: SPACE, timestamp: old }),
      );
      expect(response.statusCode, action).toBe(422);
    }
    expect(queue.messages).toEqual([]);
  });

  it("reads the clock on every request, not once at start", async () => {
    let clock = NOW;
    const { post } = receiver(() => clock);
    const event = auditEvent("stack.delete", { account: "acme", stack: STACK, timestamp: NOW });
    expect((await post(event)).response.statusCode).toBe(202);
    clock = NOW + 2 * DEFAULT_EVENT_MAX_AGE_SECONDS * 1000;
    expect((await post(event)).response.statusCode).toBe(422);
  });

  it("takes the window from EVENT_MAX_AGE_SECONDS", async () => {
    const { post } = receiver(() => NOW, { EVENT_MAX_AGE_SECONDS: "7200" });
    const event = (age: number) =>
      auditEvent("stack.delete", { account: "acme", stack: STACK, timestamp: NOW - age });
    expect((await post(event(7200_000))).response.statusCode).toBe(202);
    expect((await post(event(7200_001))).response.statusCode).toBe(422);
  });

  it.each(["59", "604801", "1.5", "soon"])("refuses EVENT_MAX_AGE_SECONDS=%s at start", (value) => {
    expect(() => loadReceiverConfig({ ...RECEIVER_ENV, EVENT_MAX_AGE_SECONDS: value })).toThrow(
      ConfigurationError,
    );
  });

  it("defaults to a one-hour window and 5 minutes of clock skew", () => {
    expect(loadReceiverConfig(RECEIVER_ENV).eventWindow).toEqual({
      maxAgeMs: 3_600_000,
      maxSkewMs: 300_000,
    });
  });
});
