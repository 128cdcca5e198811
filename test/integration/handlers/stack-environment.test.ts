/**
 * The provisioner handler with STACK_ENVIRONMENT=true, against moto_server (AWS) and the local
 * fake of Spacelift's GraphQL API: a stack's variables follow its role, a foreign variable is
 * left alone, and a Spacelift failure fails the record without touching the AWS side.
 */
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CreatePolicyCommand } from "@aws-sdk/client-iam";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import type { Context, SQSBatchResponse } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { composeProvisioner } from "../../../functions/compose.ts";
import { composeStackEnvironment } from "../../../functions/compose-stack-environment.ts";
import { SPACELIFT_TOKEN_FILE } from "../../../functions/core/stack-environment.ts";
import { createHandler, type ProvisionerHandler } from "../../../functions/handlers/provisioner.ts";
import { readParameter, readRole, testClients } from "../../../testkit/aws/clients.ts";
import { createLocalAwsResources } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { sqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";
import {
  type FakeSpaceliftServer,
  startFakeSpacelift,
} from "../../../testkit/spacelift/fake-spacelift.ts";
import { PRODUCTION_SPACE, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const KEY_PARAMETER = "/spacelift-role-vending/spacelift-api-key";

let moto: MotoServer;
let spacelift: FakeSpaceliftServer;
let handler: ProvisionerHandler;
let clients: ReturnType<typeof testClients>;
let clock = 1_000;

const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

function send(action: ResourceAction, stack: string): Promise<SQSBatchResponse> {
  clock += 1;
  const body = JSON.stringify(
    auditEvent(action, { account: "acme", stack, space: PRODUCTION_SPACE, timestamp: clock }),
  );
  return handler(sqsEvent([{ body, group: `stack:${stack}`, id: clock }]), context);
}

function variables(stack: string): Record<string, string> {
  return Object.fromEntries(
    (spacelift.state.config.get(stack) ?? []).map((element) => [element.id, element.value]),
  );
}

beforeAll(async () => {
  moto = await startMotoServer();
  spacelift = await startFakeSpacelift();
  clients = testClients(moto.endpoint);
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  const boundary = await clients.iam.send(
    new CreatePolicyCommand({
      PolicyName: "spacelift-boundary",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
      }),
    }),
  );
  await clients.ssm.send(
    new PutParameterCommand({
      Name: KEY_PARAMETER,
      Type: "SecureString",
      Value: JSON.stringify({ id: spacelift.apiKeyId, secret: spacelift.apiKeySecret }),
    }),
  );
  // The SDK's own setting: the module-scope clients (adapters/aws-clients.ts) talk to moto.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  const env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: "123456789012",
    LEDGER_TABLE: resources.ledgerTable,
    PERMISSIONS_BOUNDARY_ARN: boundary.Policy?.Arn ?? "",
    STACK_ENVIRONMENT: "true",
    SPACELIFT_API_KEY_PARAMETER: KEY_PARAMETER,
    SPACELIFT_API_ENDPOINT: spacelift.endpoint,
  };
  handler = createHandler({
    provisioner: await composeProvisioner(env),
    openStackEnvironment: composeStackEnvironment(env, SPACELIFT_HOST),
  });
});

afterAll(async () => {
  await spacelift?.close();
  await moto?.stop();
});

beforeEach(() => {
  spacelift.faults.clear();
});

