/**
 * The reconciler plans: every listed resource whose roles or parameters differ becomes one
 * message on the event queue, sent ten a call, and planning makes no IAM, SSM or ledger call
 * beyond the inventory. In-memory stores count every call.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import type { LedgerEntry } from "../../../../functions/core/ports.ts";
import { backfill } from "../../../../functions/core/reconcile/backfill.ts";
import { reconcile } from "../../../../functions/core/reconcile/pass.ts";
import type { ReconcilerDeps } from "../../../../functions/core/reconcile/pass-state.ts";
import type { StackFields } from "../../../../functions/spacelift/resources.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
  listedSpaces,
  listedStacks,
} from "../../../../testkit/fakes/in-memory.ts";
import {
  applyQueued,
  InMemoryPlanQueue,
  provisionerFor,
} from "../../../../testkit/fakes/plan-queue.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const T0 = new Date("2026-11-20T12:00:00.000Z");
const STACKS = 1_000;

async function setup(options: { dryRun?: boolean } = {}) {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
  });
  const roles = new InMemoryRoleStore();
  const parameters = new InMemoryParameterStore();
  const ledger = new InMemoryLedger();
  const ledgerCalls: string[] = [];
  const countedLedger = {
    get: async (resource: string) => {
      ledgerCalls.push(`get ${resource}`);
      return ledger.get(resource);
    },
    record: async (entry: LedgerEntry) => {
      ledgerCalls.push(`record ${entry.resource}`);
      return ledger.record(entry);
    },
  };
  const queue = new InMemoryPlanQueue();
  const stacks: StackFields[] = Array.from({ length: STACKS }, (_, index) => ({
    id: `stack-${index}`,
    space: "root",
    labels: [],
  }));
  const deps: ReconcilerDeps = {
    config,
    settings: {
      orphanGracePeriodHours: 72,
      maxDeletionsPerRun: 20,
      maxRevocationsPerRun: 50,
      concurrency: 4,
      dryRun: options.dryRun ?? false,
    },
    roles,
    parameters,
    ledger: countedLedger,
    events: queue,
    spacelift: async () => ({
      available: true,
      directory: {
        listStacks: async () => listedStacks(stacks),
        listSpaces: async () =>
          listedSpaces([{ id: "root", name: "root", parentSpace: null, labels: [] }]),
      },
    }),
    now: () => T0,
    sleep: async () => {},
  };
  return { deps, roles, parameters, ledgerCalls, queue };
}

describe("planning a pass", () => {
  it("enqueues one message per resource that needs a write, 10 a call, with no IAM, SSM or ledger call beyond the inventory", async () => {
    const { deps, roles, parameters, ledgerCalls, queue } = await setup();

    const report = await reconcile(deps);

    expect(report.counts).toMatchObject({ enqueued: STACKS + 1, queueCalls: 101, inSync: 0 });
    expect(queue.messages).toHaveLength(STACKS + 1);
    expect(new Set(queue.messages.map(({ group }) => group)).size).toBe(STACKS + 1);
    expect(report.decisions.filter(({ outcome }) => outcome === "enqueued")).toHaveLength(
      STACKS + 1,
    );
    // The inventory's bulk read of the role path is the only IAM call; nothing is written.
    expect(roles.calls).toEqual(["describeAllUnder"]);
    expect(parameters.calls).toEqual([]);
    expect(ledgerCalls).toEqual([]);
  });

  it("enqueues nothing for resources in sync", async () => {
    const { deps, roles, queue } = await setup();
    await reconcile(deps);
    await applyQueued(queue, provisionerFor(deps));
    roles.calls.length = 0;

    const report = await reconcile(deps);

    expect(report.counts).toMatchObject({ enqueued: 0, queueCalls: 0, inSync: STACKS + 1 });
    expect(queue.messages).toEqual([]);
    expect(roles.writes()).toEqual([]);
  });

  it("dry run: plans the same, enqueues nothing", async () => {
    const { deps, queue } = await setup({ dryRun: true });

    const report = await reconcile(deps);

    expect(report.decisions.filter(({ outcome }) => outcome === "planned")).toHaveLength(
      STACKS + 1,
    );
    expect(report.counts).toMatchObject({ enqueued: 0, queueCalls: 0 });
    expect(queue.calls).toBe(0);
  });

  it("fails every enqueued decision when there is no queue to send the plan to", async () => {
    const { deps } = await setup();
    const { events: _none, ...withoutQueue } = deps;

    const report = await reconcile(withoutQueue);

    expect(new Set(report.decisions.map(({ outcome }) => outcome))).toEqual(new Set(["failed"]));
    expect(report.decisions[0]?.error).toMatch(/EVENT_QUEUE_URL is not set/);
  });

  it("backfill plans the same way: one message per resource, no IAM write", async () => {
    const { deps, roles, queue } = await setup();

    const report = await backfill(deps);

    expect(report.queueCalls).toBe(101);
    expect(queue.messages).toHaveLength(STACKS + 1);
    expect(report.progress).toMatchObject({ created: STACKS + 1, failed: 0 });
    expect(roles.writes()).toEqual([]);
  });
});
