/**
 * Role names shared between resources, and the move from the previous naming scheme (`-read`,
 * `-write`, `-<8 hex>`, which stack IDs can spell) to this one (`.read`, `.write`,
 * `.<16 hex>`): no event for one resource deletes, takes over or blocks another's role, and
 * roles named under the previous scheme are replaced, converging on retry. Core against
 * in-memory stores.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../../functions/core/config.ts";
import { convergeStack } from "../../../functions/core/converge.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import {
  legacySpaceRoleName,
  legacyStackRoleNames,
  ROLE_NAMING,
  spaceRoleName,
  stackRoleName,
} from "../../../functions/core/role-names.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const DEPLOY = "arn:aws:iam::123456789012:policy/deploy";
const LONG = `${"payments-platform-".repeat(5)}api` as StackId;

const UNSPLIT = await configWith({ default: { managedPolicyArns: [READ_ONLY] } });
const SPLIT = await configWith({
  readWriteSplit: true,
  default: { managedPolicyArns: [DEPLOY], read: { managedPolicyArns: [READ_ONLY] } },
});

function configWith(permissions: unknown): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    PERMISSIONS_CONFIG: JSON.stringify(permissions),
  });
}

const parameterOf = (stack: string, leaf = "role-arn") => `/spacelift/acme/stacks/${stack}/${leaf}`;
const arnOf = (name: string) => `arn:aws:iam::123456789012:role/spacelift/${name}`;

function setup(config: VendingConfig) {
  const { roles, parameters, ledger, deps } = inMemoryProvisionerDeps(config);
  let clock = 1_764_000_000_000;
  const deliver = (action: ResourceAction, resource: { stack?: string; space?: string }) => {
    clock += 1000;
    const body = auditEvent(action, {
      account: "acme",
      space: PROD,
      timestamp: clock,
      ...resource,
    });
    return processMessage(JSON.stringify(body), deps);
  };
  /** A role of ours, as the previous version created it for the stack (or space). */
  const seedOurs = (
    name: string,
    owner: { stack: string; scope?: "read" | "write" } | { space: string },
  ) => {
    roles.seed({
      name,
      path: "/spacelift/",
      managedPolicyArns: [READ_ONLY],
      inlinePolicies: { extra: { Version: "2012-10-17", Statement: [] } },
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        ...("stack" in owner
          ? {
              "spacelift:stack": owner.stack,
              "spacelift:space": PROD,
              ...(owner.scope && { "spacelift:scope": owner.scope }),
            }
          : { "spacelift:space": owner.space }),
      },
    });
    const published =
      "stack" in owner
        ? parameterOf(owner.stack, owner.scope === "read" ? "read-role-arn" : "role-arn")
        : `/spacelift/acme/spaces/${owner.space}/role-arn`;
    parameters.parameters.set(published, {
      value: arnOf(name),
      tags: { "managed-by": "spacelift-role-vending" },
    });
  };
  return { deps, roles, parameters, ledger, deliver, seedOurs };
}

