/**
 * Revoking an orphan's role and restoring it, in the core with in-memory stores: what the role
 * looks like after each step, including a revocation cut short and one in the legacy form.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import { convergeStack } from "../../../../functions/core/converge.ts";
import type { SpaceId, StackId } from "../../../../functions/core/identifiers.ts";
import { ORPHANED_AT_TAG } from "../../../../functions/core/reconcile/orphans.ts";
import type { ReconcilerDeps } from "../../../../functions/core/reconcile/pass-state.ts";
import {
  LEGACY_REVOKED_TRUST_POLICY,
  REVOKED_SESSIONS_POLICY,
  revokedSessionsPolicy,
  revokedTrustPolicy,
} from "../../../../functions/core/revocation.ts";
import { diffRole } from "../../../../functions/core/role-diff.ts";
import { LABELS_TAG } from "../../../../functions/core/role-ownership.ts";
import { stackBindings } from "../../../../functions/core/role-spec.ts";
import type { StackFields } from "../../../../functions/spacelift/resources.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
  listedSpaces,
  listedStacks,
} from "../../../../testkit/fakes/in-memory.ts";
import { reconcileThenApply } from "../../../../testkit/fakes/plan-queue.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const ROLE = "spacelift-stack-payments-api";
const T0 = new Date("2026-11-20T12:00:00.000Z");
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);

async function setup() {
  const roles = new InMemoryRoleStore();
  const parameters = new InMemoryParameterStore();
  const ledger = new InMemoryLedger();
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  });
  const stacks: StackFields[] = [{ id: "payments-api", space: "root", labels: [] }];
  const deps = (now: Date): ReconcilerDeps => ({
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
    spacelift: async () => ({
      available: true,
      directory: {
        listStacks: async () => listedStacks(stacks),
        listSpaces: async () =>
          listedSpaces([{ id: "root", name: "root", parentSpace: null, labels: [] }]),
      },
    }),
    now: () => now,
    sleep: async () => {},
  });
  const role = () => {
    const found = roles.roles.get(ROLE);
    if (found === undefined) throw new Error("no role");
    return found;
  };
  return { roles, parameters, config, stacks, deps, role };
}

describe("revoking an orphan", () => {
  it("replaces the trust with one IAM accepts, ends the sessions issued so far, then tags the role", async () => {
    const { stacks, deps, role, config, roles } = await setup();
    await reconcileThenApply(deps(T0));
    const trusted = structuredClone(role());
    stacks.length = 0;
    roles.calls.length = 0;

    const report = await reconcileThenApply(deps(at(1)));

    expect(report.decisions.map(({ action, outcome }) => `${action} ${outcome}`)).toEqual([
      "revoke enqueued",
    ]);
    expect(role().trustPolicy).toEqual(revokedTrustPolicy(config));
    expect(role().inlinePolicies).toEqual({
      [REVOKED_SESSIONS_POLICY]: revokedSessionsPolicy(at(1)),
    });
    expect(role().tags[ORPHANED_AT_TAG]).toBe(at(1).toISOString());
    expect(role().managedPolicyArns).toEqual(trusted.managedPolicyArns);
    expect(roles.writes()).toEqual(["updateTrustPolicy", "putInlinePolicy", "tag"]);
  });

  it("restores a stack that comes back: its trust back, the sessions policy and the tag gone", async () => {
    const { stacks, deps, role } = await setup();
    await reconcileThenApply(deps(T0));
    const trusted = structuredClone(role());
    const listed = [...stacks];
    stacks.length = 0;
    await reconcileThenApply(deps(at(1)));
    stacks.push(...listed);

    const report = await reconcileThenApply(deps(at(2)));

    expect(report.decisions.map(({ action, outcome }) => `${action} ${outcome}`)).toEqual([
      "restore enqueued",
    ]);
    expect(role()).toEqual(trusted);
  });

  it("finishes a revocation cut short after the trust, and does not restart the grace period", async () => {
    const { stacks, deps, role, config, roles } = await setup();
    await reconcileThenApply(deps(T0));
    stacks.length = 0;
    // The first run revoked the trust, then failed before the sessions policy and the tag.
    await roles.updateTrustPolicy(ROLE, revokedTrustPolicy(config));

    await reconcileThenApply(deps(at(1)));
    const revoked = structuredClone(role());
    roles.calls.length = 0;
    const held = await reconcileThenApply(deps(at(2)));

    expect(revoked.inlinePolicies[REVOKED_SESSIONS_POLICY]).toEqual(revokedSessionsPolicy(at(1)));
    expect(revoked.tags[ORPHANED_AT_TAG]).toBe(at(1).toISOString());
    expect(held.decisions.map(({ action }) => action)).toEqual(["hold"]);
    expect(roles.writes()).toEqual([]);
  });

  it("re-revokes a role revoked with the legacy Deny-* document, keeping its orphaned-at date", async () => {
    const { stacks, deps, role } = await setup();
    await reconcileThenApply(deps(T0));
    stacks.length = 0;
    const role0 = role();
    role0.trustPolicy = structuredClone(LEGACY_REVOKED_TRUST_POLICY);
    role0.tags = { ...role0.tags, [ORPHANED_AT_TAG]: T0.toISOString() };

    const report = await reconcileThenApply(deps(at(5)));
    const deleted = await reconcileThenApply(deps(at(72)));

    expect(report.decisions.map(({ action, reason }) => [action, reason])).toEqual([
      ["revoke", expect.stringMatching(/legacy form.*deleted after 2026-11-23T12:00:00.000Z/)],
    ]);
    expect(deleted.decisions.map(({ action, outcome }) => `${action} ${outcome}`)).toEqual([
      "delete enqueued",
    ]);
    expect(report.decisions[0]?.changes).toEqual([
      `updateTrustPolicy ${ROLE} (revoked)`,
      `putInlinePolicy ${ROLE} ${REVOKED_SESSIONS_POLICY}`,
    ]);
  });

  it("without Spacelift, holds a role whose revocation was cut short before its tag rather than restoring it", async () => {
    const { stacks, deps, role, parameters, config } = await setup();
    await reconcileThenApply(deps(T0));
    stacks.length = 0;
    await reconcileThenApply(deps(at(1)));
    const revoked = role();
    const { [ORPHANED_AT_TAG]: _dropped, ...untagged } = revoked.tags;
    revoked.tags = untagged;
    parameters.parameters.clear();
    const unavailable = (now: Date): ReconcilerDeps => ({
      ...deps(now),
      spacelift: async () => ({ available: false, reason: "no API key" }),
    });

    const report = await reconcileThenApply(unavailable(at(2)));

    expect(report.decisions.map(({ action, resource }) => `${action} ${resource}`)).toContain(
      "hold stack:payments-api",
    );
    expect(role().trustPolicy).toEqual(revokedTrustPolicy(config));
    expect(REVOKED_SESSIONS_POLICY in role().inlinePolicies).toBe(true);
  });
});

describe("converging a revoked role (an event for the stack arrives)", () => {
  it("removes the sessions policy after restoring the trust, even when the role's other policies are kept", async () => {
    const { stacks, deps, role, roles, config, parameters } = await setup();
    await reconcileThenApply(deps(T0));
    stacks.length = 0;
    await reconcileThenApply(deps(at(1)));
    // A role from before the labels tag: labels unknown, so its policies are kept as they are.
    const { [LABELS_TAG]: _labels, ...rest } = role().tags;
    role().tags = rest;
    roles.calls.length = 0;

    await convergeStack(
      { stackId: "payments-api" as StackId, spaceId: undefined, labels: undefined },
      { config, roles, parameters, sleep: async () => {} },
    );

    expect(role().inlinePolicies).toEqual({});
    expect(role().trustPolicy).not.toEqual(revokedTrustPolicy(config));
    expect(role().tags[ORPHANED_AT_TAG]).toBeUndefined();
    expect(role().managedPolicyArns).toEqual(["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    const writes = roles.writes();
    expect(writes.indexOf("updateTrustPolicy")).toBeLessThan(writes.indexOf("deleteInlinePolicy"));
  });

  it("keeps the sessions policy while the trust is still revoked: a converge whose trust update fails removes nothing", async () => {
    const { stacks, deps, role, roles, config, parameters } = await setup();
    await reconcileThenApply(deps(T0));
    stacks.length = 0;
    await reconcileThenApply(deps(at(1)));
    roles.updateTrustPolicy = async () => {
      throw new Error("IAM throttled");
    };

    await expect(
      convergeStack(
        { stackId: "payments-api" as StackId, spaceId: undefined, labels: [] },
        { config, roles, parameters, sleep: async () => {} },
      ),
    ).rejects.toThrow("IAM throttled");

    expect(role().trustPolicy).toEqual(revokedTrustPolicy(config));
    expect(Object.keys(role().inlinePolicies)).toEqual([REVOKED_SESSIONS_POLICY]);
  });

  it("diffRole keeps every other inline policy when policies are kept", () => {
    const observed = {
      name: ROLE,
      arn: `arn:aws:iam::123456789012:role/spacelift/${ROLE}`,
      path: "/spacelift/",
      description: "d",
      maxSessionDuration: 3600,
      trustPolicy: {},
      permissionsBoundaryArn: undefined,
      managedPolicyArns: [],
      inlinePolicies: { "hand-made": {}, [REVOKED_SESSIONS_POLICY]: {} },
      tags: {},
    };

    const changes = diffRole(observed, { ...observed, inlinePolicies: {} }, { keepPolicies: true });

    expect(changes).toEqual([{ kind: "deleteInlinePolicy", policyName: REVOKED_SESSIONS_POLICY }]);
  });
});

describe("the sessions policy's name", () => {
  it("is reserved: a permissions file's inline policy of that name makes no role", async () => {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
      AWS_ACCOUNT_ID: "123456789012",
      PERMISSIONS_CONFIG: JSON.stringify({
        default: {
          inlinePolicies: {
            [REVOKED_SESSIONS_POLICY]: {
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
            },
          },
        },
      }),
    });

    expect(() =>
      stackBindings(config, {
        stackId: "payments-api" as StackId,
        spaceId: "root" as SpaceId,
        labels: [],
      }),
    ).toThrow(/spacelift-role-vending-revoked-sessions is reserved/);
  });
});
