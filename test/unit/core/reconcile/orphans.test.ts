/**
 * The orphan protocol's decisions, in memory: which orphans may be touched, revoke / hold /
 * delete with the grace period, and the per-run caps. The same rules run against moto and the
 * fake Spacelift in test/integration/reconcile/; here each rule is pinned without AWS.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import {
  isSpaceId,
  isStackId,
  type SpaceId,
  type StackId,
} from "../../../../functions/core/identifiers.ts";
import type { ObservedRole } from "../../../../functions/core/ports.ts";
import type { ManagedGroup } from "../../../../functions/core/reconcile/inventory.ts";
import {
  emptyListingRefusal,
  ORPHANED_AT_TAG,
  type OrphanPlan,
  orphansVouchedFor,
  planOrphans,
  withinCap,
} from "../../../../functions/core/reconcile/orphans.ts";
import type { SpaceliftListing } from "../../../../functions/core/reconcile/spacelift-listing.ts";
import {
  LEGACY_REVOKED_TRUST_POLICY,
  REVOKED_SESSIONS_POLICY,
  revokedSessionsPolicy,
  revokedTrustPolicy,
} from "../../../../functions/core/revocation.ts";
import { SPACE_TAG, STACK_TAG } from "../../../../functions/core/role-ownership.ts";
import type { SpaceFields, StackFields } from "../../../../functions/spacelift/resources.ts";
import { listedSpaces, listedStacks } from "../../../../testkit/fakes/in-memory.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const ACCOUNT_ID = "123456789012";
const HOUR = 3_600_000;
const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const PRODUCTION = "production-01HND497T9JKR76MR3KA2CDJHP";
const PRODUCTION_ID = ((id: string): SpaceId => {
  if (!isSpaceId(id)) throw new Error(`not a space ID: ${id}`);
  return id;
})(PRODUCTION);

const config = await loadVendingConfig({
  SPACELIFT_HOSTNAME: SPACELIFT_HOST,
  AWS_ACCOUNT_ID: ACCOUNT_ID,
  DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  PERMISSIONS_BOUNDARY_ARN: `arn:aws:iam::${ACCOUNT_ID}:policy/spacelift-boundary`,
});

const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT_ID}:role${config.rolePath}${name}`;

function role(name: string, state: "live" | "revoked" | "legacy", tags: Record<string, string>) {
  const revoked = state !== "live";
  const observed: ObservedRole = {
    name,
    arn: roleArn(name),
    path: config.rolePath,
    description: "",
    maxSessionDuration: 3600,
    trustPolicy:
      state === "revoked"
        ? revokedTrustPolicy(config)
        : state === "legacy"
          ? LEGACY_REVOKED_TRUST_POLICY
          : { Version: "2012-10-17", Statement: [] },
    permissionsBoundaryArn: undefined,
    managedPolicyArns: [],
    inlinePolicies: revoked
      ? { [REVOKED_SESSIONS_POLICY]: revokedSessionsPolicy(new Date(T0)) }
      : {},
    tags,
  };
  return observed;
}

/** The inventory parses the IDs it groups by; so do the groups built here. */
function validStackId(id: string): StackId {
  if (!isStackId(id)) throw new Error(`not a stack ID: ${id}`);
  return id;
}

/** A stack's group: its role, live or revoked (tagged `orphanedAt`), in `space`. */
function stack(
  id: string,
  options: { state?: "live" | "revoked" | "legacy"; orphanedAt?: number; space?: string } = {},
): ManagedGroup {
  const name = `spacelift-stack-${id}`;
  const tags: Record<string, string> = {
    [STACK_TAG]: id,
    [SPACE_TAG]: options.space ?? PRODUCTION,
    ...(options.orphanedAt !== undefined && {
      [ORPHANED_AT_TAG]: new Date(options.orphanedAt).toISOString(),
    }),
  };
  return {
    key: `stack:${id}`,
    kind: "stack",
    id: validStackId(id),
    roles: [role(name, options.state ?? "live", tags)],
    parameters: [{ name: `/spacelift/acme/stacks/${id}/role-arn`, value: roleArn(name) }],
  };
}

function parametersOnly(id: string, value: string): ManagedGroup {
  return {
    key: `stack:${id}`,
    kind: "stack",
    id: validStackId(id),
    roles: [],
    parameters: [{ name: `/spacelift/acme/stacks/${id}/role-arn`, value }],
  };
}

const plan = (orphans: readonly ManagedGroup[], now: number, hours = 72) =>
  planOrphans(orphans, { config, now, orphanGracePeriodHours: hours });

const keys = (plans: readonly OrphanPlan[]) => plans.map(({ group }) => group.key);

