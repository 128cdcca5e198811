/**
 * End to end with STACK_ENVIRONMENT=true: `npm start`'s program (its own moto_server) pointed at
 * the local fake of Spacelift's API, driven by `npm run send`'s program: a created stack gets
 * working variables, a deleted one loses them.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SPACELIFT_TOKEN_FILE } from "../../functions/core/stack-environment.ts";
import { eventually, readRole, testClients } from "../support/aws.ts";
import { type FakeSpaceliftServer, startFakeSpacelift } from "../support/fake-spacelift.ts";
import { PRODUCTION_SPACE } from "../support/fixtures.ts";

const HOST = "acme.app.spacelift.io";
const SECRET = "e2e-webhook-secret-0123456789";
const run = promisify(execFile);

let spacelift: FakeSpaceliftServer;
let child: ChildProcess;
let output = "";
let receiver: string;
let awsEndpoint: string;

function variables(stack: string): Record<string, string> {
  return Object.fromEntries(
    (spacelift.state.config.get(stack) ?? []).map((element) => [element.id, element.value]),
  );
}

async function send(action: string, stack: string): Promise<void> {
  await run(
    process.execPath,
    ["--import", "tsx", "scripts/send.ts", action, "--stack", stack, "--space", PRODUCTION_SPACE],
    { env: { ...process.env, RECEIVER_URL: receiver, SPACELIFT_WEBHOOK_SECRET: SECRET } },
  );
}

beforeAll(async () => {
  spacelift = await startFakeSpacelift({
    stacks: [{ id: "payments-api", space: PRODUCTION_SPACE, labels: [] }],
  });
  child = spawn(process.execPath, ["--import", "tsx", "scripts/local.ts"], {
    env: {
      ...process.env,
      AWS_ENDPOINT_URL: "",
      PORT: "0",
      SPACELIFT_HOSTNAME: HOST,
      SPACELIFT_WEBHOOK_SECRET: SECRET,
      STACK_ENVIRONMENT: "true",
      SPACELIFT_API_ENDPOINT: spacelift.endpoint,
      SPACELIFT_API_KEY_ID: spacelift.apiKeyId,
      SPACELIFT_API_KEY_SECRET: spacelift.apiKeySecret,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const read = (label: string) => new RegExp(`${label}:\\s+(\\S+)`).exec(output)?.[1];
  await eventually(
    async () => read("Dead letters"),
    (value) => value !== undefined || child.exitCode !== null,
    30_000,
  );
  if (child.exitCode !== null) throw new Error(`npm start exited: ${output}`);
  receiver = read("Receiver") ?? "";
  awsEndpoint = read("AWS endpoint") ?? "";
});

afterAll(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGINT");
    await exited;
  }
  await spacelift?.close();
});

describe("npm start with STACK_ENVIRONMENT=true against the fake Spacelift API", () => {
  it("says where the stack variables go", () => {
    expect(output).toContain(`Stack variables: set through ${spacelift.endpoint}`);
  });

  it("leaves a created stack with variables naming its role", async () => {
    await send("stack.create", "payments-api");

    const set = await eventually(
      async () => variables("payments-api"),
      (value) => value.AWS_ROLE_SESSION_NAME !== undefined,
    );
    const role = await readRole(testClients(awsEndpoint).iam, "spacelift-stack-payments-api");
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
