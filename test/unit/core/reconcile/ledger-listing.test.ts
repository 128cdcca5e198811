/**
 * The provisioner's ledger and the reconciler: a resource the reconciler creates or converges
 * is recorded as existing as of Spacelift's listing, so an event dated before the listing (a
 * replayed or very late `stack.delete`) cannot delete the live role, while one dated after it
 * still applies. In-memory IAM, SSM and ledger; the listing comes from a fake directory.
 */
import { describe, expect, it } from "vitest";
import { EVENT_CLOCK_SKEW_MS } from "../../../../functions/core/audit-event.ts";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import type { SpaceliftResources, SpaceliftStack } from "../../../../functions/core/ports.ts";
import { processMessage } from "../../../../functions/core/process-queue-message.ts";
import { reconcile } from "../../../../functions/core/reconcile/pass.ts";
import type { ReconcilerDeps } from "../../../../functions/core/reconcile/pass-state.ts";
import { REVOKED_SESSIONS_POLICY } from "../../../../functions/core/revocation.ts";
import type { SpaceFields, StackFields } from "../../../../functions/spacelift/resources.ts";
import { listedSpaces, listedStacks } from "../../../../testkit/fakes/in-memory.ts";
import { inMemoryProvisionerDeps } from "../../../../testkit/fakes/in-memory-provisioner.ts";
import { InMemorySpacePaths } from "../../../../testkit/fakes/in-memory-space-paths.ts";
import {
  applyQueued,
  InMemoryPlanQueue,
  provisionerFor,
  reconcileThenApply,
  reconcileThenApplyWithOutcomes,
} from "../../../../testkit/fakes/plan-queue.ts";
import { auditEvent, type ResourceAction } from "../../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const MINUTE = 60_000;
const YEAR = 365 * 86_400_000;
/** When the reconciler asks Spacelift for its stacks and spaces. */
const LISTED = Date.UTC(2026, 11, 6, 9, 0, 0);
/** Spacelift takes this long to answer; the reconciler finishes later still. */
const LISTING_TAKES = 10 * MINUTE;

async function setup() {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
  });
  const { roles, parameters, ledger, deps: provisioner } = inMemoryProvisionerDeps(config);
  let clock = LISTED;
  const stacks: StackFields[] = [{ id: "payments-api", space: PROD, labels: [] }];
  const spaces: SpaceFields[] = [
    { id: "root", name: "root", parentSpace: null, labels: [] },
    { id: PROD, name: "production", parentSpace: "root", labels: [] },
  ];
  const reconciler: ReconcilerDeps = {
    config,
    settings: {
      orphanGracePeriodHours: 72,
      maxDeletionsPerRun: 20,
      maxRevocationsPerRun: 50,
      concurrency: 2,
      dryRun: false,
    },
    roles,
    parameters,
    ledger,
    now: () => new Date(clock),
    sleep: async () => {},
    spacelift: async () => ({
      available: true,
      directory: {
        listStacks: async () => {
          clock += LISTING_TAKES;
          return listedStacks(stacks);
        },
        listSpaces: async () => listedSpaces(spaces),
      },
    }),
  };
  const send = (action: ResourceAction, options: { stack?: string; space?: string }, at: number) =>
    processMessage(
      JSON.stringify(auditEvent(action, { account: "acme", ...options, timestamp: at })),
      provisioner,
    );
  return { roles, ledger, reconciler, send };
}

