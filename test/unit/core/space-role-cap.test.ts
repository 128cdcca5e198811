/**
 * The per-space cap on stack roles (MAX_ROLES_PER_SPACE), in the provisioner's core with
 * in-memory stores: creates, moves, deletes, duplicates and reordering never leave a space over
 * its cap, nor a stack counted after its roles are gone.
 */
import { describe, expect, it } from "vitest";
import { loadMaxRolesPerSpace, loadVendingConfig } from "../../../functions/core/config.ts";
import { ConfigurationError, SpaceRoleCapError } from "../../../functions/core/errors.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { InMemoryLedger, InMemorySpaceQuota } from "../../../testkit/fakes/in-memory.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";

async function setup(maxRolesPerSpace: number, env: Record<string, string> = {}) {
  const quota = new InMemorySpaceQuota();
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    ...env,
  });
  const { roles, deps } = inMemoryProvisionerDeps(config, {
    spaceRoleCap: { quota, maxRolesPerSpace },
  });
  let clock = 1_764_000_000_000;
  const send = (action: ResourceAction, stack: string, space: string, timestamp = clock++) =>
    processMessage(
      JSON.stringify(auditEvent(action, { account: "acme", stack, space, timestamp })),
      deps,
    );
  const stacksWithRoles = () =>
    [...roles.roles.values()]
      .map((role) => `${role.tags["spacelift:stack"]}@${role.tags["spacelift:space"]}`)
      .sort();
  return { roles, quota, deps, send, stacksWithRoles };
}