describe("a stack never deletes, takes over or blocks another stack's role", () => {
  it("deleting stack foo-read removes its roles and leaves stack foo's read role, under either scheme", async () => {
    const { roles, parameters, deliver, seedOurs } = setup(SPLIT);
    await deliver("stack.create", { stack: "foo" });
    await deliver("stack.create", { stack: "foo-read" });
    // Stack foo's read role as the previous scheme named it: stack foo-read's unsplit name today.
    seedOurs("spacelift-stack-foo-read", { stack: "foo", scope: "read" });

    const outcome = await deliver("stack.delete", { stack: "foo-read" });

    expect(outcome).toMatchObject({
      result: "applied",
      outcome: {
        result: "deleted",
        skipped: [
          "role spacelift-stack-foo-read belongs to stack foo, not to stack foo-read; leaving it untouched",
        ],
      },
    });
    expect([...roles.roles.keys()].sort()).toEqual([
      "spacelift-stack-foo-read",
      "spacelift-stack-foo.read",
      "spacelift-stack-foo.write",
    ]);
    expect(parameters.parameters.has(parameterOf("foo-read"))).toBe(false);
    expect(parameters.parameters.has(parameterOf("foo-read", "read-role-arn"))).toBe(false);
  });

  it("stack foo-write's role does not block stack foo's events with the split off", async () => {
    const { roles, parameters, deliver } = setup(UNSPLIT);
    await deliver("stack.create", { stack: "foo-write" });
    const theirs = structuredClone(roles.roles.get("spacelift-stack-foo-write"));

    for (const action of ["stack.create", "stack.update", "stack.update"] as const) {
      expect(await deliver(action, { stack: "foo" })).toMatchObject({ result: "applied" });
    }
    expect(roles.roles.has("spacelift-stack-foo")).toBe(true);
    expect(await deliver("stack.delete", { stack: "foo" })).toMatchObject({
      result: "applied",
      outcome: { result: "deleted" },
    });

    expect([...roles.roles.keys()]).toEqual(["spacelift-stack-foo-write"]);
    expect(roles.roles.get("spacelift-stack-foo-write")).toEqual(theirs);
    expect(parameters.parameters.get(parameterOf("foo-write"))?.value).toBe(
      arnOf("spacelift-stack-foo-write"),
    );
  });

  it("a stack named like a long stack's cut name is blocked only until that stack's role is renamed", async () => {
    const { roles, parameters, deliver, seedOurs } = setup(UNSPLIT);
    const [legacyName = ""] = legacyStackRoleNames(UNSPLIT, LONG);
    const squatter = legacyName.slice("spacelift-stack-".length);
    seedOurs(legacyName, { stack: LONG });

    // The name squatter needs is still the long stack's role: refused, nothing touched.
    const blocked = await deliver("stack.create", { stack: squatter });
    expect(blocked).toMatchObject({
      result: "dropped",
      reason: `role ${legacyName} belongs to stack ${LONG}, not to stack ${squatter}; leaving it untouched`,
    });
    expect(roles.roles.get(legacyName)?.tags["spacelift:stack"]).toBe(LONG);

    // The long stack's next event moves it to its new name; then the squatter gets its own.
    await deliver("stack.update", { stack: LONG });
    expect(await deliver("stack.update", { stack: squatter })).toMatchObject({
      outcome: { result: "created" },
    });
    const longName = stackRoleName(UNSPLIT, LONG);
    expect(longName).not.toBe(legacyName);
    expect(roles.roles.get(longName)?.tags["spacelift:stack"]).toBe(LONG);
    expect(roles.roles.get(legacyName)?.tags["spacelift:stack"]).toBe(squatter);
    expect(parameters.parameters.get(parameterOf(LONG))?.value).toBe(arnOf(longName));
    expect(parameters.parameters.get(parameterOf(squatter))?.value).toBe(arnOf(legacyName));
  });

  it("a space's event never touches a stack's role, though a stack's role carries the space's tag", async () => {
    const { roles, deliver, seedOurs } = setup(UNSPLIT);
    // A role of ours for a stack, at the space's name (only a hash collision could put it there).
    seedOurs(spaceRoleName(UNSPLIT, PROD), { stack: "payments-api" });

    expect(await deliver("space.update", { space: PROD })).toMatchObject({ result: "dropped" });
    expect(await deliver("space.delete", { space: PROD })).toMatchObject({
      result: "applied",
      outcome: {
        result: "absent",
        skipped: [
          `role ${spaceRoleName(UNSPLIT, PROD)} belongs to stack payments-api, not to space ${PROD}; leaving it untouched`,
        ],
      },
    });

    expect(roles.roles.get(spaceRoleName(UNSPLIT, PROD))?.tags["spacelift:stack"]).toBe(
      "payments-api",
    );
    expect(roles.writes().filter((call) => call !== "create")).toEqual([]);
  });
});

