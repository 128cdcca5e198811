/**
 * The audit-trail catch-up's decisions (functions/core/catch-up.ts) over in-memory ports: what
 * it reads, what it enqueues (synthesized webhook events stamped with the entry's time), and
 * where it leaves its checkpoint, including when it fails part-way.
 */
import { describe, expect, it } from "vitest";
import { parseAuditEvent } from "../../../functions/core/audit-event.ts";
import { type CatchUpDeps, catchUp } from "../../../functions/core/catch-up.ts";
import { CatchUpIncompleteError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import type {
  AuditTrailEntry,
  CatchUpCheckpoint,
  SpaceliftAuditTrail,
  SpaceliftSpace,
  SpaceliftStack,
  UnusableSpaceliftResource,
} from "../../../functions/core/ports.ts";
import {
  parseAffectedResource,
  parseSpace,
  parseStack,
  type SpaceFields,
  type StackFields,
} from "../../../functions/spacelift/resources.ts";
import { InMemoryQueue } from "../../../testkit/fakes/in-memory.ts";

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const MINUTE = 60_000;
const PRODUCTION = "production-01HND497T9JKR76MR3KA2CDJHP";

class InMemoryAuditTrail implements SpaceliftAuditTrail {
  entries: AuditTrailEntry[] = [];
  /** What Spacelift answers, as it answers it: parsed on the way out, as the client parses. */
  stacks = new Map<string, StackFields>();
  spaces = new Map<string, SpaceFields>();
  readonly sinces: number[] = [];
  lookups = 0;
  #id = 0;

  record(action: string, resourceId: string | null, at: number, resourceType?: string): void {
    this.#id += 1;
    const type = resourceType ?? (action.split(".")[0] ?? "").toUpperCase();
    this.entries.push({
      id: `entry-${this.#id}`,
      action,
      resourceType: type,
      resource: parseAffectedResource(type, resourceId),
      createdAt: at,
    });
  }

  async entriesSince(since: number): Promise<readonly AuditTrailEntry[]> {
    this.sinces.push(since);
    return this.entries
      .filter(({ createdAt }) => createdAt >= since)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  async stack(id: StackId): Promise<SpaceliftStack | UnusableSpaceliftResource | undefined> {
    this.lookups += 1;
    const stack = this.stacks.get(id);
    return stack === undefined ? undefined : parseStack(stack);
  }

  async space(id: SpaceId): Promise<SpaceliftSpace | UnusableSpaceliftResource | undefined> {
    this.lookups += 1;
    const space = this.spaces.get(id);
    return space === undefined ? undefined : parseSpace(space, "unusable");
  }
}

/** The DynamoDB checkpoint's semantics: never backwards. */
class InMemoryCheckpoint implements CatchUpCheckpoint {
  value: number | undefined;
  readonly writes: number[] = [];
  async read(): Promise<number | undefined> {
    return this.value;
  }
  async advance(to: number, replacing?: number): Promise<void> {
    this.writes.push(to);
    if (replacing !== undefined) {
      if (this.value === replacing) this.value = to;
      return;
    }
    if (this.value === undefined || to > this.value) this.value = to;
  }
}

function setup(settings: Partial<CatchUpDeps["settings"]> = {}) {
  const auditTrail = new InMemoryAuditTrail();
  const queue = new InMemoryQueue();
  const checkpoint = new InMemoryCheckpoint();
  let now = NOW;
  const deps: CatchUpDeps = {
    account: "acme",
    auditTrail,
    queue,
    checkpoint,
    settings: {
      initialWindowMs: 60 * MINUTE,
      overlapMs: 2 * MINUTE,
      maxResourcesPerRun: 500,
      maxLookbackMs: 7 * 24 * 60 * MINUTE,
      ...settings,
    },
    now: () => now,
  };
  return {
    auditTrail,
    queue,
    checkpoint,
    deps,
    setNow: (value: number) => {
      now = value;
    },
  };
}

/** The queued bodies as the provisioner will read them. */
function parsedMessages(queue: InMemoryQueue) {
  return queue.messages.map(({ body, group }) => ({
    group,
    event: parseAuditEvent(body, { account: "acme", defaultSpaceId: "root" as SpaceId }),
  }));
}

describe("catchUp", () => {
  it("with no checkpoint, reads the last hour, enqueues each changed stack's current state stamped with its entry's time, and checkpoints the newest entry", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    auditTrail.stacks.set("payments-api", {
      id: "payments-api",
      space: PRODUCTION,
      labels: ["team:payments"],
    });
    auditTrail.record("stack.create", "payments-api", NOW - 10 * MINUTE);
    auditTrail.record("run.trigger", "run-1", NOW - 5 * MINUTE, "RUN");

    const report = await catchUp(deps);

    expect(auditTrail.sinces).toEqual([NOW - 60 * MINUTE]);
    expect(parsedMessages(queue)).toEqual([
      {
        group: "stack:payments-api",
        event: expect.objectContaining({
          type: "stack.upserted",
          stackId: "payments-api",
          spaceId: PRODUCTION,
          labels: ["team:payments"],
          timestamp: NOW - 10 * MINUTE,
          actor: "spacelift-role-vending::catch-up",
        }),
      },
    ]);
    expect(report).toMatchObject({ entriesRead: 2, deferred: 0, checkpoint: NOW - 5 * MINUTE });
    expect(checkpoint.value).toBe(NOW - 5 * MINUTE);
  });

  it("reads again from the checkpoint minus the overlap, and a re-run enqueues nothing SQS would not drop as a duplicate", async () => {
    const { auditTrail, queue, checkpoint, deps, setNow } = setup({ overlapMs: 2 * MINUTE });
    auditTrail.stacks.set("a", { id: "a", space: "root", labels: [] });
    auditTrail.stacks.set("b", { id: "b", space: "root", labels: [] });
    auditTrail.record("stack.create", "a", NOW - 10 * MINUTE);
    auditTrail.record("stack.update", "b", NOW - MINUTE);
    await catchUp(deps);
    const first = queue.messages.map(({ deduplicationId }) => deduplicationId);
    expect(first).toHaveLength(2);

    setNow(NOW + 5 * MINUTE);
    const again = await catchUp(deps);

    expect(auditTrail.sinces.at(-1)).toBe(NOW - 3 * MINUTE);
    // Only `b` is within the overlap; its message is the same body, so the same deduplication ID.
    expect(again.enqueued.map(({ resource }) => resource)).toEqual(["stack:b"]);
    expect(queue.messages.slice(2).map(({ deduplicationId }) => deduplicationId)).toEqual([
      first[1],
    ]);
    expect(checkpoint.value).toBe(NOW - MINUTE);
  });

  it("enqueues a resource once per run, with its newest entry's time, however many entries name it", async () => {
    const { auditTrail, queue, deps } = setup();
    auditTrail.stacks.set("a", { id: "a", space: "root", labels: ["x"] });
    auditTrail.record("stack.create", "a", NOW - 20 * MINUTE);
    auditTrail.record("stack.update", "a", NOW - 15 * MINUTE);
    auditTrail.record("stack.update", "a", NOW - 12 * MINUTE);

    await catchUp(deps);

    expect(parsedMessages(queue).map(({ event }) => event.timestamp)).toEqual([NOW - 12 * MINUTE]);
    expect(auditTrail.lookups).toBe(1);
  });

  it("turns a stack.delete of a stack Spacelift no longer has into a delete, and a space's current name, parent and labels into a space.update", async () => {
    const { auditTrail, queue, deps } = setup();
    auditTrail.spaces.set(PRODUCTION, {
      id: PRODUCTION,
      name: "production",
      parentSpace: "root",
      labels: ["env:prod"],
    });
    auditTrail.record("stack.create", "gone", NOW - 30 * MINUTE);
    auditTrail.record("stack.delete", "gone", NOW - 20 * MINUTE);
    auditTrail.record("space.update", PRODUCTION, NOW - 10 * MINUTE);

    await catchUp(deps);

    expect(parsedMessages(queue).map(({ event }) => event)).toEqual([
      expect.objectContaining({
        type: "stack.deleted",
        stackId: "gone",
        timestamp: NOW - 20 * MINUTE,
      }),
      expect.objectContaining({
        type: "space.upserted",
        spaceId: PRODUCTION,
        name: "production",
        parentSpaceId: "root",
        labels: ["env:prod"],
      }),
    ]);
  });

  it("does not delete a stack Spacelift does not return when no stack.delete was read: left to the reconciler", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    auditTrail.record("stack.update", "invisible", NOW - 10 * MINUTE);

    const report = await catchUp(deps);

    expect(queue.messages).toEqual([]);
    expect(report.skipped).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/no stack\.delete was read/) }),
    ]);
    expect(checkpoint.value).toBe(NOW - 10 * MINUTE);
  });

  it("logs and skips entries whose resource ID is not a slug (or of the wrong type), and moves on", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    auditTrail.stacks.set("ok", { id: "ok", space: "root", labels: [] });
    auditTrail.record("stack.create", "payments-*", NOW - 30 * MINUTE);
    auditTrail.record("stack.create", null, NOW - 25 * MINUTE);
    auditTrail.record("space.create", "ok", NOW - 22 * MINUTE, "STACK");
    auditTrail.record("stack.create", "ok", NOW - 20 * MINUTE);

    const report = await catchUp(deps);

    expect(report.skipped.map(({ reason }) => reason)).toEqual([
      "resource ID is not a valid stack ID",
      "resource ID is not a valid stack ID",
      "affected resource type STACK, not SPACE",
    ]);
    expect(queue.messages.map(({ group }) => group)).toEqual(["stack:ok"]);
    expect(checkpoint.value).toBe(NOW - 20 * MINUTE);
  });

  it("skips a stack whose space, or a space whose parent, Spacelift now gives with an ID that fails validation, and enqueues nothing for either", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    auditTrail.stacks.set("payments-api", { id: "payments-api", space: "root:*", labels: [] });
    auditTrail.spaces.set(PRODUCTION, {
      id: PRODUCTION,
      name: "production",
      parentSpace: "root/../x",
      labels: [],
    });
    auditTrail.record("stack.update", "payments-api", NOW - 30 * MINUTE);
    auditTrail.record("space.update", PRODUCTION, NOW - 20 * MINUTE);

    const report = await catchUp(deps);

    expect(report.skipped.map(({ reason }) => reason)).toEqual([
      "the stack's space is not a valid space ID",
      "the space's parent is not a valid space ID",
    ]);
    expect(queue.messages).toEqual([]);
    expect(checkpoint.value).toBe(NOW - 20 * MINUTE);
  });

  it("fails part-way with the checkpoint after the last resource fully enqueued, and the next run enqueues the rest", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    for (const [id, minutesAgo] of [
      ["a", 30],
      ["b", 20],
      ["c", 10],
    ] as const) {
      auditTrail.stacks.set(id, { id, space: "root", labels: [] });
      auditTrail.record("stack.create", id, NOW - minutesAgo * MINUTE);
    }
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = async (message) => {
      if (message.group === "stack:b") throw new Error("SQS unavailable");
      return enqueue(message);
    };

    const error = await catchUp(deps).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(CatchUpIncompleteError);
    expect((error as CatchUpIncompleteError).report.checkpoint).toBe(NOW - 30 * MINUTE);
    expect(checkpoint.value).toBe(NOW - 30 * MINUTE);
    expect(queue.messages.map(({ group }) => group)).toEqual(["stack:a"]);

    queue.enqueue = enqueue;
    await catchUp(deps);

    expect(queue.messages.map(({ group }) => group)).toEqual([
      "stack:a",
      "stack:a",
      "stack:b",
      "stack:c",
    ]);
    expect(checkpoint.value).toBe(NOW - 10 * MINUTE);
  });

  it("enqueues at most maxResourcesPerRun resources, oldest first, and checkpoints before the rest", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup({ maxResourcesPerRun: 2 });
    for (const [id, minutesAgo] of [
      ["c", 10],
      ["a", 30],
      ["b", 20],
    ] as const) {
      auditTrail.stacks.set(id, { id, space: "root", labels: [] });
      auditTrail.record("stack.create", id, NOW - minutesAgo * MINUTE);
    }

    const report = await catchUp(deps);

    expect(queue.messages.map(({ group }) => group)).toEqual(["stack:a", "stack:b"]);
    expect(report.deferred).toBe(1);
    expect(checkpoint.value).toBe(NOW - 20 * MINUTE);
  });

  it("with nothing to read and no checkpoint, keeps the window's start, so the next run does not slide past it", async () => {
    const { auditTrail, checkpoint, deps, setNow } = setup();

    await catchUp(deps);
    setNow(NOW + 30 * MINUTE);
    await catchUp(deps);

    expect(checkpoint.value).toBe(NOW - 60 * MINUTE);
    expect(auditTrail.sinces).toEqual([NOW - 60 * MINUTE, NOW - 62 * MINUTE]);
  });

  it("reads no further back than maxLookbackMs from a very old checkpoint, and reports it", async () => {
    const { auditTrail, checkpoint, deps } = setup({ maxLookbackMs: 24 * 60 * MINUTE });
    checkpoint.value = NOW - 30 * 24 * 60 * MINUTE;

    const report = await catchUp(deps);

    expect(auditTrail.sinces).toEqual([NOW - 24 * 60 * MINUTE]);
    expect(report.lookbackCappedFrom).toBe(NOW - 30 * 24 * 60 * MINUTE);
  });

  it("fails without moving the checkpoint when the audit trail cannot be listed", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    checkpoint.value = NOW - 10 * MINUTE;
    auditTrail.entriesSince = async () => {
      throw new Error("page 3 failed");
    };

    await expect(catchUp(deps)).rejects.toThrow("page 3 failed");
    expect(checkpoint.writes).toEqual([]);
    expect(queue.messages).toEqual([]);
  });
});