describe("MAX_ROLES_PER_SPACE in the provisioner", () => {
  it("refuses a stack's role once its space is at the cap, with a named permanent error, and leaves other spaces alone", async () => {
    const { send, quota, roles, stacksWithRoles } = await setup(2);
    await send("stack.create", "a", PROD);
    await send("stack.create", "b", PROD);
    roles.calls.length = 0;

    const refused = await send("stack.create", "c", PROD);
    const elsewhere = await send("stack.create", "c2", STAGING);

    expect(refused).toMatchObject({ result: "dropped" });
    expect(refused.result === "dropped" && refused.error).toBeInstanceOf(SpaceRoleCapError);
    expect(refused.result === "dropped" && refused.reason).toMatch(
      /space production-01HND497T9JKR76MR3KA2CDJHP already holds the roles of 2 stacks \(MAX_ROLES_PER_SPACE=2/,
    );
    expect(elsewhere).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(roles.calls.filter((call) => call === "create")).toEqual(["create"]);
    expect(stacksWithRoles()).toEqual([`a@${PROD}`, `b@${PROD}`, `c2@${STAGING}`]);
    expect(quota.counted(PROD)).toEqual(["a", "b"]);
  });

  it("frees a place when a stack is deleted, and counts a duplicate or late create once", async () => {
    const { send, quota, stacksWithRoles } = await setup(2);
    const created = 1_764_000_000_000;
    await send("stack.create", "a", PROD, created);
    await send("stack.create", "a", PROD, created); // duplicate delivery
    await send("stack.create", "b", PROD);
    await send("stack.delete", "a", PROD);
    await send("stack.create", "a", PROD, created); // the create again, after its delete

    const outcome = await send("stack.create", "c", PROD);

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(stacksWithRoles()).toEqual([`b@${PROD}`, `c@${PROD}`]);
    expect(quota.counted(PROD)).toEqual(["b", "c"]);
  });

  it("counts a moved stack in its new space only, and refuses a move into a full space", async () => {
    const { send, quota, stacksWithRoles } = await setup(1);
    await send("stack.create", "a", PROD);
    await send("stack.create", "b", STAGING);

    const intoFull = await send("stack.update", "a", STAGING);

    expect(intoFull.result === "dropped" && intoFull.error).toBeInstanceOf(SpaceRoleCapError);
    expect(stacksWithRoles()).toEqual([`a@${PROD}`, `b@${STAGING}`]);
    expect([quota.counted(PROD), quota.counted(STAGING)]).toEqual([["a"], ["b"]]);

    await send("stack.delete", "b", STAGING);
    const moved = await send("stack.update", "a", STAGING);

    expect(moved).toMatchObject({ result: "applied", outcome: { result: "updated" } });
    expect(stacksWithRoles()).toEqual([`a@${STAGING}`]);
    expect([quota.counted(PROD), quota.counted(STAGING)]).toEqual([[], ["a"]]);
  });

  it("counts roles with the read/write split: two per stack", async () => {
    const { send, quota, roles } = await setup(5, { PERMISSIONS_CONFIG: "readWriteSplit: true" });
    await send("stack.create", "a", PROD);
    await send("stack.create", "b", PROD);

    const third = await send("stack.create", "c", PROD);

    expect(third.result === "dropped" && third.error).toBeInstanceOf(SpaceRoleCapError);
    expect(roles.roles.size).toBe(4);
    expect(quota.counted(PROD)).toEqual(["a", "b"]);
  });

  it("uncounts a deleted stack whose role was already gone, from the space its events named", async () => {
    const { send, quota, roles } = await setup(1);
    await send("stack.create", "a", PROD);
    const role = [...roles.roles.values()][0];
    if (role === undefined) throw new Error("no role");
    roles.roles.delete(role.name); // deleted by hand

    await send("stack.delete", "a", PROD);

    expect(quota.counted(PROD)).toEqual([]);
  });

  it("admits exactly the free places when two provisioners create at once", async () => {
    const first = await setup(3);
    const second: ProvisionerDeps = { ...first.deps, ledger: new InMemoryLedger() };
    const events = ["a", "b", "c", "d", "e", "f"].map((stack, index) =>
      JSON.stringify(
        auditEvent("stack.create", { account: "acme", stack, space: PROD, timestamp: index + 1 }),
      ),
    );

    const outcomes = await Promise.all(
      events.map((body, index) => processMessage(body, index % 2 === 0 ? first.deps : second)),
    );

    expect(outcomes.filter(({ result }) => result === "applied")).toHaveLength(3);
    expect(first.quota.counted(PROD)).toHaveLength(3);
    expect(first.roles.roles.size).toBe(3);
  });
});

describe("MAX_ROLES_PER_SPACE and names someone else holds", () => {
  it("stops counting a deleted stack whose role name someone else holds (its create was refused after it was counted)", async () => {
    // Attack: a stack whose role name is held by a role we did not create is counted in its
    // space, then refused; its delete was refused the same way before the count was released,
    // so the space kept a place taken by a stack that no longer exists.
    const { send, quota, roles } = await setup(2);
    roles.seed({ name: "spacelift-stack-squatted", tags: { owner: "someone-else" } });

    const created = await send("stack.create", "squatted", PROD);
    const counted = quota.counted(PROD);
    const deleted = await send("stack.delete", "squatted", PROD);

    expect(created).toMatchObject({ result: "dropped" });
    expect(counted).toEqual(["squatted"]);
    expect(deleted).toMatchObject({ result: "dropped" });
    expect(quota.counted(PROD)).toEqual([]);
    expect(roles.roles.get("spacelift-stack-squatted")?.tags).toEqual({ owner: "someone-else" });
  });
});

describe("MAX_ROLES_PER_SPACE configuration", () => {
  it("defaults to 200, takes 0 as no cap, and refuses anything else with the variable's name", () => {
    expect(loadMaxRolesPerSpace({})).toBe(200);
    expect(loadMaxRolesPerSpace({ MAX_ROLES_PER_SPACE: "0" })).toBe(0);
    expect(loadMaxRolesPerSpace({ MAX_ROLES_PER_SPACE: "40" })).toBe(40);
    expect(() => loadMaxRolesPerSpace({ MAX_ROLES_PER_SPACE: "-1" })).toThrow(ConfigurationError);
    expect(() => loadMaxRolesPerSpace({ MAX_ROLES_PER_SPACE: "lots" })).toThrow(
      /MAX_ROLES_PER_SPACE/,
    );
  });
});
