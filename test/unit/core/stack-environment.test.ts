import { describe, expect, it } from "vitest";
import type { ProvisionOutcome } from "../../../functions/core/converge-contract.ts";
import type { StackId } from "../../../functions/core/identifiers.ts";
import {
  applyStackEnvironment,
  convergeStackEnvironment,
  describeVariable,
  desiredStackVariables,
  isStackEnvironmentEnabled,
  removeStackEnvironment,
  SPACELIFT_TOKEN_FILE,
} from "../../../functions/core/stack-environment.ts";
import { InMemoryStackEnvironment } from "../../../testkit/fakes/in-memory-stack-environment.ts";

const stack = "payments-api" as StackId;
const arn = "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api";
const renamed = "arn:aws:iam::210987654321:role/spacelift/spacelift-stack-payments-api";

function valuesOf(environment: InMemoryStackEnvironment): Record<string, string | undefined> {
  const variables = environment.stacks.get(stack) ?? new Map();
  return Object.fromEntries([...variables.values()].map((v) => [v.name, v.value]));
}

describe("convergeStackEnvironment", () => {
  it("sets the role, token file and session name on a stack that has none", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);

    const result = await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    expect(valuesOf(environment)).toEqual({
      TF_VAR_aws_role_arn: arn,
      AWS_ROLE_ARN: arn,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
      AWS_ROLE_SESSION_NAME: "spacelift-payments-api",
    });
    expect(environment.variable(stack, "AWS_ROLE_ARN")?.description).toBe(
      describeVariable("AWS_ROLE_ARN"),
    );
    expect(result.changes).toHaveLength(4);
  });

  it("makes no write call when the variables are already right", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);
    const desired = desiredStackVariables(stack, { roleArn: arn });
    await convergeStackEnvironment(environment, stack, desired);
    environment.calls.length = 0;

    const result = await convergeStackEnvironment(environment, stack, desired);

    expect(environment.writes()).toEqual([]);
    expect(result).toEqual({ changes: [], refused: [], stackAbsent: false });
  });

  it("corrects ours after drift and after the role's ARN changes", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);
    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );
    environment.variable(stack, "AWS_WEB_IDENTITY_TOKEN_FILE");
    environment.stacks.get(stack)?.set("AWS_WEB_IDENTITY_TOKEN_FILE", {
      name: "AWS_WEB_IDENTITY_TOKEN_FILE",
      value: "/tmp/elsewhere",
      writeOnly: false,
      description: describeVariable("AWS_WEB_IDENTITY_TOKEN_FILE"),
    });

    const result = await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: renamed }),
    );

    expect(valuesOf(environment)).toMatchObject({
      TF_VAR_aws_role_arn: renamed,
      AWS_ROLE_ARN: renamed,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
    });
    expect(result.changes).toEqual([
      "set TF_VAR_aws_role_arn",
      "set AWS_ROLE_ARN",
      "set AWS_WEB_IDENTITY_TOKEN_FILE",
    ]);
  });

  it("rewrites one of ours that was made write-only (its value cannot be compared)", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack, [
      {
        name: "AWS_ROLE_ARN",
        value: undefined,
        writeOnly: true,
        description: describeVariable("AWS_ROLE_ARN"),
      },
    ]);

    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    expect(environment.variable(stack, "AWS_ROLE_ARN")).toMatchObject({
      value: arn,
      writeOnly: false,
    });
  });

  it("never overwrites nor removes a variable of the same name that someone else set", async () => {
    const theirs = {
      name: "AWS_ROLE_ARN",
      value: "arn:aws:iam::123456789012:role/their-own",
      writeOnly: false,
      description: "set by the platform team",
    };
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack, [
      theirs,
      { ...theirs, name: "TF_VAR_aws_read_role_arn", description: undefined },
    ]);

    const result = await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );
    const removal = await removeStackEnvironment(environment, stack);

    expect(result.refused).toEqual(["AWS_ROLE_ARN"]);
    expect(environment.variable(stack, "AWS_ROLE_ARN")).toEqual(theirs);
    expect(environment.variable(stack, "TF_VAR_aws_read_role_arn")?.value).toBe(theirs.value);
    expect(environment.writes()).not.toContain(`set ${stack} AWS_ROLE_ARN`);
    expect(removal.changes).not.toContain("delete AWS_ROLE_ARN");
    expect(environment.variable(stack, "AWS_ROLE_ARN")).toEqual(theirs);
  });

  it("removes ours, and only ours, when the stack's role goes", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack, [
      { name: "TF_LOG", value: "DEBUG", writeOnly: false, description: undefined },
    ]);
    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    const result = await removeStackEnvironment(environment, stack);

    expect(valuesOf(environment)).toEqual({ TF_LOG: "DEBUG" });
    expect(result.changes).toHaveLength(4);
  });

  it("with the read/write split sets both ARNs as Terraform variables and no AWS_ROLE_ARN", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);
    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: `${arn}.write`, readRoleArn: `${arn}.read` }),
    );

    expect(valuesOf(environment)).toEqual({
      TF_VAR_aws_role_arn: `${arn}.write`,
      TF_VAR_aws_read_role_arn: `${arn}.read`,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
      AWS_ROLE_SESSION_NAME: "spacelift-payments-api",
    });
  });

  it("plans without writing", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);

    const result = await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
      { plan: true },
    );

    expect(result.changes).toContain("set AWS_ROLE_ARN");
    expect(environment.writes()).toEqual([]);
    expect(valuesOf(environment)).toEqual({});
  });

  it("does nothing for a stack Spacelift no longer has", async () => {
    const environment = new InMemoryStackEnvironment();

    const result = await removeStackEnvironment(environment, stack);

    expect(result).toEqual({ changes: [], refused: [], stackAbsent: true });
    expect(environment.writes()).toEqual([]);
  });
});

describe("applyStackEnvironment (the provisioner's step after an event)", () => {
  const applied: ProvisionOutcome = {
    resource: `stack:${stack}`,
    result: "created",
    roleName: "spacelift-stack-payments-api",
    roleArn: arn,
    changes: [],
  };
  const upserted = {
    type: "stack.upserted",
    stackId: stack,
  } as Parameters<typeof applyStackEnvironment>[0];

  it("converges the stack on the role the event left", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);

    await applyStackEnvironment(upserted, applied, async () => environment);

    expect(environment.variable(stack, "AWS_ROLE_ARN")?.value).toBe(arn);
  });

  it("does nothing for a stale event", async () => {
    const environment = new InMemoryStackEnvironment();
    environment.addStack(stack);

    const report = await applyStackEnvironment(
      upserted,
      { ...applied, result: "stale" },
      async () => environment,
    );

    expect(report).toBeUndefined();
    expect(environment.calls).toEqual([]);
  });

  it("says why when Spacelift cannot be opened, and writes nothing", async () => {
    const report = await applyStackEnvironment(upserted, applied, async () => ({
      unavailable: "no key",
    }));

    expect(report).toEqual({ stackId: stack, unavailable: "no key" });
  });
});

describe("isStackEnvironmentEnabled", () => {
  it("is off by default, on with STACK_ENVIRONMENT=true, and refuses other values", () => {
    expect(isStackEnvironmentEnabled({})).toBe(false);
    expect(isStackEnvironmentEnabled({ STACK_ENVIRONMENT: "true" })).toBe(true);
    expect(() => isStackEnvironmentEnabled({ STACK_ENVIRONMENT: "yes" })).toThrow(
      /STACK_ENVIRONMENT/,
    );
  });
});
