/**
 * The reconciler with STACK_ENVIRONMENT=true checks and repairs each listed stack's variables
 * (and plans them in a dry run), against moto and the fake Spacelift API.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SPACELIFT_TOKEN_FILE } from "../../../functions/core/stack-environment.ts";
import {
  type Harness,
  PRODUCTION,
  readRole,
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
  h.spacelift.state.addSpace({
    id: PRODUCTION,
    name: "production",
    parentSpace: "root",
    labels: [],
  });
  h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
});

const ON = { STACK_ENVIRONMENT: "true" };

function variables(stack: string): Record<string, string> {
  return Object.fromEntries(
    (h.spacelift.state.config.get(stack) ?? []).map((element) => [element.id, element.value]),
  );
}

describe("reconciler and the stacks' variables", () => {
  it("sets a listed stack's variables on its role", async () => {
    const report = await h.reconcile({ env: ON });

    const role = await readRole(h, "spacelift-stack-payments-api");
    expect(variables("payments-api")).toEqual({
      TF_VAR_aws_role_arn: role?.arn,
      AWS_ROLE_ARN: role?.arn,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
      AWS_ROLE_SESSION_NAME: "spacelift-payments-api",
    });
    expect(report.decisions).toContainEqual(
      expect.objectContaining({
        resource: "stack:payments-api",
        outcome: "applied",
        changes: expect.arrayContaining(["environment: set AWS_ROLE_ARN"]),
      }),
    );
  });

  it("repairs drift of ours, and a second run finds nothing to do", async () => {
    await h.reconcile({ env: ON });
    const ours = h.spacelift.state.configElement("payments-api", "AWS_ROLE_ARN");
    if (ours === undefined) throw new Error("AWS_ROLE_ARN was not set");
    h.spacelift.state.putConfig("payments-api", { ...ours, value: "arn:aws:iam::1:role/x" });

    const repaired = await h.reconcile({ env: ON });
    h.spacelift.requests.length = 0;
    const again = await h.reconcile({ env: ON });

    expect(repaired.decisions).toContainEqual(
      expect.objectContaining({ changes: ["environment: set AWS_ROLE_ARN"], outcome: "applied" }),
    );
    expect(variables("payments-api").AWS_ROLE_ARN).toBe(ours.value);
    expect(again.decisions).toEqual([]);
    expect(h.spacelift.operations()).not.toContain("stackConfigAdd");
  });

  it("plans the variables in a dry run without writing them", async () => {
    const report = await h.reconcile({ env: ON, settings: { dryRun: true } });

    expect(report.decisions).toContainEqual(
      expect.objectContaining({
        resource: "stack:payments-api",
        outcome: "planned",
        changes: expect.arrayContaining(["environment: set AWS_ROLE_ARN"]),
      }),
    );
    expect(h.spacelift.operations()).not.toContain("stackConfigAdd");
    expect(variables("payments-api")).toEqual({});
  });

  it("reports a foreign variable of one of our names and leaves it", async () => {
    const theirs = {
      id: "AWS_ROLE_ARN",
      type: "ENVIRONMENT_VARIABLE" as const,
      value: "arn:aws:iam::123456789012:role/theirs",
      writeOnly: false,
      description: null,
    };
    h.spacelift.state.putConfig("payments-api", theirs);

    const report = await h.reconcile({ env: ON });

    expect(h.spacelift.state.configElement("payments-api", "AWS_ROLE_ARN")).toEqual(theirs);
    expect(report.decisions).toContainEqual(
      expect.objectContaining({
        action: "report",
        outcome: "reported",
        reason: expect.stringContaining("AWS_ROLE_ARN set by someone else"),
      }),
    );
  });

  it("with the option off, never reads nor writes a stack's environment", async () => {
    await h.reconcile();

    expect(h.spacelift.operations()).not.toContain("stack");
    expect(h.spacelift.operations()).not.toContain("stackConfigAdd");
    expect(variables("payments-api")).toEqual({});
  });

  it("a Spacelift failure on the variables is its own failed decision; the role stands", async () => {
    h.spacelift.faults.graphqlErrors(1, ["internal error"], { operation: "stack" });

    const report = await h.reconcile({ env: ON });

    expect(await readRole(h, "spacelift-stack-payments-api")).toBeDefined();
    expect(report.decisions).toContainEqual(
      expect.objectContaining({ resource: "stack:payments-api", outcome: "failed" }),
    );
    expect(report.decisions).toContainEqual(
      expect.objectContaining({
        resource: "stack:payments-api",
        action: "create",
        outcome: "enqueued",
      }),
    );
  });
});
