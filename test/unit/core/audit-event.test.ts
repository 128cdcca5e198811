import { describe, expect, it } from "vitest";
import { eventResourceKey, parseAuditEvent } from "../../../functions/core/audit-event.ts";
import { ForeignAccountError, InvalidEventError } from "../../../functions/core/errors.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import {
  DATA_SPACE,
  fixture,
  fixtureBody,
  PRODUCTION_SPACE,
  STAGING_SPACE,
} from "../../../testkit/spacelift/fixtures.ts";

const options = { account: "acme", defaultSpaceId: "root" as SpaceId };
const parse = (body: unknown) =>
  parseAuditEvent(typeof body === "string" ? body : JSON.stringify(body), options);

describe("parseAuditEvent on Spacelift's samples", () => {
  it("reads stack.create's ID from data.ID, its space and labels from data.args.Input", () => {
    expect(parse(fixtureBody("stack.create"))).toMatchObject({
      type: "stack.upserted",
      stackId: "payments-api",
      spaceId: PRODUCTION_SPACE,
      labels: ["team:payments", "env:production"],
      timestamp: 1764072000000,
      actor: "github::jdoe",
    });
  });

  it("reads stack.update's ID from data.args.ID and the new space", () => {
    expect(parse(fixtureBody("stack.update"))).toMatchObject({
      type: "stack.upserted",
      action: "stack.update",
      stackId: "payments-api",
      spaceId: STAGING_SPACE,
    });
  });

  it("reads stack.delete, space.create and space.delete identifiers", () => {
    expect(parse(fixtureBody("stack.delete"))).toMatchObject({
      type: "stack.deleted",
      stackId: "payments-api",
    });
    expect(parse(fixtureBody("space.create"))).toMatchObject({
      type: "space.upserted",
      spaceId: DATA_SPACE,
      parentSpaceId: PRODUCTION_SPACE,
      name: "data-platform",
    });
    expect(parse(fixtureBody("space.delete"))).toMatchObject({
      type: "space.deleted",
      spaceId: DATA_SPACE,
    });
  });

  it("puts a stack created without a space into the default space", () => {
    const event = fixture("stack.create");
    (event.data.args as { Input: { Space: unknown } }).Input.Space = null;
    expect(parse(event)).toMatchObject({ spaceId: "root" });
  });

  it("leaves space and labels unknown when stack.update does not carry them", () => {
    const event = fixture("stack.update");
    event.data = { args: { ID: "payments-api", Input: {} } };
    expect(parse(event)).toMatchObject({ spaceId: undefined, labels: undefined });
  });

  it("applies a stack.update whose stack carries a label longer than any allow-list can name, ignoring that label", () => {
    // Attack: a stack creator adds a 300-character label; every later event of the stack (a
    // move to another space included) was refused with 400 and lost. No allow-list rule can
    // name such a label (permissions.ts: at most 128 characters), so it changes no role.
    const event = fixture("stack.update");
    const input = (event.data.args as { Input: { Labels?: unknown } }).Input;
    input.Labels = ["team:payments", "x".repeat(300)];
    expect(parse(event)).toMatchObject({
      type: "stack.upserted",
      spaceId: STAGING_SPACE,
      labels: ["team:payments"],
    });
  });

  it("does not refuse an event over envelope fields it never uses (a forwarded-for chain as remoteIP, a long actor, mutation)", () => {
    // Attack: a user whose requests reach Spacelift through proxies (or who sends their own
    // X-Forwarded-For) could make remoteIP longer than 64 characters, and every event of their
    // changes answered 400 and was lost. Only the actor is kept (for logs), cut to 512.
    const event = {
      ...fixture("stack.update"),
      remoteIP: "2001:db8:85a3:0:0:8a2e:370:7334, 2001:db8:85a3:0:0:8a2e:370:7335, 198.51.100.7",
      actor: `github::${"j".repeat(600)}`,
      context: { mutation: `stackUpdate${"x".repeat(300)}` },
    };
    const parsed = parse(event);
    expect(parsed).toMatchObject({ type: "stack.upserted", spaceId: STAGING_SPACE });
    expect(parsed.type !== "ignored" && parsed.actor?.length).toBe(512);
  });

  it("finds the ID where other shapes may carry it (space.update with data.args.Space)", () => {
    const event = { ...fixture("space.delete"), action: "space.update" };
    expect(parse(event)).toMatchObject({ type: "space.upserted", spaceId: DATA_SPACE });
  });

  it("groups messages per resource", () => {
    expect(eventResourceKey(parse(fixtureBody("stack.create")) as never)).toBe(
      "stack:payments-api",
    );
    expect(eventResourceKey(parse(fixtureBody("space.delete")) as never)).toBe(
      `space:${DATA_SPACE}`,
    );
  });
});

