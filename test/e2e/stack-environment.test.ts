/**
 * End to end with STACK_ENVIRONMENT=true: `npm start`'s program (its own moto_server) pointed at
 * the local fake of Spacelift's API, driven by `npm run send`'s program: a created stack gets
 * working variables, a deleted one loses them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SPACELIFT_TOKEN_FILE } from "../../functions/core/stack-environment.ts";
import { eventually, readRole, testClients } from "../../testkit/aws/clients.ts";
import {
  E2E_WEBHOOK_SECRET,
  type LocalRun,
  runSend,
  startLocalRun,
} from "../../testkit/e2e-harness.ts";
import {
  type FakeSpaceliftServer,
  startFakeSpacelift,
} from "../../testkit/spacelift/fake-spacelift.ts";
import { PRODUCTION_SPACE } from "../../testkit/spacelift/fixtures.ts";

let spacelift: FakeSpaceliftServer;
let run: LocalRun;

function variables(stack: string): Record<string, string> {
  return Object.fromEntries(
    (spacelift.state.config.get(stack) ?? []).map((element) => [element.id, element.value]),
  );
}

async function send(action: string, stack: string): Promise<void> {
  const sent = await runSend([action, "--stack", stack, "--space", PRODUCTION_SPACE], {
    RECEIVER_URL: run.url,
    SPACELIFT_WEBHOOK_SECRET: E2E_WEBHOOK_SECRET,
  });
  if (sent.code !== 0) throw new Error(`npm run send exited with ${sent.code}: ${sent.output}`);
}

beforeAll(async () => {
  spacelift = await startFakeSpacelift({
    stacks: [{ id: "payments-api", space: PRODUCTION_SPACE, labels: [] }],
  });
  run = await startLocalRun({ spacelift });
});

afterAll(async () => {
  await run?.close();
  await spacelift?.close();
});

describe("npm start with STACK_ENVIRONMENT=true against the fake Spacelift API", () => {
  it("says where the stack variables go", () => {
    expect(run.output()).toContain(`Stack variables: set through ${spacelift.endpoint}`);
  });

  it("leaves a created stack with variables naming its role", async () => {
    await send("stack.create", "payments-api");

    const set = await eventually(
      async () => variables("payments-api"),
      (value) => value.AWS_ROLE_SESSION_NAME !== undefined,
    );
    const role = await readRole(testClients(run.endpoint).iam, "spacelift-stack-payments-api");
    expect(set).toEqual({
      TF_VAR_aws_role_arn: role?.arn,
      AWS_ROLE_ARN: role?.arn,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
      AWS_ROLE_SESSION_NAME: "spacelift-payments-api",
    });
  });

  it("removes them when the stack is deleted", async () => {
    await send("stack.delete", "payments-api");

    await eventually(
      async () => variables("payments-api"),
      (value) => Object.keys(value).length === 0,
    );
  });
});
