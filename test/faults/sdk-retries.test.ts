/**
 * The product's own SDK clients (functions/adapters/aws-clients.ts) against moto_server, with
 * faults injected below the SDK's retry middleware: each transient fault is retried by the SDK
 * with backoff, what it does not retry (or gives up on) surfaces, and IAM's eventual
 * consistency after CreateRole is waited out with exponential backoff, not a fixed pause.
 */
import { GetRoleCommand, ServiceFailureException } from "@aws-sdk/client-iam";
import { GetParameterCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  AWS_CLIENT_SETTINGS,
  dynamodbClient,
  iamClient,
  ssmClient,
} from "../../functions/adapters/aws-clients.ts";
import { DynamoDbLedger } from "../../functions/adapters/dynamodb-ledger.ts";
import { IamRoleStore } from "../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../functions/adapters/ssm-parameter-store.ts";
import { stsClient } from "../../functions/adapters/sts-client.ts";
import { loadVendingConfig } from "../../functions/core/config.ts";
import { AwsCallError } from "../../functions/core/errors.ts";
import type { StackId } from "../../functions/core/identifiers.ts";
import { processMessage } from "../../functions/core/process-queue-message.ts";
import { MANAGED_BY_TAG, MANAGED_BY_VALUE } from "../../functions/core/role-ownership.ts";
import { stackBinding } from "../../functions/core/role-spec.ts";
import { createLocalAwsResources } from "../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";
import {
  type AttemptFaultKind,
  type AwsService,
  FaultInjector,
  LabelledCallCounter,
} from "../../testkit/faults/fault-injection.ts";
import { auditEvent } from "../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

/** The stand-in boundary createLocalAwsResources creates in moto (checked in beforeAll). */
const BOUNDARY_ARN =
  "arn:aws:iam::123456789012:policy/spacelift-role-vending/spacelift-role-vending-boundary";
const config = await loadVendingConfig({
  SPACELIFT_HOSTNAME: SPACELIFT_HOST,
  PERMISSIONS_BOUNDARY_ARN: BOUNDARY_ARN,
  AWS_ACCOUNT_ID: "123456789012",
  DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
});

let moto: MotoServer;
let previousEndpoint: string | undefined;
let ledgerTable: string;
const faults = new FaultInjector({ seed: 1 });
const counter = new LabelledCallCounter();

beforeAll(async () => {
  moto = await startMotoServer();
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  ledgerTable = resources.ledgerTable;
  if (resources.permissionsBoundaryArn !== BOUNDARY_ARN) {
    throw new Error(`moto holds boundary ${resources.permissionsBoundaryArn}, not ${BOUNDARY_ARN}`);
  }
  // The product's module-scope clients, pointed at moto the way they are locally.
  previousEndpoint = process.env.AWS_ENDPOINT_URL;
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  counter.attach(iamClient(), "iam");
  counter.attach(ssmClient(), "ssm");
  counter.attach(dynamodbClient(), "dynamodb");
  faults.attach(iamClient(), "iam");
  faults.attach(ssmClient(), "ssm");
  faults.attach(dynamodbClient(), "dynamodb");
});

afterAll(async () => {
  if (previousEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL;
  else process.env.AWS_ENDPOINT_URL = previousEndpoint;
  await moto?.stop();
});

beforeEach(() => {
  faults.reset({ seed: 1 });
  counter.reset();
});

describe("the product's client settings", () => {
  it("use the SDK's adaptive retry mode with 8 attempts on every client", async () => {
    expect(AWS_CLIENT_SETTINGS).toMatchObject({ retryMode: "adaptive", maxAttempts: 8 });
    for (const client of [iamClient(), ssmClient(), dynamodbClient()]) {
      expect(await client.config.maxAttempts()).toBe(8);
      const strategy = (await client.config.retryStrategy()) as { mode?: string };
      expect(strategy.mode).toBe("adaptive");
    }
  });
});

/** One SSM or DynamoDB call that succeeds against moto, and the attempts it took. */
async function callOnce(service: "ssm" | "dynamodb"): Promise<number | undefined> {
  if (service === "ssm") {
    const name = `/probe/${Math.random().toString(36).slice(2, 10)}`;
    return (
      await ssmClient().send(new PutParameterCommand({ Name: name, Value: "v", Type: "String" }))
    ).$metadata.attempts;
  }
  await new DynamoDbLedger(dynamodbClient(), ledgerTable).get("stack:probe");
  return counter.byOperation()["dynamodb.GetItem"]?.attempts;
}

describe("transient faults are retried by the SDK", () => {
  const cases: [Exclude<AwsService, "sts">, AttemptFaultKind, number][] = [];
  for (const service of ["iam", "ssm", "dynamodb"] as const) {
    // Throttling backs off from a 1 s base (the SDK's), so it is injected once; the others twice.
    cases.push([service, "throttling", 1]);
    for (const kind of ["serverError", "timeout", "connectionReset"] as const) {
      cases.push([service, kind, 2]);
    }
  }
  it.each(cases)("%s: %s ×%i, then success", async (service, kind, times) => {
    const operation = { iam: "GetRole", ssm: "PutParameter", dynamodb: "GetItem" }[service];
    if (service === "iam") {
      // The role must exist first: force the fault only after the set-up call.
      const roles = new IamRoleStore(iamClient());
      const name = `spacelift-stack-probe-${kind.toLowerCase()}`;
      await roles.create(
        stackBinding(config, {
          stackId: `probe-${kind.toLowerCase()}` as StackId,
          spaceId: config.defaultSpaceId,
          labels: [],
        }).role,
      );
      counter.reset();
      faults.force({ service, operation, kind, times });
      const answer = await iamClient().send(new GetRoleCommand({ RoleName: name }));
      expect(answer.Role?.RoleName).toBe(name);
      expect(answer.$metadata.attempts).toBe(times + 1);
    } else {
      faults.force({ service, operation, kind, times });
      expect(await callOnce(service)).toBe(times + 1);
    }
    expect(faults.injected()[kind]).toBe(times);
    expect(counter.byOperation()[`${service}.${operation}`]).toEqual({
      calls: 1,
      attempts: times + 1,
      failures: 0,
    });
  });
});

describe("AssumeRole into a target account", () => {
  it("sts: throttling ×1 on AssumeRole, answered in STS's protocol, is retried by the product's STS client", async () => {
    counter.attach(stsClient(), "sts");
    faults.attach(stsClient(), "sts");
    counter.reset();
    const roleArn = "arn:aws:iam::222222222222:role/spacelift-vending";
    faults.force({
      service: "sts",
      operation: "AssumeRole",
      target: roleArn,
      kind: "throttling",
      times: 1,
    });

    const answer = await stsClient().send(
      new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: "probe" }),
    );

    expect(answer.Credentials?.AccessKeyId).toBeTruthy();
    expect(answer.$metadata.attempts).toBe(2);
    expect(faults.injected().throttling).toBe(1);
    expect(counter.byOperation()["sts.AssumeRole"]).toEqual({ calls: 1, attempts: 2, failures: 0 });
  });
});

