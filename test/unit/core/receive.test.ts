import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import {
  MAX_BODY_BYTES,
  type ReceiverDeps,
  receiveWebhook,
  WEBHOOK_PATH,
} from "../../../functions/core/receive.ts";
import { signBody } from "../../../functions/core/signature.ts";
import { InMemoryQueue, SQS_MESSAGE_ID } from "../../../testkit/fakes/in-memory.ts";
import { fixture, fixtureBody } from "../../../testkit/spacelift/fixtures.ts";

const SECRET = "current-secret-0123456789";
const PREVIOUS = "previous-secret-0123456789";
/** The receiver's clock in these tests; events are dated by it unless a test says otherwise. */
const NOW = Date.UTC(2026, 11, 6, 9, 0, 0);
const WINDOW = { maxAgeMs: 3600_000, maxSkewMs: 300_000 };

function setup() {
  const queue = new InMemoryQueue();
  const deps: ReceiverDeps = {
    account: "acme",
    defaultSpaceId: "root" as SpaceId,
    secrets: async () => [SECRET, PREVIOUS],
    queue,
    now: () => NOW,
    eventWindow: WINDOW,
  };
  const post = (body: string | Buffer, headers: Record<string, string | undefined> = {}) => {
    const raw = typeof body === "string" ? Buffer.from(body) : body;
    return receiveWebhook(
      {
        method: "POST",
        path: WEBHOOK_PATH,
        headers: { "X-Signature-256": signBody(raw, SECRET), ...headers },
        body: raw,
      },
      deps,
    );
  };
  return { queue, deps, post };
}

