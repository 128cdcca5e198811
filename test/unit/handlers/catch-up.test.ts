/**
 * The catch-up's and the receiver's log lines for what issue 14 adds: what an operator sees
 * when the catch-up cannot run or fails, and the shape-only warning of a webhook without an ID.
 */

import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CatchUpIncompleteError } from "../../../functions/core/errors.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import { WEBHOOK_PATH } from "../../../functions/core/receive.ts";
import { signBody } from "../../../functions/core/signature.ts";
import { createHandler as createCatchUpHandler } from "../../../functions/handlers/catch-up.ts";
import { createHandler as createReceiverHandler } from "../../../functions/handlers/receiver.ts";
import { logger } from "../../../functions/observability.ts";
import { parseAffectedResource, parseStack } from "../../../functions/spacelift/resources.ts";
import { InMemoryQueue } from "../../../testkit/fakes/in-memory.ts";
import { lambdaContext } from "../../../testkit/lambda/local-pipeline.ts";
import { fixture } from "../../../testkit/spacelift/fixtures.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the catch-up handler", () => {
  it("logs why it cannot run without an API key, and does nothing", async () => {
    const errors = vi.spyOn(logger, "error");
    const handler = createCatchUpHandler(async () => ({
      available: false,
      reason: "the API key parameter /x does not exist",
    }));

    const summary = await handler({}, lambdaContext("catch-up"));

    expect(summary).toEqual({ ran: false, reason: "the API key parameter /x does not exist" });
    expect(errors).toHaveBeenCalledWith("catch-up cannot run", {
      reason: "the API key parameter /x does not exist",
      actor: "catch-up",
    });
  });

  it("fails the invocation when a run fails part-way, after logging what it did enqueue", async () => {
    const infos = vi.spyOn(logger, "info");
    const queue = new InMemoryQueue();
    const handler = createCatchUpHandler(async () => ({
      available: true,
      deps: {
        account: "acme",
        auditTrail: {
          entriesSince: async () => [
            {
              id: "1",
              action: "stack.create",
              resourceType: "STACK",
              resource: parseAffectedResource("STACK", "a"),
              createdAt: 1_000,
            },
            {
              id: "2",
              action: "stack.create",
              resourceType: "STACK",
              resource: parseAffectedResource("STACK", "b"),
              createdAt: 2_000,
            },
          ],
          stack: async (id) => {
            if (id === "b") throw new Error("Spacelift down");
            return parseStack({ id, space: "root", labels: [] });
          },
          space: async () => undefined,
        },
        queue,
        checkpoint: { read: async () => 500, advance: async () => {} },
        settings: {
          initialWindowMs: 3_600_000,
          overlapMs: 0,
          maxResourcesPerRun: 10,
          maxLookbackMs: 10 ** 12,
        },
        now: () => 3_000,
      },
    }));

    await expect(handler({}, lambdaContext("catch-up"))).rejects.toBeInstanceOf(
      CatchUpIncompleteError,
    );
    expect(queue.messages.map(({ group }) => group)).toEqual(["stack:a"]);
    expect(infos).toHaveBeenCalledWith(
      "catch-up enqueued",
      expect.objectContaining({ resource: "stack:a", change: "stack.update" }),
    );
  });

  it("warns when the checkpoint was in the future, naming it", async () => {
    const warnings = vi.spyOn(logger, "warn");
    const written: number[] = [];
    const handler = createCatchUpHandler(async () => ({
      available: true,
      deps: {
        account: "acme",
        auditTrail: {
          entriesSince: async () => [],
          stack: async () => undefined,
          space: async () => undefined,
        },
        queue: new InMemoryQueue(),
        checkpoint: {
          read: async () => 10 ** 13,
          advance: async (to) => {
            written.push(to);
          },
        },
        settings: {
          initialWindowMs: 1_000_000,
          overlapMs: 0,
          maxResourcesPerRun: 10,
          maxLookbackMs: 10 ** 12,
        },
        now: () => 3_000_000,
      },
    }));

    await handler({}, lambdaContext("catch-up"));

    expect(warnings).toHaveBeenCalledWith(
      "catch-up checkpoint was in the future; read as none and replaced",
      expect.objectContaining({ checkpoint: String(10 ** 13), actor: "catch-up" }),
    );
    expect(written).toEqual([2_000_000]);
  });
});

describe("the receiver handler on a webhook without an ID", () => {
  it("answers 202 and logs the body's shape as a warning, without any value", async () => {
    const warnings = vi.spyOn(logger, "warn");
    const secret = "receiver-handler-secret-0123456789";
    const queue = new InMemoryQueue();
    const now = Date.UTC(2026, 11, 6, 9, 0, 0);
    const handler = createReceiverHandler({
      account: "acme",
      defaultSpaceId: "root" as SpaceId,
      secrets: async () => [secret],
      queue,
      now: () => now,
      eventWindow: { maxAgeMs: 3_600_000, maxSkewMs: 300_000 },
    });
    const event = fixture("stack.update", now);
    event.data = { args: { Input: { Labels: ["team:very-secret"], Description: "hush" } } };
    const body = JSON.stringify(event);

    const response = await handler({
      rawPath: WEBHOOK_PATH,
      headers: { "x-signature-256": signBody(Buffer.from(body), secret) },
      requestContext: { http: { method: "POST", path: WEBHOOK_PATH } },
      body,
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2);

    expect(response.statusCode).toBe(202);
    expect(queue.messages).toEqual([]);
    expect(warnings).toHaveBeenCalledWith(
      "event accepted without an identifier; the catch-up will converge it",
      expect.objectContaining({
        action: "stack.update",
        outcome: "unidentified",
        shape: expect.objectContaining({
          "data.args.Input.Labels[]": "string",
          "data.args.Input.Description": "string",
        }),
      }),
    );
    expect(JSON.stringify(warnings.mock.calls)).not.toMatch(/very-secret|hush/);
  });
});
