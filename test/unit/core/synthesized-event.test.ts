import { describe, expect, it } from "vitest";
import { parseAuditEvent } from "../../../functions/core/audit-event.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { messageGroupOf } from "../../../functions/core/queue-message.ts";
import {
  type SynthesizedChange,
  synthesizedMessage,
} from "../../../functions/core/synthesized-event.ts";

const options = { account: "acme", defaultSpaceId: "root" as SpaceId };
const meta = { account: "acme", timestamp: 1_764_073_000_000, source: "reconciler" as const };
const stackId = "payments-api" as StackId;
const spaceId = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;

describe("synthesized events", () => {
  it("a stack.update carries the listed space and labels, read back by the webhook parser", () => {
    const message = synthesizedMessage(
      { kind: "stack.update", stack: { stackId, spaceId, labels: ["team:payments"] } },
      meta,
    );
    expect(parseAuditEvent(message.body, options)).toEqual({
      type: "stack.upserted",
      account: "acme",
      action: "stack.update",
      actor: "spacelift-role-vending::reconciler",
      timestamp: meta.timestamp,
      stackId,
      spaceId,
      labels: ["team:payments"],
    });
    expect(message.group).toBe(messageGroupOf(`stack:${stackId}`));
  });

  it("a stack with no labels says so (an empty list), rather than leaving them unsaid", () => {
    const { body } = synthesizedMessage(
      { kind: "stack.update", stack: { stackId, spaceId, labels: [] } },
      meta,
    );
    expect(parseAuditEvent(body, options)).toMatchObject({ labels: [] });
  });

  it("space.update and both deletes parse to the resource they name, in its own group", () => {
    const changes: [SynthesizedChange, object, string][] = [
      [
        {
          kind: "space.update",
          space: { spaceId, name: "staging", parentSpaceId: "root" as SpaceId, labels: ["x"] },
        },
        { type: "space.upserted", spaceId, name: "staging", parentSpaceId: "root", labels: ["x"] },
        `space:${spaceId}`,
      ],
      [{ kind: "stack.delete", stackId }, { type: "stack.deleted", stackId }, `stack:${stackId}`],
      [{ kind: "space.delete", spaceId }, { type: "space.deleted", spaceId }, `space:${spaceId}`],
    ];
    for (const [change, parsed, group] of changes) {
      const message = synthesizedMessage(change, { ...meta, source: "catch-up" });
      expect(parseAuditEvent(message.body, options)).toMatchObject({
        ...parsed,
        actor: "spacelift-role-vending::catch-up",
        timestamp: meta.timestamp,
      });
      expect(message.group).toBe(group);
    }
  });

  it("the same change at the same time deduplicates; another time does not", () => {
    const change: SynthesizedChange = { kind: "stack.delete", stackId };
    const first = synthesizedMessage(change, meta);
    expect(synthesizedMessage(change, meta).deduplicationId).toBe(first.deduplicationId);
    expect(
      synthesizedMessage(change, { ...meta, timestamp: meta.timestamp + 1 }).deduplicationId,
    ).not.toBe(first.deduplicationId);
  });
});