describe("receiveWebhook", () => {
  it("enqueues a signed stack.create (202) in the stack's group, deduplicated by the body's SHA-256", async () => {
    const { queue, post } = setup();
    const body = fixtureBody("stack.create", NOW);
    const { response } = await post(body);
    expect(response.statusCode).toBe(202);
    expect(queue.messages).toEqual([
      {
        body,
        group: "stack:payments-api",
        deduplicationId: createHash("sha256").update(body).digest("hex"),
      },
    ]);
  });

  it("groups space events by space", async () => {
    const { queue, post } = setup();
    await post(fixtureBody("space.create", NOW));
    expect(queue.messages[0]?.group).toBe("space:data-platform-01HPE6H08F8HR8PJR78DPYR3TC");
  });

  it("accepts the previous secret during a rotation", async () => {
    const { queue, post } = setup();
    const body = fixtureBody("stack.delete", NOW);
    const { response } = await post(body, { "X-Signature-256": signBody(body, PREVIOUS) });
    expect(response.statusCode).toBe(202);
    expect(queue.messages).toHaveLength(1);
  });

  it("reads the signature header whatever its case", async () => {
    const { post } = setup();
    const body = fixtureBody("stack.delete", NOW);
    const { response } = await post(body, {
      "X-Signature-256": undefined,
      "x-SIGNATURE-256": signBody(body, SECRET),
    });
    expect(response.statusCode).toBe(202);
  });

  it("answers 401 and enqueues nothing for a missing or wrong signature", async () => {
    const { queue, post } = setup();
    const body = fixtureBody("stack.create", NOW);
    expect((await post(body, { "X-Signature-256": undefined })).response.statusCode).toBe(401);
    expect(
      (await post(body, { "X-Signature-256": signBody(body, "wrong-secret-0123456") })).response
        .statusCode,
    ).toBe(401);
    expect(queue.messages).toHaveLength(0);
  });

  it("answers 413 for a body over 256 KiB before verifying anything", async () => {
    const { queue, post } = setup();
    const { response } = await post(Buffer.alloc(MAX_BODY_BYTES + 1, 32));
    expect(response.statusCode).toBe(413);
    expect(queue.messages).toHaveLength(0);
  });

  it("answers 400 for a signed body that is not JSON or not an audit-trail envelope", async () => {
    const { queue, post } = setup();
    expect((await post("not json")).response.statusCode).toBe(400);
    expect((await post(JSON.stringify({ hello: "world" }))).response.statusCode).toBe(400);
    expect(queue.messages).toHaveLength(0);
  });

  it("accepts (202) a stack.update whose ID is absent, enqueues nothing and reports its shape", async () => {
    const { queue, post } = setup();
    const event = fixture("stack.update", NOW);
    event.data = { args: { Input: { Labels: ["team:secret"] } } };
    const { response, outcome } = await post(JSON.stringify(event));
    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body)).toEqual({
      status: "accepted-unidentified",
      reason: "event carries no stack ID",
    });
    expect(queue.messages).toHaveLength(0);
    expect(outcome).toMatchObject({
      result: "unidentified",
      event: { unidentified: { shape: { "data.args.Input.Labels[]": "string" } } },
    });
  });

  it("answers 400 and changes nothing for a hostile stack ID", async () => {
    const { queue, post } = setup();
    const event = fixture("stack.create", NOW);
    event.data = { ...event.data, ID: "payments-*" };
    const { response } = await post(JSON.stringify(event));
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      message: "stack ID is not a valid Spacelift slug",
    });
    expect(queue.messages).toHaveLength(0);
  });

  it("enqueues events of the longest stack and space IDs it accepts in a group SQS accepts (at most 128 characters), one per resource", async () => {
    // Attack: a stack ID of 123+ characters made `stack:<id>` longer than SQS's 128-character
    // MessageGroupId, so every delivery of its events answered 503 and the event was lost.
    const { queue, post } = setup();
    const longStack = "a".repeat(128);
    const otherLongStack = `${"a".repeat(127)}b`;
    const longSpace = `${"s".repeat(101)}-01HPE6H08F8HR8PJR78DPYR3TC`;
    const create = (id: string) => {
      const event = fixture("stack.create", NOW);
      event.data = { ...event.data, ID: id };
      return JSON.stringify(event);
    };
    const space = fixture("space.create", NOW);
    space.data = { ...space.data, ID: longSpace };
    const answers = [
      await post(create(longStack)),
      await post(create(otherLongStack)),
      await post(`${create(longStack)} `),
      await post(JSON.stringify(space)),
    ];
    expect(answers.map(({ response }) => response.statusCode)).toEqual([202, 202, 202, 202]);
    expect(queue.messages.map(({ group }) => SQS_MESSAGE_ID.test(group))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    const [first, second, again, spaceMessage] = queue.messages.map(({ group }) => group);
    expect(first).toBe(again);
    expect(first).not.toBe(second);
    expect(first?.startsWith("stack:")).toBe(true);
    expect(spaceMessage?.startsWith("space:")).toBe(true);
    // Short IDs keep the group they always had (messages in flight keep their order).
    await post(create("payments-api"));
    expect(queue.messages.at(-1)?.group).toBe("stack:payments-api");
  });

  it("answers 403 for another Spacelift account's event and enqueues nothing", async () => {
    const { queue, post } = setup();
    const { response } = await post(
      JSON.stringify({ ...fixture("stack.create", NOW), account: "evil" }),
    );
    expect(response.statusCode).toBe(403);
    expect(queue.messages).toHaveLength(0);
  });

  it("answers 200 without enqueueing for events it does not act on", async () => {
    const { queue, post } = setup();
    for (const body of [
      fixtureBody("audit_trail_webhook.set", NOW),
      fixtureBody("audit_trail_webhook.delete", NOW),
      JSON.stringify({ ...fixture("stack.delete", NOW), action: "run.trigger" }),
      JSON.stringify({ run: { id: "r" }, state: "FINISHED", stack: { id: "payments-api" } }),
    ]) {
      const { response, outcome } = await post(body);
      expect(response.statusCode).toBe(200);
      expect(outcome.result).toBe("ignored");
    }
    expect(queue.messages).toHaveLength(0);
  });

  it("answers 503 when enqueueing fails, without leaking the cause", async () => {
    const { queue, post } = setup();
    queue.failWith = new Error("AccessDenied: arn:aws:sqs:secret-internal-detail");
    const { response, outcome } = await post(fixtureBody("stack.create", NOW));
    expect(response.statusCode).toBe(503);
    expect(response.body).not.toContain("secret-internal-detail");
    expect(outcome.result).toBe("failed");
  });

  it("answers 500 without details when the secrets cannot be read", async () => {
    const { deps } = setup();
    const body = Buffer.from(fixtureBody("stack.create", NOW));
    const { response } = await receiveWebhook(
      { method: "POST", path: WEBHOOK_PATH, headers: {}, body },
      {
        ...deps,
        secrets: async () => {
          throw new Error("ParameterNotFound /internal/name");
        },
      },
    );
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain("internal");
  });

  it("answers 404 for another path and 405 for another method", async () => {
    const { deps } = setup();
    const body = Buffer.from(fixtureBody("stack.create", NOW));
    const headers = { "x-signature-256": signBody(body, SECRET) };
    expect(
      (await receiveWebhook({ method: "POST", path: "/other", headers, body }, deps)).response
        .statusCode,
    ).toBe(404);
    expect(
      (await receiveWebhook({ method: "GET", path: WEBHOOK_PATH, headers, body }, deps)).response
        .statusCode,
    ).toBe(405);
  });
});
