/**
 * The reconciler and the per-space cap on stack roles, with in-memory stores: it creates
 * missing roles within the cap only, and repairs each space's count from the roles that exist
 * and what Spacelift lists, without uncounting a stack admitted while it ran.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import { processMessage } from "../../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../../functions/core/provision.ts";
import type { ReconcilerDeps } from "../../../../functions/core/reconcile/pass-state.ts";
import type { StackFields } from "../../../../functions/spacelift/resources.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
  InMemorySpaceQuota,
  listedSpaces,
  listedStacks,
} from "../../../../testkit/fakes/in-memory.ts";
import { reconcileThenApply } from "../../../../testkit/fakes/plan-queue.ts";
import { auditEvent } from "../../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const T0 = new Date("2026-11-20T12:00:00.000Z");

async function setup(maxRolesPerSpace: number) {
  const roles = new InMemoryRoleStore();
  const parameters = new InMemoryParameterStore();
  const ledger = new InMemoryLedger();
  const quota = new InMemorySpaceQuota();
  quota.clock = T0.getTime() - 3_600_000;
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
  });
  const stacks: StackFields[] = [];
  const deps = (options: { dryRun?: boolean; now?: Date } = {}): ReconcilerDeps => ({
    config,
    settings: {
      orphanGracePeriodHours: 72,
      maxDeletionsPerRun: 20,
      maxRevocationsPerRun: 50,
      concurrency: 2,
      dryRun: options.dryRun ?? false,
    },
    roles,
    parameters,
    ledger,
    spaceRoleCap: { quota, maxRolesPerSpace },
    spacelift: async () => ({
      available: true,
      directory: {
        listStacks: async () => listedStacks(stacks),
        listSpaces: async () =>
          listedSpaces([
            { id: "root", name: "root", parentSpace: null, labels: [] },
            { id: PROD, name: "production", parentSpace: "root", labels: [] },
          ]),
      },
    }),
    now: () => options.now ?? T0,
    sleep: async () => {},
  });
  const list = (...ids: string[]) => {
    for (const id of ids) stacks.push({ id, space: PROD, labels: [] });
  };
  const stacksWithRoles = () =>
    [...roles.roles.values()].flatMap((role) => role.tags["spacelift:stack"] ?? []).sort();
  return { roles, quota, deps, list, stacks, stacksWithRoles };
}

const summary = (report: Awaited<ReturnType<typeof reconcileThenApply>>) =>
  report.decisions.map(({ action, resource, outcome }) => `${action} ${resource} ${outcome}`);

describe("the reconciler under MAX_ROLES_PER_SPACE", () => {
  it("creates missing stack roles only up to the space's cap and reports the rest as refused", async () => {
    const { deps, list, quota, stacksWithRoles } = await setup(2);
    list("a", "b", "c");

    const report = await reconcileThenApply(deps());

    expect(summary(report)).toEqual([
      `create space:${PROD} enqueued`,
      "create space:root enqueued",
      "create stack:a enqueued",
      "create stack:b enqueued",
      "create stack:c refused",
    ]);
    expect(report.decisions.at(-1)?.reason).toMatch(/MAX_ROLES_PER_SPACE=2/);
    expect(stacksWithRoles()).toEqual(["a", "b"]);
    expect(quota.counted(PROD)).toEqual(["a", "b"]);
  });

  it("counts stacks whose roles predate the cap, and uncounts one counted before the run that has no role and is not listed", async () => {
    const { deps, list, quota, stacks } = await setup(10);
    list("a", "b");
    await reconcileThenApply(deps());
    quota.spaces.clear(); // roles from before the cap existed
    await quota.admit(PROD, "crashed", 10); // counted, then the provisioner failed for good
    stacks.push({ id: "listed-no-role-yet", space: PROD, labels: [] });
    await quota.admit(PROD, "listed-no-role-yet", 10);

    const report = await reconcileThenApply(deps());

    expect(quota.counted(PROD)).toEqual(["a", "b", "listed-no-role-yet"]);
    expect(summary(report)).toEqual([
      `update space:${PROD} applied`,
      "create stack:listed-no-role-yet enqueued",
    ]);
    expect(report.decisions[0]?.changes).toEqual(
      expect.arrayContaining([
        "count stack a (its roles are in this space)",
        "count stack b (its roles are in this space)",
        "uncount stack crashed (no role in this space)",
      ]),
    );
  });

  it("does not count again a stack whose delete the provisioner applied while the run was going", async () => {
    // Attack: the reconciler running while webhooks arrive. Its inventory (read first) still
    // had the stack's role; the provisioner then deleted the role and released the count, and
    // the repair counted the stack again from the stale inventory: a phantom place in a full
    // space until the next run.
    const { deps, list, quota, roles, stacks } = await setup(10);
    list("gone", "kept");
    await reconcileThenApply(deps());
    const ledger = new InMemoryLedger();
    const provisioner: ProvisionerDeps = {
      config: deps().config,
      roles,
      parameters: new InMemoryParameterStore(),
      ledger,
      spaceRoleCap: { quota, maxRolesPerSpace: 10 },
      sleep: async () => {},
    };
    const running = deps({ now: new Date(T0.getTime() + 3_600_000) });
    const withDelete: ReconcilerDeps = {
      ...running,
      ledger,
      spacelift: async () => ({
        available: true,
        directory: {
          listStacks: async () => {
            stacks.splice(0, stacks.length, { id: "kept", space: PROD, labels: [] });
            await processMessage(
              JSON.stringify(
                auditEvent("stack.delete", {
                  account: "acme",
                  stack: "gone",
                  timestamp: T0.getTime() + 3_600_000 + 1_000,
                }),
              ),
              provisioner,
            );
            return listedStacks(stacks);
          },
          listSpaces: async () =>
            listedSpaces([
              { id: "root", name: "root", parentSpace: null, labels: [] },
              { id: PROD, name: "production", parentSpace: "root", labels: [] },
            ]),
        },
      }),
    };

    await reconcileThenApply(withDelete);

    expect([...roles.roles.keys()].filter((name) => name.includes("gone"))).toEqual([]);
    expect(quota.counted(PROD)).toEqual(["kept"]);
  });

  it("keeps counting a stack admitted while the run was going (its role not in the run's view)", async () => {
    const { deps, quota } = await setup(10);
    quota.clock = T0.getTime() + 1_000; // admitted by a provisioner after the run started

    await quota.admit(PROD, "new-stack", 10);
    const report = await reconcileThenApply(deps());

    expect(quota.counted(PROD)).toEqual(["new-stack"]);
    expect(summary(report)).not.toContain(`update space:${PROD} applied`);
  });

  it("dry run: plans creations against the counts without changing them", async () => {
    const { deps, list, quota, roles } = await setup(1);
    list("a", "b");

    const report = await reconcileThenApply(deps({ dryRun: true }));

    expect(summary(report)).toContain("create stack:a planned");
    expect(summary(report)).toContain("create stack:b refused");
    expect(quota.spaces.size).toBe(0);
    expect(roles.roles.size).toBe(0);
  });
});