describe("catchUp with a checkpoint in the future (someone wrote the ledger table)", () => {
  it("does not stall: reads the initial window, enqueues, and moves the checkpoint back to what it handled", async () => {
    const { auditTrail, queue, checkpoint, deps } = setup();
    checkpoint.value = NOW + 365 * 24 * 60 * MINUTE;
    auditTrail.stacks.set("payments-api", { id: "payments-api", space: PRODUCTION, labels: [] });
    auditTrail.record("stack.create", "payments-api", NOW - 10 * MINUTE);

    const report = await catchUp(deps);

    expect(auditTrail.sinces).toEqual([NOW - 60 * MINUTE]);
    expect(queue.messages.map(({ group }) => group)).toEqual(["stack:payments-api"]);
    expect(report).toMatchObject({
      futureCheckpointFrom: NOW + 365 * 24 * 60 * MINUTE,
      checkpoint: NOW - 10 * MINUTE,
    });
    expect(checkpoint.value).toBe(NOW - 10 * MINUTE);
  });

  it("trusts a checkpoint within the clock skew ahead (Spacelift's clock may run ahead)", async () => {
    const { auditTrail, checkpoint, deps } = setup();
    checkpoint.value = NOW + 4 * MINUTE;

    const report = await catchUp(deps);

    expect(auditTrail.sinces).toEqual([NOW + 2 * MINUTE]);
    expect(report.futureCheckpointFrom).toBeUndefined();
    expect(checkpoint.value).toBe(NOW + 4 * MINUTE);
  });
});
