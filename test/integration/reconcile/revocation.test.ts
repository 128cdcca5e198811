/**
 * Revocation and the per-space role cap as the reconciler Lambda is wired (composeReconciler),
 * against moto and the fake Spacelift: the sessions policy is really put on the role and taken
 * off again, and the cap is counted in the ledger table.
 */
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetRolePolicyCommand, ListRolePoliciesCommand } from "@aws-sdk/client-iam";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbSpaceQuota } from "../../../functions/adapters/dynamodb-space-quota.ts";
import {
  REVOKED_SESSIONS_POLICY,
  revokedSessionsPolicy,
} from "../../../functions/core/revocation.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import {
  type Harness,
  readResource,
  spaceliftRunMayAssume,
  startHarness,
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

async function inlinePolicies(roleName: string): Promise<Record<string, unknown>> {
  const { PolicyNames = [] } = await h.iam.send(
    new ListRolePoliciesCommand({ RoleName: roleName }),
  );
  const policies: Record<string, unknown> = {};
  for (const name of PolicyNames) {
    const { PolicyDocument } = await h.iam.send(
      new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }),
    );
    policies[name] = JSON.parse(decodeURIComponent(PolicyDocument ?? "{}"));
  }
  return policies;
}

describe("revocation through IAM (moto)", () => {
  it("puts the sessions policy on the revoked role and takes it off when the stack comes back", async () => {
    h.spacelift.state.addStack({ id: "flaky", space: "root", labels: [] });
    await h.reconcile({ now: T0 });
    const [role] = (await readResource(h, "stack", "flaky")).roles;
    if (role === undefined) throw new Error("no role");
    h.spacelift.state.removeStack("flaky");

    await h.reconcile({ now: T0 });
    const revoked = await inlinePolicies(role.name);
    const [afterRevoke] = (await readResource(h, "stack", "flaky")).roles;
    h.spacelift.state.addStack({ id: "flaky", space: "root", labels: [] });
    await h.reconcile({ now: T0 });

    expect(revoked).toEqual({ [REVOKED_SESSIONS_POLICY]: revokedSessionsPolicy(T0) });
    expect(
      spaceliftRunMayAssume(afterRevoke?.trustPolicy ?? {}, { stackId: "flaky", spaceId: "root" }),
    ).toBe(false);
    expect(await inlinePolicies(role.name)).toEqual({});
    expect((await readResource(h, "stack", "flaky")).roles).toEqual([role]);
  });
});

describe("MAX_ROLES_PER_SPACE as the reconciler is deployed (ledger table in moto)", () => {
  it("creates stack roles up to the cap, counts them in the ledger table, and refuses the rest", async () => {
    const table = "cap-ledger";
    const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
    await dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "resource", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "resource", KeyType: "HASH" }],
      }),
    );
    for (const id of ["a", "b", "c"]) h.spacelift.state.addStack({ id, space: "root", labels: [] });

    const report = await h.reconcile({
      now: T0,
      env: { LEDGER_TABLE: table, MAX_ROLES_PER_SPACE: "2" },
    });
    const counted = await new DynamoDbSpaceQuota(dynamodb, table).members("root");
    dynamodb.destroy();

    // Stacks converge concurrently: which two get the places is not fixed.
    const stacks = report.decisions.filter(({ resource }) => resource.startsWith("stack:"));
    const created = stacks
      .filter(({ outcome }) => outcome === "enqueued")
      .map(({ resource }) => resource.slice(6));
    const refused = stacks.filter(({ outcome }) => outcome === "refused");
    expect(created).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toMatch(/MAX_ROLES_PER_SPACE=2/);
    expect([...counted.keys()].sort()).toEqual(created.sort());
    expect((await readResource(h, "stack", refused[0]?.resource.slice(6) ?? "")).roles).toEqual([]);
  });
});