function listing(stacks: StackFields[], spaces: SpaceFields[]): SpaceliftListing {
  const listedStack = listedStacks(stacks);
  const listedSpace = listedSpaces(spaces);
  return {
    stacks: listedStack.usable,
    spaces: listedSpace.usable,
    unusable: [...listedSpace.unusable, ...listedStack.unusable],
    listedAt: T0,
  };
}

const space = (id: string): SpaceFields => ({ id, name: id, parentSpace: null, labels: [] });

describe("planOrphans: revoke, hold, delete", () => {
  it("revokes an orphan whose role is still live, and dates its deletion a grace period from now", () => {
    const now = T0 + 5 * HOUR;

    const { revocations, deletions, waiting } = plan([stack("payments")], now);

    expect(keys(revocations)).toEqual(["stack:payments"]);
    expect(revocations[0]?.since).toBe(now);
    expect(revocations[0]?.reason).toContain(
      `role deleted after ${new Date(now + 72 * HOUR).toISOString()}`,
    );
    expect(deletions).toEqual([]);
    expect(waiting).toEqual([]);
  });

  it("holds a revoked orphan until the grace period is over, to the millisecond", () => {
    const orphan = stack("payments", { state: "revoked", orphanedAt: T0 });

    const held = plan([orphan], T0 + 72 * HOUR - 1);

    expect(held.deletions).toEqual([]);
    expect(held.revocations).toEqual([]);
    expect(held.waiting).toEqual([
      expect.objectContaining({
        action: "hold",
        resource: "stack:payments",
        outcome: "reported",
        roles: ["spacelift-stack-payments"],
      }),
    ]);
  });

  it("deletes a revoked orphan once the grace period is over, dated from its tag", () => {
    const orphan = stack("payments", { state: "revoked", orphanedAt: T0 });

    const due = plan([orphan], T0 + 72 * HOUR);

    expect(keys(due.deletions)).toEqual(["stack:payments"]);
    expect(due.deletions[0]?.since).toBe(T0);
    expect(due.deletions[0]?.reason).toContain("the grace period of 72 h is over");
    expect(due.waiting).toEqual([]);
  });

  it("takes the grace period from the setting", () => {
    const orphan = stack("payments", { state: "revoked", orphanedAt: T0 });

    expect(keys(plan([orphan], T0 + 2 * HOUR, 1).deletions)).toEqual(["stack:payments"]);
    expect(plan([orphan], T0 + 2 * HOUR, 3).deletions).toEqual([]);
  });

  it("completes a revocation left in the legacy form instead of deleting it, even past its grace period", () => {
    const orphan = stack("payments", { state: "legacy", orphanedAt: T0 });

    const { revocations, deletions } = plan([orphan], T0 + 1000 * HOUR);

    expect(keys(revocations)).toEqual(["stack:payments"]);
    expect(revocations[0]?.reason).toContain("revoked earlier but not completely");
    expect(deletions).toEqual([]);
  });

  it("revokes again a revoked role that lost its tag, rather than deleting it undated", () => {
    const orphan = stack("payments", { state: "revoked" });

    const { revocations, deletions } = plan([orphan], T0 + 1000 * HOUR);

    expect(keys(revocations)).toEqual(["stack:payments"]);
    expect(deletions).toEqual([]);
  });

  it("deletes right away a parameter left without its role when it points at a role of ours", () => {
    const orphan = parametersOnly("payments", roleArn("spacelift-stack-payments"));

    const { deletions, waiting } = plan([orphan], T0);

    expect(keys(deletions)).toEqual(["stack:payments"]);
    expect(deletions[0]?.reason).toContain("only its parameter is left");
    expect(deletions[0]?.since).toBe(T0);
    expect(waiting).toEqual([]);
  });

  it("leaves alone parameters that do not point at a role of ours", () => {
    const orphan = parametersOnly("payments", "arn:aws:iam::999999999999:role/someone-else");

    const { deletions, revocations, waiting } = plan([orphan], T0);

    expect(deletions).toEqual([]);
    expect(revocations).toEqual([]);
    expect(waiting).toEqual([
      expect.objectContaining({
        action: "report",
        resource: "stack:payments",
        outcome: "reported",
      }),
    ]);
  });

  it("orders deletions oldest orphan first and revocations by resource", () => {
    const orphans = [
      stack("c", { state: "revoked", orphanedAt: T0 + 2 * HOUR }),
      stack("z"),
      stack("a", { state: "revoked", orphanedAt: T0 + 3 * HOUR }),
      stack("b", { state: "revoked", orphanedAt: T0 + 1 * HOUR }),
      stack("m"),
    ];

    const { revocations, deletions } = plan(orphans, T0 + 100 * HOUR);

    expect(keys(deletions)).toEqual(["stack:b", "stack:c", "stack:a"]);
    expect(keys(revocations)).toEqual(["stack:m", "stack:z"]);
  });
});

