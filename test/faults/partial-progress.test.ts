/**
 * Partial progress converges: an event interrupted halfway (by a fault the SDK does not absorb)
 * leaves AWS half-done, and the queue's redelivery of the same message completes it. Real
 * adapters and the product's SDK clients against moto_server, faults forced at exact calls.
 */
import { GetParameterCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { dynamodbClient, iamClient, ssmClient } from "../../functions/adapters/aws-clients.ts";
import { DynamoDbLedger } from "../../functions/adapters/dynamodb-ledger.ts";
import { IamRoleStore } from "../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../functions/adapters/ssm-parameter-store.ts";
import { AwsCallError } from "../../functions/core/errors.ts";
import type { StackId } from "../../functions/core/identifiers.ts";
import { type MessageOutcome, processMessage } from "../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import { stackParameterName, stackRoleName } from "../../functions/core/role-names.ts";
import { stackBinding } from "../../functions/core/role-spec.ts";
import { createLocalAwsResources } from "../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";
import {
  type ConvergenceEnvironment,
  prepareConvergence,
  type QueuedMessage,
  roleDifferences,
  SimulatedFifoQueue,
} from "../../testkit/faults/convergence-scenario.ts";
import { auditEvent, type ResourceAction } from "../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const SPACE = "platform-01HND497T9JKR76MR3KA2CDJHP";

let moto: MotoServer;
let env: ConvergenceEnvironment;
let deps: ProvisionerDeps;
let clock = 1_764_000_000_000;

beforeAll(async () => {
  moto = await startMotoServer();
  env = await prepareConvergence(moto);
  const { ledgerTable } = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
  });
  deps = {
    config: env.config,
    roles: new IamRoleStore(iamClient()),
    parameters: new SsmParameterStore(ssmClient()),
    ledger: new DynamoDbLedger(dynamodbClient(), ledgerTable),
    sleep: async () => {},
  };
});

afterAll(async () => {
  env?.close();
  await moto?.stop();
});

beforeEach(() => {
  // No random faults: only the ones each test forces.
  env.faults.reset({ seed: 5 });
  env.faults.enabled = true;
  env.counter.reset();
});

function body(action: ResourceAction, stack: string): string {
  clock += 1000;
  return JSON.stringify(
    auditEvent(action, {
      account: "acme",
      stack,
      space: SPACE,
      labels: ["team:platform"],
      timestamp: clock,
    }),
  );
}

/** Like the queue: the same message again until it is processed (at most 5 receives). */
async function deliver(message: string): Promise<{ failures: Error[]; outcome: MessageOutcome }> {
  const failures: Error[] = [];
  for (let receive = 1; receive <= 5; receive++) {
    try {
      return { failures, outcome: await processMessage(message, deps) };
    } catch (error) {
      failures.push(error as Error);
    }
  }
  throw new Error(`not processed after 5 receives: ${failures.at(-1)?.message}`);
}

function specOf(stack: string) {
  return stackBinding(env.config, {
    stackId: stack as StackId,
    spaceId: SPACE as never,
    labels: ["team:platform"],
  }).role;
}

async function parameterOf(stack: string) {
  const name = stackParameterName(env.config, stack as StackId);
  try {
    return (await env.inspect.ssm.send(new GetParameterCommand({ Name: name }))).Parameter;
  } catch (error) {
    if ((error as Error).name === "ParameterNotFound") return undefined;
    throw error;
  }
}

/** The role matches its spec exactly and its parameter holds its ARN. */
async function expectConverged(stack: string): Promise<void> {
  const role = await env.inspect.roles.describe(stackRoleName(env.config, stack as StackId));
  expect(role).toBeDefined();
  expect(roleDifferences(role as NonNullable<typeof role>, specOf(stack))).toEqual([]);
  expect((await parameterOf(stack))?.Value).toBe(role?.arn);
}

describe("a create interrupted halfway", () => {
  it("is completed on redelivery when a policy attachment failed after CreateRole", async () => {
    const stack = "attach-fails";
    const name = stackRoleName(env.config, stack as StackId);
    env.faults.force({
      service: "iam",
      operation: "AttachRolePolicy",
      kind: "unretried",
      times: 1,
      skip: 1,
    });
    const create = body("stack.create", stack);

    await expect(processMessage(create, deps)).rejects.toThrow(AwsCallError);
    const halfDone = await env.inspect.roles.describe(name);
    expect(halfDone?.managedPolicyArns).toHaveLength(1);
    expect(await parameterOf(stack)).toBeUndefined();

    const { outcome } = await deliver(create);
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "updated" } });
    await expectConverged(stack);
  });

  it("is completed on redelivery when the SDK gave up on the SSM write (8 attempts)", async () => {
    const stack = "ssm-gives-up";
    env.faults.force({ service: "ssm", operation: "PutParameter", kind: "serverError", times: 8 });
    const create = body("stack.create", stack);

    const failure = await processMessage(create, deps).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AwsCallError);
    expect(env.counter.byOperation()["ssm.PutParameter"]).toMatchObject({
      attempts: 8,
      failures: 1,
    });
    expect(
      await env.inspect.roles.describe(stackRoleName(env.config, stack as StackId)),
    ).toBeDefined();
    expect(await parameterOf(stack)).toBeUndefined();

    const { outcome } = await deliver(create);
    expect(outcome).toMatchObject({ result: "applied" });
    await expectConverged(stack);
  });

  it("converges in one delivery when CreateRole's answer was lost and the SDK retried it", async () => {
    const stack = "create-answer-lost";
    env.faults.force({ service: "iam", operation: "CreateRole", kind: "answerLost", times: 1 });

    const { failures, outcome } = await deliver(body("stack.create", stack));

    // The retried CreateRole met EntityAlreadyExists; the role was read and completed.
    expect(failures).toEqual([]);
    expect(env.faults.injected().answerLost).toBe(1);
    expect(env.counter.byOperation()["iam.CreateRole"]).toMatchObject({ calls: 1, attempts: 2 });
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "updated" } });
    await expectConverged(stack);
  });

  it("is completed on redelivery when the ledger write failed after AWS was changed", async () => {
    const stack = "ledger-fails";
    env.faults.force({ service: "dynamodb", operation: "PutItem", kind: "unretried", times: 1 });
    const create = body("stack.create", stack);

    await expect(processMessage(create, deps)).rejects.toThrow(AwsCallError);
    await expectConverged(stack);

    const { outcome } = await deliver(create);
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "unchanged" } });
    await expectConverged(stack);
  });
});