describe("resources the reconciler creates or converges", () => {
  it("are recorded as of the listing (less the clock skew), not as of timestamp 0 or the end of the run", async () => {
    const { ledger, reconciler } = await setup();

    await reconcileThenApply(reconciler);

    const listedAt = LISTED - EVENT_CLOCK_SKEW_MS;
    expect(ledger.entries.get("stack:payments-api")).toMatchObject({
      timestamp: listedAt,
      state: "present",
    });
    expect(ledger.entries.get(`space:${PROD}`)).toEqual({
      resource: `space:${PROD}`,
      timestamp: listedAt,
      state: "present",
    });
  });

  it("keep their role when a stack.delete from years ago is delivered", async () => {
    // Prepare: the stack was first seen by the reconciler (no event ever told it).
    const { roles, reconciler, send } = await setup();
    await reconcileThenApply(reconciler);
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(true);

    // Act
    const replayed = await send("stack.delete", { stack: "payments-api" }, LISTED - 2 * YEAR);
    const spaceReplayed = await send("space.delete", { space: PROD }, LISTED - 2 * YEAR);

    // Assess
    expect(replayed).toMatchObject({ result: "applied", outcome: { result: "stale" } });
    expect(spaceReplayed).toMatchObject({ result: "applied", outcome: { result: "stale" } });
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(true);
    expect(roles.roles.has(`spacelift-space-${PROD}`)).toBe(true);
  });

  it("keep their role against an event dated before the listing, and lose it to one dated after", async () => {
    const { roles, reconciler, send } = await setup();
    await reconcileThenApply(reconciler);

    // Dated before the listing was asked for (and beyond the clock skew): superseded by it.
    const before = await send(
      "stack.delete",
      { stack: "payments-api" },
      LISTED - EVENT_CLOCK_SKEW_MS - 1,
    );
    expect(before).toMatchObject({ outcome: { result: "stale" } });
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(true);

    // Dated while Spacelift was answering: the listing may predate it, so it applies.
    const during = await send("stack.delete", { stack: "payments-api" }, LISTED + MINUTE);
    expect(during).toMatchObject({ outcome: { result: "deleted" } });
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(false);
  });

  it("leave an in-sync resource's older entry as the provisioner wrote it: planning writes no ledger", async () => {
    // Contract change (issue 14): the planner no longer moves every listed resource's entry
    // forward to the listing (a ledger write per resource); only what it enqueues is dated at
    // the listing, by the provisioner. Events that old are refused by the receiver's window.
    const { roles, ledger, reconciler, send } = await setup();
    await send("stack.create", { stack: "payments-api", space: PROD }, LISTED - YEAR);
    const entry = ledger.entries.get("stack:payments-api");

    const report = await reconcileThenApply(reconciler);

    expect(report.decisions.filter(({ resource }) => resource === "stack:payments-api")).toEqual(
      [],
    );
    expect(ledger.entries.get("stack:payments-api")).toEqual(entry);
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(true);
  });

  it("leave a newer entry's timestamp and state alone", async () => {
    const { ledger, reconciler, send } = await setup();
    const newer = LISTED + 30 * MINUTE;
    await send("stack.delete", { stack: "payments-api" }, newer);

    await reconcileThenApply(reconciler);

    expect(ledger.entries.get("stack:payments-api")).toMatchObject({
      timestamp: newer,
      state: "deleted",
    });
  });

  it("do not bring back the role of a stack or space deleted after the listing (a tombstone newer than the listing)", async () => {
    // Attack: the reconciler ran while webhooks arrived. Spacelift listed the stack and space;
    // they were deleted right after, and the provisioner applied the deletes (nothing to remove
    // yet) before the reconciler converged from its listing, which created their roles again:
    // roles that outlived their stack and space until a later run revoked them.
    const { roles, reconciler, send } = await setup();
    const { listStacks } = (
      (await reconciler.spacelift()) as {
        directory: { listStacks: () => Promise<SpaceliftResources<SpaceliftStack>> };
      }
    ).directory;
    const deps: typeof reconciler = {
      ...reconciler,
      spacelift: async () => ({
        available: true,
        directory: {
          listStacks: async () => {
            const listed = await listStacks();
            await send("stack.delete", { stack: "payments-api" }, LISTED + MINUTE);
            await send("space.delete", { space: PROD }, LISTED + MINUTE);
            return listed;
          },
          listSpaces: async () =>
            listedSpaces([
              { id: "root", name: "root", parentSpace: null, labels: [] },
              { id: PROD, name: "production", parentSpace: "root", labels: [] },
            ]),
        },
      }),
    };

    const { report, applied } = await reconcileThenApplyWithOutcomes(deps);

    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(false);
    expect(roles.roles.has(`spacelift-space-${PROD}`)).toBe(false);
    // The plan still says create (it reads no ledger); the provisioner finds the tombstone
    // newer than the listing the events are dated with, and skips them.
    expect(report.decisions).toContainEqual(
      expect.objectContaining({ resource: "stack:payments-api", outcome: "enqueued" }),
    );
    const outcomeOf = (resource: string) =>
      applied.find((each) => each.result === "applied" && each.outcome.resource === resource);
    expect(outcomeOf("stack:payments-api")).toMatchObject({ outcome: { result: "stale" } });
    expect(outcomeOf(`space:${PROD}`)).toMatchObject({ outcome: { result: "stale" } });
  });

  it("plan without reading the ledger, so a deletion applied while they plan is ordered by the provisioner", async () => {
    // Contract change (issue 14): the race this replaced (the reconciler checking the ledger,
    // then creating the role while the provisioner applied the delete) cannot happen: the
    // reconciler writes nothing, and the provisioner applies its event and the delete one
    // after the other in the stack's own message group.
    const { roles, ledger, reconciler, send } = await setup();
    const get = ledger.get.bind(ledger);
    let planning = true;
    let readsWhilePlanning = 0;
    ledger.get = async (resource) => {
      if (planning) readsWhilePlanning += 1;
      return get(resource);
    };
    const queue = new InMemoryPlanQueue();

    await reconcile({ ...reconciler, events: queue });
    planning = false;
    await send("stack.delete", { stack: "payments-api" }, LISTED + MINUTE);
    const applied = await applyQueued(queue, provisionerFor(reconciler));

    expect(readsWhilePlanning).toBe(0);
    expect(applied).toContainEqual(
      expect.objectContaining({ outcome: expect.objectContaining({ result: "stale" }) }),
    );
    expect(roles.roles.has("spacelift-stack-payments-api")).toBe(false);
  });

  it("record Spacelift's space names as of the listing, so a rename applied since is not undone", async () => {
    // Attack: a space renamed while the reconciler ran (the provisioner recorded the new name,
    // dated by the event) had its old name written back as of the end of the listing, so every
    // stack event until the next run rendered roles trusting the old {spacePath}.
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
      AWS_ACCOUNT_ID: "123456789012",
      SUBJECT_TEMPLATE:
        "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
    });
    const { reconciler } = await setup();
    const spacePaths = new InMemorySpacePaths();
    const { deps: provisioner } = inMemoryProvisionerDeps(config, { spacePaths });
    const renamed = JSON.stringify({
      ...auditEvent("space.update", { account: "acme", space: PROD, timestamp: LISTED + MINUTE }),
    });
    const event = JSON.parse(renamed);
    event.data.args.Input = { Name: "prod-eu", ParentSpace: "root" };
    let clock = LISTED;
    const deps: typeof reconciler = {
      ...reconciler,
      config,
      ledger: provisioner.ledger,
      spacePaths,
      now: () => new Date(clock),
      spacelift: async () => ({
        available: true,
        directory: {
          listStacks: async () => listedStacks([]),
          listSpaces: async () => {
            clock += LISTING_TAKES;
            // Renamed after Spacelift answered, before the reconciler records what it listed.
            await processMessage(JSON.stringify(event), provisioner);
            return listedSpaces([
              { id: "root", name: "root", parentSpace: null, labels: [] },
              { id: PROD, name: "production", parentSpace: "root", labels: [] },
            ]);
          },
        },
      }),
    };

    await reconcileThenApply(deps);

    expect(spacePaths.nodes.get(PROD)?.node.name).toBe("prod-eu");
  });

  it("leave alone the roles of spaces an API key without the root space cannot see", async () => {
    // Attack (an unlucky operator): an API key with read access to some spaces only. Every
    // stack and space it could not see looked deleted, so the live roles webhooks vend there
    // were revoked, then deleted after the grace period.
    const HIDDEN = "hidden-01HND4B1Q0W5Z7YV3J6QG2X9TR";
    const { roles, reconciler, send } = await setup();
    await send("space.create", { space: HIDDEN }, LISTED - YEAR);
    await send("stack.create", { stack: "secret-stack", space: HIDDEN }, LISTED - YEAR);
    await send("stack.create", { stack: "gone-stack", space: PROD }, LISTED - YEAR);
    const before = structuredClone(roles.roles.get("spacelift-stack-secret-stack"));
    const restricted: typeof reconciler = {
      ...reconciler,
      spacelift: async () => ({
        available: true,
        directory: {
          // Sees production only (not root, not HIDDEN); gone-stack was deleted for real.
          listStacks: async () => listedStacks([{ id: "payments-api", space: PROD, labels: [] }]),
          listSpaces: async () =>
            listedSpaces([{ id: PROD, name: "production", parentSpace: "root", labels: [] }]),
        },
      }),
    };

    const report = await reconcileThenApply(restricted);

    expect(roles.roles.get("spacelift-stack-secret-stack")).toEqual(before);
    expect(
      Object.keys(roles.roles.get(`spacelift-space-${HIDDEN}`)?.inlinePolicies ?? { none: 1 }),
    ).not.toContain(REVOKED_SESSIONS_POLICY);
    expect(report.decisions).toContainEqual(
      expect.objectContaining({ resource: "stack:secret-stack", outcome: "reported" }),
    );
    // A stack of a space the key does see is still an orphan when Spacelift no longer lists it.
    expect(report.decisions).toContainEqual(
      expect.objectContaining({ resource: "stack:gone-stack", action: "revoke" }),
    );
  });
});