describe("roles named under the previous scheme are replaced", () => {
  it("a split stack's -write/-read roles: new roles created, their ARNs published, the old ones removed", async () => {
    const { roles, parameters, ledger, deliver, seedOurs } = setup(SPLIT);
    seedOurs("spacelift-stack-foo-write", { stack: "foo", scope: "write" });
    seedOurs("spacelift-stack-foo-read", { stack: "foo", scope: "read" });
    // The previous version vouched for the split's shape under its own names.
    await ledger.record({ resource: "stack:foo", timestamp: 1, state: "present", shape: "split" });

    const outcome = await deliver("stack.update", { stack: "foo" });

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect([...roles.roles.keys()].sort()).toEqual([
      "spacelift-stack-foo.read",
      "spacelift-stack-foo.write",
    ]);
    expect(parameters.parameters.get(parameterOf("foo"))?.value).toBe(
      arnOf("spacelift-stack-foo.write"),
    );
    expect(parameters.parameters.get(parameterOf("foo", "read-role-arn"))?.value).toBe(
      arnOf("spacelift-stack-foo.read"),
    );
    expect(ledger.entries.get("stack:foo")).toMatchObject({ shape: "split", naming: ROLE_NAMING });
  });

  it("a migration that fails half-way keeps the old role published until the new one is, and converges on retry", async () => {
    const { roles, parameters, deliver, seedOurs } = setup(UNSPLIT);
    const [legacyName = ""] = legacyStackRoleNames(UNSPLIT, LONG);
    const newName = stackRoleName(UNSPLIT, LONG);
    seedOurs(legacyName, { stack: LONG });
    const deleteRole = roles.delete.bind(roles);
    roles.delete = async () => {
      throw new Error("IAM DeleteRole throttled");
    };

    await expect(deliver("stack.update", { stack: LONG })).rejects.toThrow("throttled");
    // The new role is published before anything of the old one goes.
    expect(parameters.parameters.get(parameterOf(LONG))?.value).toBe(arnOf(newName));
    expect(roles.roles.has(legacyName)).toBe(true);

    roles.delete = deleteRole;
    expect(await deliver("stack.update", { stack: LONG })).toMatchObject({
      result: "applied",
      outcome: { result: "unchanged", changes: [`${legacyName}: deleteRole`] },
    });
    expect([...roles.roles.keys()]).toEqual([newName]);
    expect(parameters.parameters.get(parameterOf(LONG))?.value).toBe(arnOf(newName));
  });

  it("the new role keeps the old one's policies when nothing says the stack's labels", async () => {
    const { deps, roles, seedOurs } = setup(UNSPLIT);
    const [legacyName = ""] = legacyStackRoleNames(UNSPLIT, LONG);
    seedOurs(legacyName, { stack: LONG });
    await roles.attachPolicy(legacyName, DEPLOY);

    await convergeStack({ stackId: LONG, spaceId: undefined, labels: undefined }, deps);

    expect(roles.roles.get(stackRoleName(UNSPLIT, LONG))).toMatchObject({
      managedPolicyArns: [DEPLOY, READ_ONLY],
      inlinePolicies: { extra: { Version: "2012-10-17", Statement: [] } },
    });
    expect(roles.roles.has(legacyName)).toBe(false);
  });

  it("a stack whose new name is someone else's keeps its old role and parameter", async () => {
    const { roles, parameters, deliver, seedOurs } = setup(SPLIT);
    seedOurs("spacelift-stack-foo-write", { stack: "foo", scope: "write" });
    roles.seed({ name: "spacelift-stack-foo.write", path: "/spacelift/", tags: { team: "x" } });

    expect(await deliver("stack.update", { stack: "foo" })).toMatchObject({ result: "dropped" });

    expect(roles.roles.has("spacelift-stack-foo-write")).toBe(true);
    expect(parameters.parameters.get(parameterOf("foo"))?.value).toBe(
      arnOf("spacelift-stack-foo-write"),
    );
  });

  it("a delete finds the stack's roles under both schemes", async () => {
    const { roles, parameters, deliver, seedOurs } = setup(SPLIT);
    await deliver("stack.create", { stack: "foo" });
    seedOurs("spacelift-stack-foo-write", { stack: "foo", scope: "write" });
    seedOurs("spacelift-stack-foo-read", { stack: "foo", scope: "read" });

    expect(await deliver("stack.delete", { stack: "foo" })).toMatchObject({
      outcome: { result: "deleted" },
    });
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });

  it("a space's cut name: replaced on its next event, and found by its delete", async () => {
    const space = `${"platform-team-".repeat(3)}01HND497T9JKR76MR3KA2CDJHP` as SpaceId;
    const legacyName = legacySpaceRoleName(UNSPLIT, space);
    const newName = spaceRoleName(UNSPLIT, space);
    expect(newName).not.toBe(legacyName);
    const { roles, parameters, deliver, seedOurs } = setup(UNSPLIT);
    seedOurs(legacyName, { space });

    await deliver("space.update", { space });
    expect([...roles.roles.keys()]).toEqual([newName]);
    expect(parameters.parameters.get(`/spacelift/acme/spaces/${space}/role-arn`)?.value).toBe(
      arnOf(newName),
    );

    seedOurs(legacyName, { space });
    await deliver("space.delete", { space });
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });
});