describe("a delete interrupted halfway", () => {
  it("finishes on redelivery when a policy detachment failed", async () => {
    const stack = "detach-fails";
    const name = stackRoleName(env.config, stack as StackId);
    await deliver(body("stack.create", stack));
    env.faults.force({
      service: "iam",
      operation: "DetachRolePolicy",
      kind: "unretried",
      times: 1,
      skip: 1,
    });
    const remove = body("stack.delete", stack);

    await expect(processMessage(remove, deps)).rejects.toThrow(AwsCallError);
    expect((await env.inspect.roles.describe(name))?.managedPolicyArns).toHaveLength(1);
    expect(await parameterOf(stack)).toBeDefined();

    const { outcome } = await deliver(remove);
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "deleted" } });
    expect(await env.inspect.roles.describe(name)).toBeUndefined();
    expect(await parameterOf(stack)).toBeUndefined();
  });

  it("removes the parameter on redelivery when it failed after DeleteRole", async () => {
    const stack = "parameter-delete-fails";
    const name = stackRoleName(env.config, stack as StackId);
    await deliver(body("stack.create", stack));
    env.faults.force({ service: "ssm", operation: "DeleteParameter", kind: "unretried", times: 1 });
    const remove = body("stack.delete", stack);

    await expect(processMessage(remove, deps)).rejects.toThrow(AwsCallError);
    expect(await env.inspect.roles.describe(name)).toBeUndefined();
    expect(await parameterOf(stack)).toBeDefined();

    const { outcome } = await deliver(remove);
    expect(outcome).toMatchObject({
      result: "applied",
      outcome: { result: "absent", parameter: "deleted" },
    });
    expect(await parameterOf(stack)).toBeUndefined();
  });
});

describe("a parameter we did not create", () => {
  it("is neither overwritten by a create nor deleted by a delete", async () => {
    const stack = "hand-made-parameter";
    const name = stackParameterName(env.config, stack as StackId);
    await env.inspect.ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: "arn:aws:iam::123456789012:role/hand-made",
        Type: "String",
      }),
    );

    const created = await processMessage(body("stack.create", stack), deps);
    const deleted = await processMessage(body("stack.delete", stack), deps);

    expect(created).toMatchObject({ result: "dropped", error: { name: "ForeignResourceError" } });
    expect(deleted).toMatchObject({ result: "dropped", error: { name: "ForeignResourceError" } });
    expect(await parameterOf(stack)).toMatchObject({
      Value: "arn:aws:iam::123456789012:role/hand-made",
      Version: 1,
    });
  });
});

describe("a poison message", () => {
  it("ends in the dead-letter queue without blocking the other resources, and converges once redriven", async () => {
    const queue = new SimulatedFifoQueue();
    const poison = "poison";
    queue.send({ group: `stack:${poison}`, body: body("stack.create", poison) });
    queue.send({ group: `stack:${poison}`, body: body("stack.update", poison) });
    for (const stack of ["healthy-1", "healthy-2"]) {
      queue.send({ group: `stack:${stack}`, body: body("stack.create", stack) });
      queue.send({ group: `stack:${stack}`, body: body("stack.update", stack) });
    }
    env.faults.force({
      service: "iam",
      target: stackRoleName(env.config, poison as StackId),
      kind: "unretried",
      times: Number.POSITIVE_INFINITY,
    });
    const handled: string[] = [];
    const handle = async (message: QueuedMessage) => {
      handled.push(message.group);
      await processMessage(message.body, deps);
    };

    await queue.drain(handle, { concurrency: 1, maxReceives: 3 });

    // Both poison messages were received 3 times each, then dead-lettered, in order.
    expect(queue.deadLetters.map((message) => [message.group, message.receives])).toEqual([
      [`stack:${poison}`, 3],
      [`stack:${poison}`, 3],
    ]);
    // The healthy groups were served while the poison group kept failing.
    const firstPoison = handled.indexOf(`stack:${poison}`);
    const lastPoison = handled.lastIndexOf(`stack:${poison}`);
    expect(
      handled.slice(firstPoison, lastPoison).filter((group) => group !== `stack:${poison}`),
    ).toHaveLength(4);
    await expectConverged("healthy-1");
    await expectConverged("healthy-2");

    env.faults.heal();
    expect(queue.redrive()).toBe(2);
    await queue.drain(handle, { concurrency: 1, maxReceives: 3 });
    expect(queue.deadLetters).toEqual([]);
    await expectConverged(poison);
  });
});
