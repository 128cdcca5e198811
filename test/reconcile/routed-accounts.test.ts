/**
 * The reconciler with the permissions file's `accounts`: it reconciles the service's own
 * account only (for now), so a stack or space routed to another account is reported and left
 * alone, never given a role in the service's account.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Harness, PRODUCTION, readResource, startHarness } from "./harness.ts";

const TARGET = "222222222222";
const PERMISSIONS = `
permissionsBoundaryArn: arn:aws:iam::123456789012:policy/spacelift-boundary
accounts:
  - id: "${TARGET}"
    vendingRoleArn: arn:aws:iam::${TARGET}:role/spacelift-vending
    spaces: ["production-*"]
    permissionsBoundaryArn: arn:aws:iam::${TARGET}:policy/spacelift-boundary
default:
  managedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
`;

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

describe("reconcile with accounts", () => {
  it("leaves a stack and a space routed to another account alone, and reconciles the rest", async () => {
    h.spacelift.state.addSpace({
      id: PRODUCTION,
      name: "production",
      parentSpace: "root",
      labels: [],
    });
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    h.spacelift.state.addStack({ id: "billing", space: "root", labels: [] });

    const report = await h.reconcile({
      env: {
        DEFAULT_POLICY_ARNS: undefined,
        PERMISSIONS_BOUNDARY_ARN: undefined,
        PERMISSIONS_CONFIG: PERMISSIONS,
      },
    });

    expect(
      report.decisions
        .map(({ action, resource, outcome }) => `${action} ${resource} ${outcome}`)
        .sort(),
    ).toEqual(
      [
        `report space:${PRODUCTION} reported`,
        "create space:root enqueued",
        "create stack:billing enqueued",
        "report stack:payments-api reported",
      ].sort(),
    );
    expect(report.decisions.find(({ resource }) => resource === "stack:payments-api")?.reason).toBe(
      `space ${PRODUCTION} is routed to AWS account ${TARGET}: the reconciler does not reconcile other accounts yet (the provisioner vends there); left alone`,
    );
    expect((await readResource(h, "stack", "payments-api")).roles).toEqual([]);
    expect((await readResource(h, "stack", "billing")).roles).toHaveLength(1);
  });
});
