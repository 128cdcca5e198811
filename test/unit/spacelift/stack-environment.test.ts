/**
 * The stack environment's adapter against the local fake of Spacelift's GraphQL API, whose
 * stack(id) { config }, stackConfigAdd and stackConfigDelete follow the real operations.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { StackId } from "../../../functions/core/identifiers.ts";
import {
  convergeStackEnvironment,
  desiredStackVariables,
  OWNED_DESCRIPTION,
  removeStackEnvironment,
} from "../../../functions/core/stack-environment.ts";
import { SpaceliftGraphqlClient } from "../../../functions/spacelift/graphql-client.ts";
import { SpaceliftStackEnvironment } from "../../../functions/spacelift/stack-environment.ts";
import {
  type FakeSpaceliftServer,
  startFakeSpacelift,
} from "../../../testkit/spacelift/fake-spacelift.ts";

const stack = "payments-api" as StackId;
const arn = "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api";

let spacelift: FakeSpaceliftServer;
let environment: SpaceliftStackEnvironment;

beforeEach(async () => {
  spacelift = await startFakeSpacelift({ stacks: [{ id: stack, space: "root", labels: [] }] });
  environment = new SpaceliftStackEnvironment(
    new SpaceliftGraphqlClient({
      endpoint: spacelift.endpoint,
      apiKeyId: spacelift.apiKeyId,
      apiKeySecret: spacelift.apiKeySecret,
      sleep: async () => undefined,
    }),
  );
});

afterEach(async () => {
  await spacelift.close();
});

describe("SpaceliftStackEnvironment against the fake Spacelift API", () => {
  it("sets the variables with stackConfigAdd, plain and described as ours", async () => {
    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    expect(spacelift.state.configElement(stack, "AWS_ROLE_ARN")).toMatchObject({
      type: "ENVIRONMENT_VARIABLE",
      value: arn,
      writeOnly: false,
    });
    expect(spacelift.state.configElement(stack, "AWS_ROLE_ARN")?.description).toMatch(
      new RegExp(`^${OWNED_DESCRIPTION}`),
    );
    expect(spacelift.state.configElement(stack, "AWS_WEB_IDENTITY_TOKEN_FILE")?.value).toBe(
      "/mnt/workspace/spacelift.oidc",
    );
  });

  it("reads them back with stack { config } and makes no mutation when they are right", async () => {
    const desired = desiredStackVariables(stack, { roleArn: arn });
    await convergeStackEnvironment(environment, stack, desired);
    spacelift.requests.length = 0;

    const result = await convergeStackEnvironment(environment, stack, desired);

    expect(result.changes).toEqual([]);
    expect(spacelift.operations()).toEqual(["stack"]);
  });

  it("corrects a variable of ours someone edited", async () => {
    const desired = desiredStackVariables(stack, { roleArn: arn });
    await convergeStackEnvironment(environment, stack, desired);
    const edited = spacelift.state.configElement(stack, "AWS_ROLE_ARN");
    if (edited === undefined) throw new Error("AWS_ROLE_ARN was not set");
    spacelift.state.putConfig(stack, { ...edited, value: "arn:aws:iam::123456789012:role/x" });

    const result = await convergeStackEnvironment(environment, stack, desired);

    expect(result.changes).toEqual(["set AWS_ROLE_ARN"]);
    expect(spacelift.state.configElement(stack, "AWS_ROLE_ARN")?.value).toBe(arn);
  });

  it("leaves a foreign variable (or a write-only one) of the same name alone", async () => {
    const theirs = {
      id: "AWS_ROLE_ARN",
      type: "ENVIRONMENT_VARIABLE" as const,
      value: "arn:aws:iam::123456789012:role/theirs",
      writeOnly: true,
      description: null,
    };
    spacelift.state.putConfig(stack, theirs);

    const result = await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );
    await removeStackEnvironment(environment, stack);

    expect(result.refused).toEqual(["AWS_ROLE_ARN"]);
    expect(spacelift.state.configElement(stack, "AWS_ROLE_ARN")).toEqual(theirs);
  });

  it("removes ours with stackConfigDelete and keeps everyone else's", async () => {
    spacelift.state.putConfig(stack, {
      id: "TF_LOG",
      type: "ENVIRONMENT_VARIABLE",
      value: "DEBUG",
      writeOnly: false,
      description: null,
    });
    await convergeStackEnvironment(
      environment,
      stack,
      desiredStackVariables(stack, { roleArn: arn }),
    );

    await removeStackEnvironment(environment, stack);

    expect(spacelift.state.config.get(stack)?.map(({ id }) => id)).toEqual(["TF_LOG"]);
    expect(spacelift.operations()).toContain("stackConfigDelete");
  });

  it("reports a stack Spacelift does not have as absent, and a delete of nothing as absent", async () => {
    expect(await environment.list("gone" as StackId)).toBeUndefined();
    expect(await environment.remove(stack, "AWS_ROLE_ARN")).toBe("absent");
  });

  it("surfaces an API failure as an error (the caller retries)", async () => {
    spacelift.faults.graphqlErrors(1, ["value is invalid"], {
      operation: "stackConfigAdd",
    });

    await expect(
      convergeStackEnvironment(environment, stack, desiredStackVariables(stack, { roleArn: arn })),
    ).rejects.toThrow(/StackConfigAdd/);
  });
});