describe("provisioner with STACK_ENVIRONMENT=true", () => {
  it("sets the stack's variables on create, with the role's ARN", async () => {
    spacelift.state.addStack({ id: "payments-api", space: PRODUCTION_SPACE, labels: [] });

    const result = await send("stack.create", "payments-api");

    expect(result.batchItemFailures).toEqual([]);
    const role = await readRole(clients.iam, "spacelift-stack-payments-api");
    expect(variables("payments-api")).toEqual({
      TF_VAR_aws_role_arn: role?.arn,
      AWS_ROLE_ARN: role?.arn,
      AWS_WEB_IDENTITY_TOKEN_FILE: SPACELIFT_TOKEN_FILE,
      AWS_ROLE_SESSION_NAME: "spacelift-payments-api",
    });
  });

  it("corrects a variable of ours after drift on the next event", async () => {
    const ours = spacelift.state.configElement("payments-api", "AWS_ROLE_ARN");
    if (ours === undefined) throw new Error("the create test did not set AWS_ROLE_ARN");
    spacelift.state.putConfig("payments-api", {
      ...ours,
      value: "arn:aws:iam::123456789012:role/x",
    });

    const result = await send("stack.update", "payments-api");

    expect(result.batchItemFailures).toEqual([]);
    const role = await readRole(clients.iam, "spacelift-stack-payments-api");
    expect(variables("payments-api").AWS_ROLE_ARN).toBe(role?.arn);
  });

  it("leaves a foreign variable of the same name alone and still sets the others", async () => {
    spacelift.state.addStack({ id: "billing", space: PRODUCTION_SPACE, labels: [] });
    const theirs = {
      id: "AWS_ROLE_ARN",
      type: "ENVIRONMENT_VARIABLE" as const,
      value: "arn:aws:iam::123456789012:role/platform-managed",
      writeOnly: false,
      description: "set by the platform team",
    };
    spacelift.state.putConfig("billing", theirs);

    const result = await send("stack.create", "billing");

    expect(result.batchItemFailures).toEqual([]);
    expect(spacelift.state.configElement("billing", "AWS_ROLE_ARN")).toEqual(theirs);
    expect(variables("billing").AWS_WEB_IDENTITY_TOKEN_FILE).toBe(SPACELIFT_TOKEN_FILE);
  });

  it("removes ours when the stack is deleted, keeping the foreign one", async () => {
    expect(variables("billing").AWS_WEB_IDENTITY_TOKEN_FILE).toBe(SPACELIFT_TOKEN_FILE);

    await send("stack.delete", "billing");

    expect(variables("billing")).toEqual({
      AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/platform-managed",
    });
    expect(await readRole(clients.iam, "spacelift-stack-billing")).toBeUndefined();
  });

  it("a Spacelift failure fails the record but leaves the role and parameter; the retry sets the variables", async () => {
    spacelift.state.addStack({ id: "ledger", space: PRODUCTION_SPACE, labels: [] });
    spacelift.faults.graphqlErrors(1, ["internal error"], { operation: "stack" });

    const failed = await send("stack.create", "ledger");

    expect(failed.batchItemFailures).toHaveLength(1);
    const role = await readRole(clients.iam, "spacelift-stack-ledger");
    expect(role?.arn).toBeDefined();
    expect(
      (await readParameter(clients.ssm, "/spacelift/acme/stacks/ledger/role-arn"))?.value,
    ).toBe(role?.arn);
    expect(variables("ledger")).toEqual({});

    // The queue redelivers the same message: AWS is already right, the variables follow.
    clock -= 1;
    const retried = await send("stack.create", "ledger");

    expect(retried.batchItemFailures).toEqual([]);
    expect(variables("ledger").AWS_ROLE_ARN).toBe(role?.arn);
  });
});

describe("a run given only the stack's variables", () => {
  it("gets the stack role's credentials through the SDK's default chain (web identity)", async () => {
    spacelift.state.addStack({ id: "consumer", space: PRODUCTION_SPACE, labels: [] });
    expect((await send("stack.create", "consumer")).batchItemFailures).toEqual([]);
    const set = variables("consumer");
    const role = await readRole(clients.iam, "spacelift-stack-consumer");
    // The product points at Spacelift's token path; this machine has none, so a file elsewhere.
    expect(set.AWS_WEB_IDENTITY_TOKEN_FILE).toBe(SPACELIFT_TOKEN_FILE);
    const directory = await mkdtemp(join(tmpdir(), "consumer-"));
    const tokenFile = join(directory, "spacelift.oidc");
    await writeFile(tokenFile, spaceliftLikeToken("consumer"));

    const { stdout } = await run(process.execPath, [CHILD], {
      cwd: process.cwd(),
      env: {
        ...set,
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        // Where this test's AWS is, and no other credentials or configuration to find.
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_REGION: "us-east-1",
        HOME: directory,
        AWS_CONFIG_FILE: join(directory, "none"),
        AWS_SHARED_CREDENTIALS_FILE: join(directory, "none"),
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        PATH: process.env.PATH ?? "",
      },
    });

    const caller = JSON.parse(stdout) as { arn: string; account: string };
    expect(role?.arn).toBe(set.AWS_ROLE_ARN);
    expect(caller).toEqual({
      arn: "arn:aws:sts::123456789012:assumed-role/spacelift-stack-consumer/spacelift-consumer",
      account: "123456789012",
    });
  });
});

const CHILD = fileURLToPath(
  new URL("../../../testkit/aws/consumer/caller-identity.mjs", import.meta.url),
);
const run = promisify(execFile);

/** JWT-shaped like a Spacelift run token (moto's STS does not verify it; AWS would). */
function spaceliftLikeToken(stack: string): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return [
    encode({ alg: "RS256", typ: "JWT" }),
    encode({
      iss: `https://${SPACELIFT_HOST}`,
      aud: SPACELIFT_HOST,
      sub: `space:${PRODUCTION_SPACE}:stack:${stack}:run_type:TRACKED:scope:write`,
      exp: Math.floor(Date.now() / 1000) + 3600,
    }),
    "signature",
  ].join(".");
}

describe("composeStackEnvironment", () => {
  it("is nothing with the option off", () => {
    expect(composeStackEnvironment({ STACK_ENVIRONMENT: "false" }, SPACELIFT_HOST)).toBeUndefined();
    expect(composeStackEnvironment({}, SPACELIFT_HOST)).toBeUndefined();
  });

  it("without the API key parameter, opens nothing and says why (SSM stays the contract)", async () => {
    const open = composeStackEnvironment(
      {
        STACK_ENVIRONMENT: "true",
        SPACELIFT_API_KEY_PARAMETER: "/spacelift-role-vending/no-such-key",
        SPACELIFT_API_ENDPOINT: spacelift.endpoint,
      },
      SPACELIFT_HOST,
    );
    spacelift.requests.length = 0;

    expect(await open?.()).toEqual({
      unavailable: "the API key parameter /spacelift-role-vending/no-such-key does not exist",
    });
    expect(spacelift.requests).toEqual([]);
  });
});