describe("withinCap: the per-run caps", () => {
  const plans = plan(
    ["a", "b", "c", "d", "e"].map((id) => stack(id)),
    T0,
  ).revocations;

  it("carries out the first `cap` plans and defers each of the rest, naming the setting", () => {
    const { due, deferred } = withinCap(plans, 2, "MAX_REVOCATIONS_PER_RUN");

    expect(keys(due)).toEqual(["stack:a", "stack:b"]);
    expect(deferred).toHaveLength(3);
    expect(deferred.map(({ resource }) => resource)).toEqual(["stack:c", "stack:d", "stack:e"]);
    for (const decision of deferred) {
      expect(decision).toMatchObject({ action: "revoke", outcome: "deferred" });
      expect(decision.reason).toContain("deferred: MAX_REVOCATIONS_PER_RUN=2 reached this run");
    }
  });

  it("defers every deletion when the cap is 0, and none when the cap covers them", () => {
    const deletions = plan(
      ["a", "b"].map((id) => stack(id, { state: "revoked", orphanedAt: T0 })),
      T0 + 100 * HOUR,
    ).deletions;

    const none = withinCap(deletions, 0, "MAX_DELETIONS_PER_RUN");
    const all = withinCap(deletions, 2, "MAX_DELETIONS_PER_RUN");

    expect(none.due).toEqual([]);
    expect(none.deferred.map(({ action, outcome }) => `${action}:${outcome}`)).toEqual([
      "delete:deferred",
      "delete:deferred",
    ]);
    expect(none.deferred[0]?.reason).toContain("MAX_DELETIONS_PER_RUN=0");
    expect(keys(all.due)).toEqual(["stack:a", "stack:b"]);
    expect(all.deferred).toEqual([]);
  });
});

describe("emptyListingRefusal", () => {
  it("refuses to act on any orphan when Spacelift lists no stack and no space", () => {
    const refusal = emptyListingRefusal(listing([], []), 3, "acme");

    expect(refusal).toMatchObject({
      action: "report",
      resource: "spacelift:acme",
      outcome: "refused",
    });
    expect(refusal?.reason).toContain("while 3 resources have roles or parameters here");
  });

  it("lets orphans be handled once Spacelift lists anything, if only its root space", () => {
    expect(emptyListingRefusal(listing([], [space("root")]), 3, "acme")).toBeUndefined();
  });
});

describe("orphansVouchedFor: an API key that does not see the root space", () => {
  const inProduction = stack("payments", { space: PRODUCTION });
  const inHidden = stack("billing", { space: "hidden-01HND4B1Q0W5Z7YV3J6QG2X9TR" });
  const spaceGroup: ManagedGroup = {
    key: `space:${PRODUCTION}`,
    kind: "space",
    id: PRODUCTION_ID,
    roles: [],
    parameters: [],
  };

  it("vouches for every orphan when the listing has the root space", () => {
    const orphans = [inProduction, inHidden, spaceGroup];

    const { vouched, leftAlone } = orphansVouchedFor(orphans, listing([], [space("root")]));

    expect(vouched).toEqual(orphans);
    expect(leftAlone).toEqual([]);
  });

  it("vouches for no orphan when every entry Spacelift listed is unusable: such an answer is not taken for empty, nor for evidence that anything is gone", () => {
    const orphans = [inProduction, inHidden, spaceGroup];
    const unusableOnly = listing(
      [
        { id: "payments-*", space: PRODUCTION, labels: [] },
        { id: "BILLING", space: "root", labels: [] },
      ],
      [space("Production"), space(`${PRODUCTION}/x`)],
    );
    expect(unusableOnly.stacks).toEqual([]);
    expect(unusableOnly.spaces).toEqual([]);
    expect(emptyListingRefusal(unusableOnly, orphans.length, "acme")).toBeUndefined();

    const { vouched, leftAlone } = orphansVouchedFor(orphans, unusableOnly);

    expect(vouched).toEqual([]);
    expect(leftAlone.map(({ resource }) => resource)).toEqual(orphans.map(({ key }) => key));
  });

  it("without root, vouches only for stacks whose role says a listed space; reports the rest", () => {
    const { vouched, leftAlone } = orphansVouchedFor(
      [inProduction, inHidden, spaceGroup],
      listing([], [space(PRODUCTION)]),
    );

    expect(vouched).toEqual([inProduction]);
    expect(leftAlone.map(({ resource, outcome }) => `${resource}:${outcome}`)).toEqual([
      "stack:billing:reported",
      `space:${PRODUCTION}:reported`,
    ]);
    expect(leftAlone[0]?.reason).toContain("does not see the root space");
  });
});
