/**
 * The reconciler's view of IAM during a run: the inventory is one bulk read of the account, and
 * every read of a role under the role path is answered from it, "not there" included; only a
 * name seen outside the path, or written by the run, is read from IAM.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../../functions/core/config.ts";
import { takeInventory } from "../../../../functions/core/reconcile/inventory.ts";
import { SnapshotRoleStore } from "../../../../functions/core/reconcile/snapshot-stores.ts";
import { InMemoryParameterStore, InMemoryRoleStore } from "../../../../testkit/fakes/in-memory.ts";
import { SPACELIFT_HOST } from "../../../../testkit/spacelift/fixtures.ts";

const OURS = {
  "managed-by": "spacelift-role-vending",
  "spacelift:account": "acme",
  "spacelift:stack": "payments-api",
  "spacelift:space": "root",
};

async function setup() {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  });
  const roles = new InMemoryRoleStore();
  roles.seed({ name: "ours", path: config.rolePath, tags: OURS });
  roles.seed({ name: "someone-elses", path: config.rolePath, tags: {} });
  roles.seed({ name: "elsewhere", path: "/other/", tags: OURS });
  const parameters = new InMemoryParameterStore();
  const inventory = await takeInventory({ config, roles, parameters });
  roles.calls.length = 0;
  return { config, roles, inventory };
}

describe("takeInventory", () => {
  it("reads the roles in one bulk call, groups ours, and keeps only the names of roles outside the path", async () => {
    const { config, roles, inventory } = await setup();
    const fresh = new InMemoryRoleStore();
    for (const role of roles.roles.values()) fresh.seed(role);

    const again = await takeInventory({
      config,
      roles: fresh,
      parameters: new InMemoryParameterStore(),
    });

    expect(fresh.calls).toEqual(["describeAllUnder"]);
    expect(fresh.described).toEqual([]);
    expect([...again.groups.keys()]).toEqual(["stack:payments-api"]);
    expect(again.managedRoles).toBe(1);
    expect([...again.snapshot.keys()].sort()).toEqual(["ours", "someone-elses"]);
    expect([...again.namesElsewhere]).toEqual(["elsewhere"]);
    expect(inventory.groups.get("stack:payments-api")?.roles.map(({ name }) => name)).toEqual([
      "ours",
    ]);
  });
});

describe("SnapshotRoleStore", () => {
  it("answers describe and isReadable under the path from the inventory, absent names included, without a call", async () => {
    const { roles, inventory } = await setup();
    const store = new SnapshotRoleStore(roles, inventory.snapshot, inventory.namesElsewhere);

    const answers = [
      (await store.describe("ours"))?.name,
      await store.describe("never-created"),
      await store.isReadable("ours"),
      await store.isReadable("someone-elses"),
      await store.isReadable("never-created"),
    ];

    expect(answers).toEqual(["ours", undefined, true, true, false]);
    expect(roles.calls).toEqual([]);
  });

  it("reads from IAM a name the inventory saw outside the path, and any role once the run wrote to it", async () => {
    const { roles, inventory } = await setup();
    const store = new SnapshotRoleStore(roles, inventory.snapshot, inventory.namesElsewhere);

    const elsewhere = await store.describe("elsewhere");
    const readable = await store.isReadable("elsewhere");
    await store.tag("ours", { note: "x" });
    const written = await store.describe("ours");

    expect(elsewhere?.path).toBe("/other/");
    expect(readable).toBe(true);
    expect(written?.tags).toMatchObject({ note: "x" });
    expect(roles.described).toEqual(["elsewhere", "ours"]);
  });
});
