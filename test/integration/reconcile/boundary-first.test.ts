/**
 * The functions' IAM policy allows writes to a vended role (trust, policies, deletion) only
 * while the role carries the configured boundary (test/policy/provisioner-policy.test.ts). So
 * when someone took the boundary off a role, the reconciler must put it back before revoking
 * the role's trust or deleting it, or both would be refused in AWS (moto does not check).
 */
import { DeleteRolePermissionsBoundaryCommand } from "@aws-sdk/client-iam";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Harness,
  readResource,
  startHarness,
  writeCommands,
} from "../../../testkit/reconcile-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

beforeEach(async () => {
  await h.reset();
});

const T0 = new Date("2026-11-20T12:00:00.000Z");
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);

async function reconcileAt(now: Date): Promise<string[]> {
  h.commands.length = 0;
  await h.reconcile({ now });
  return writeCommands(h.commands);
}

async function takeBoundaryOff(stackId: string): Promise<void> {
  for (const role of (await readResource(h, "stack", stackId)).roles) {
    await h.iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: role.name }));
  }
}

describe("a vended role someone took the boundary off", () => {
  it("gets it back before its trust is revoked, and again before it is deleted", async () => {
    h.spacelift.state.addStack({ id: "gone", space: "root", labels: [] });
    await reconcileAt(T0);
    h.spacelift.state.removeStack("gone");
    await takeBoundaryOff("gone");

    const revoking = await reconcileAt(T0);

    expect(revoking.slice(0, 2)).toEqual([
      "PutRolePermissionsBoundaryCommand",
      "UpdateAssumeRolePolicyCommand",
    ]);

    await takeBoundaryOff("gone");

    const deleting = await reconcileAt(at(72));

    expect(deleting[0]).toBe("PutRolePermissionsBoundaryCommand");
    expect(deleting).toContain("DeleteRoleCommand");
    expect(deleting.indexOf("PutRolePermissionsBoundaryCommand")).toBeLessThan(
      deleting.indexOf("DetachRolePolicyCommand"),
    );
    expect((await readResource(h, "stack", "gone")).roles).toEqual([]);
  });
});