describe("faults the SDK does not absorb surface to the caller", () => {
  it("an IAM ConcurrentModification (409) is not retried by the SDK and surfaces as AwsCallError", async () => {
    const roles = new IamRoleStore(iamClient());
    faults.force({ service: "iam", operation: "GetRole", kind: "unretried", times: 1 });

    const failure = await roles.describe("spacelift-stack-anything").catch((error) => error);

    expect(failure).toBeInstanceOf(AwsCallError);
    expect((failure as Error).cause).toMatchObject({
      name: "ConcurrentModificationException",
      $metadata: { httpStatusCode: 409, attempts: 1 },
    });
    expect(counter.byOperation()["iam.GetRole"]).toEqual({ calls: 1, attempts: 1, failures: 1 });
  });

  it("a call failing on every attempt is given up after maxAttempts (8)", async () => {
    faults.force({ service: "iam", operation: "GetRole", kind: "serverError", times: 8 });

    const failure = await iamClient()
      .send(new GetRoleCommand({ RoleName: "spacelift-stack-anything" }))
      .catch((error) => error);

    expect(failure).toBeInstanceOf(ServiceFailureException);
    expect((failure as ServiceFailureException).$metadata).toMatchObject({
      httpStatusCode: 500,
      attempts: 8,
    });
    expect(faults.injected().serverError).toBe(8);
    expect(counter.byOperation()["iam.GetRole"]).toEqual({ calls: 1, attempts: 8, failures: 1 });
  });

  it("an answer lost after SSM applied PutParameter is retried, and the retry finds it written", async () => {
    const parameters = new SsmParameterStore(ssmClient());
    const name = "/spacelift/acme/stacks/lost-answer/role-arn";
    faults.force({ service: "ssm", operation: "PutParameter", kind: "answerLost", times: 1 });

    const result = await parameters.publish(
      name,
      "arn:aws:iam::123456789012:role/x",
      { [MANAGED_BY_TAG]: MANAGED_BY_VALUE },
      {
        fresh: true,
      },
    );

    // The SDK retried the lost PutParameter (Overwrite=false): SSM said it already exists, and
    // the store then found the value it wanted already there.
    expect(result).toBe("unchanged");
    expect(faults.injected().answerLost).toBe(1);
    const written = await ssmClient().send(new GetParameterCommand({ Name: name }));
    expect(written.Parameter).toMatchObject({
      Value: "arn:aws:iam::123456789012:role/x",
      Version: 1,
    });
  });
});

describe("IAM eventual consistency after CreateRole", () => {
  it("is waited out by polling with exponential backoff through the injected sleep", async () => {
    const sleeps: number[] = [];
    const deps = {
      config,
      roles: new IamRoleStore(iamClient()),
      parameters: new SsmParameterStore(ssmClient()),
      ledger: new DynamoDbLedger(dynamodbClient(), ledgerTable),
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
    };
    const role = "spacelift-stack-eventually";
    faults.force({
      service: "iam",
      operation: "GetRole",
      target: role,
      kind: "notYetReadable",
      times: 3,
    });

    const outcome = await processMessage(
      JSON.stringify(
        auditEvent("stack.create", { account: "acme", stack: "eventually", timestamp: 1_000 }),
      ),
      deps,
    );

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(faults.injected().notYetReadable).toBe(3);
    expect(sleeps).toEqual([100, 200, 400]);
  });
});