describe("stacks and spaces named to collide with each other", () => {
  const [longCut = ""] = legacyStackRoleNames(UNSPLIT, LONG);
  const stacks = [
    "foo",
    "foo-read",
    "foo-write",
    "foo-read-write",
    "read",
    "root",
    LONG,
    longCut.slice("spacelift-stack-".length),
    `${LONG}-read`,
    "01hnd497t9jkr76mr3ka2cdjhp",
  ];
  const spaces = [
    PROD,
    "root",
    "01HND497T9JKR76MR3KA2CDJHP",
    `${"platform-team-".repeat(3)}01HND497T9JKR76MR3KA2CDJHP`,
    `${"platform-team-".repeat(3)}01HND497T9JKR76MR3KA2CDJHQ`,
  ];
  const resources = [
    ...stacks.map((stack) => ({ key: `stack:${stack}`, event: { stack }, kind: "stack" })),
    ...spaces.map((space) => ({ key: `space:${space}`, event: { space }, kind: "space" })),
  ];
  const ownerOf = (tags: Record<string, string>) =>
    tags["spacelift:stack"] !== undefined
      ? `stack:${tags["spacelift:stack"]}`
      : `space:${tags["spacelift:space"]}`;

  it.each([
    ["off", UNSPLIT, UNSPLIT],
    ["on", SPLIT, SPLIT],
    ["switched on after the creates", UNSPLIT, SPLIT],
    ["switched off after the creates", SPLIT, UNSPLIT],
  ])(
    "with the split %s, each gets its own roles, and updating then deleting one leaves every other's untouched",
    async (_label, config, later) => {
      const { deps, roles, parameters, deliver } = setup(config);
      for (const { kind, event } of resources) {
        const created = await deliver(kind === "stack" ? "stack.create" : "space.create", event);
        expect(created).toMatchObject({ result: "applied", outcome: { result: "created" } });
      }
      expect(roles.roles.size).toBe(stacks.length * (config === SPLIT ? 2 : 1) + spaces.length);
      for (const role of roles.roles.values()) {
        expect(resources.map(({ key }) => key)).toContain(ownerOf(role.tags));
      }
      expect(new Set([...roles.roles.keys()].map((name) => name.toLowerCase())).size).toBe(
        roles.roles.size,
      );

      (deps as { config: VendingConfig }).config = later;
      for (const { key, kind: resourceKind, event } of resources) {
        const before = new Map(
          [...roles.roles]
            .filter(([, role]) => ownerOf(role.tags) !== key)
            .map(([name, role]) => [name, structuredClone(role)]),
        );
        const published = [...parameters.parameters.keys()].filter(
          (name) => !name.includes(`/${key.replace(":", "s/")}/`),
        );
        for (const action of ["update", "delete"] as const) {
          const outcome = await deliver(`${resourceKind as "stack" | "space"}.${action}`, event);
          expect(outcome).toMatchObject({ result: "applied" });
          expect(outcome).not.toHaveProperty("outcome.skipped");
        }
        expect([...roles.roles.values()].filter((role) => ownerOf(role.tags) === key)).toEqual([]);
        expect(new Map(roles.roles)).toEqual(before);
        for (const name of published) expect(parameters.parameters.has(name)).toBe(true);
      }
      expect(roles.roles.size).toBe(0);
    },
  );
});