describe("parseAuditEvent ignores what it does not act on", () => {
  it.each([
    ["audit_trail_webhook.set", false],
    ["audit_trail_webhook.delete", true],
  ] as const)("%s is ignored (alarm: %s)", (name, alarm) => {
    expect(parse(fixtureBody(name))).toMatchObject({ type: "ignored", alarm });
  });

  it("raises the alarm when the webhook is saved as disabled", () => {
    const event = fixture("audit_trail_webhook.set");
    (event.data.args as { Enabled: boolean }).Enabled = false;
    expect(parse(event)).toMatchObject({ type: "ignored", alarm: true });
  });

  it("ignores run events and run state-change payloads", () => {
    expect(parse({ ...fixture("stack.delete"), action: "run.trigger" })).toMatchObject({
      type: "ignored",
    });
    expect(
      parse({ run: { id: "01ABC" }, state: "FINISHED", stack: { id: "payments-api" } }),
    ).toMatchObject({ type: "ignored", action: "run.state" });
  });
});

describe("parseAuditEvent refuses what it cannot trust", () => {
  it.each([
    ["not JSON", "{nope"],
    ["a JSON array", "[]"],
    ["an object without an action", JSON.stringify({ account: "acme", timestamp: 1 })],
    [
      "a timestamp that is not a number",
      JSON.stringify({ ...fixture("stack.delete"), timestamp: "x" }),
    ],
  ])("%s is invalid", (_label, body) => {
    expect(() => parse(body)).toThrow(InvalidEventError);
  });

  // Issue 14 goal 5: an absent ID is payload drift, not hostility (it was a 400 and the change
  // was lost until the next full pass). The shape is kept for the log; the catch-up converges it.
  it("reads an action we handle that carries no ID as unidentified, with the body's shape and no values", () => {
    const event = parse({
      ...fixture("stack.update"),
      data: { args: { Stack: "payments-api", Input: { Labels: ["secret-label"], Space: null } } },
    });
    expect(event).toMatchObject({
      type: "ignored",
      action: "stack.update",
      reason: "event carries no stack ID",
      unidentified: {
        shape: {
          "data.args.Stack": "string",
          "data.args.Input.Labels": "array",
          "data.args.Input.Labels[]": "string",
          "data.args.Input.Space": "null",
          timestamp: "number",
        },
      },
    });
    expect(JSON.stringify(event)).not.toContain("secret-label");
    expect(JSON.stringify(event)).not.toContain("payments-api");
    expect(parse({ ...fixture("space.delete"), data: {} })).toMatchObject({
      type: "ignored",
      reason: "event carries no space ID",
      unidentified: { shape: { data: "object" } },
    });
  });

  it("still refuses a handled action whose ID is present but not a slug", () => {
    expect(() =>
      parse({ ...fixture("stack.delete"), data: { args: { ID: "pay ments" } } }),
    ).toThrow(InvalidEventError);
  });

  const hostileStackIds = [
    "*",
    "payments-*",
    "pay?ments",
    "payments:api",
    "payments/api",
    "payments api",
    "paymënts",
    "Payments-API",
    "",
    "a".repeat(129),
    42,
    ["payments-api"],
  ];
  it.each(hostileStackIds.map((id) => [JSON.stringify(id), id]))(
    "refuses the stack ID %s",
    (_label, id) => {
      const event = fixture("stack.create");
      event.data = { ...event.data, ID: id };
      expect(() => parse(event)).toThrow(InvalidEventError);
      const deletion = { ...fixture("stack.delete"), data: { args: { ID: id } } };
      expect(() => parse(deletion)).toThrow(InvalidEventError);
    },
  );

  const hostileSpaceIds = [
    "*",
    "production-*",
    "production-01HND497T9JKR76MR3KA2CDJH?",
    "production:01HND497T9JKR76MR3KA2CDJHP",
    "production/01HND497T9JKR76MR3KA2CDJHP",
    "production-01hnd497t9jkr76mr3ka2cdjhp",
    "production",
    "root:*",
  ];
  it.each(hostileSpaceIds)("refuses the space ID %s in a stack and as a space", (id) => {
    const event = fixture("stack.create");
    (event.data.args as { Input: { Space: unknown } }).Input.Space = id;
    expect(() => parse(event)).toThrow(InvalidEventError);
    expect(() => parse({ ...fixture("space.delete"), data: { args: { Space: id } } })).toThrow(
      InvalidEventError,
    );
  });

  it("refuses events from another Spacelift account", () => {
    expect(() => parse({ ...fixture("stack.create"), account: "evil" })).toThrow(
      ForeignAccountError,
    );
  });

  it("accepts the built-in spaces root and legacy", () => {
    for (const space of ["root", "legacy"]) {
      const event = fixture("stack.create");
      (event.data.args as { Input: { Space: unknown } }).Input.Space = space;
      expect(parse(event)).toMatchObject({ spaceId: space });
    }
  });
});
