/**
 * What an in-sync reconcile costs in AWS calls, counted per API on the product's own SDK
 * clients against moto: the inventory reads IAM and SSM in bulk, and planning a resource (the
 * dry run, which goes through the same code as planning) reads nothing more. IAM and SSM are
 * counted apart from DynamoDB (the provisioner's ledger table), whose reads the planner's
 * rewrite changes.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DetachRolePolicyCommand, TagRoleCommand } from "@aws-sdk/client-iam";
import { DeleteParameterCommand } from "@aws-sdk/client-ssm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dynamodbClient, iamClient, ssmClient } from "../../../functions/adapters/aws-clients.ts";
import type { VendingConfig } from "../../../functions/core/config.ts";
import type { StackId } from "../../../functions/core/identifiers.ts";
import type { ReconcileReport } from "../../../functions/core/reconcile/decisions.ts";
import { reconcile } from "../../../functions/core/reconcile/pass.ts";
import { stackParameterName, stackRoleName } from "../../../functions/core/role-names.ts";
import { ApiCallCounter, callsOf } from "../../../testkit/aws/api-calls.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import {
  deleteRoleByHand,
  type Harness,
  READ_ONLY,
  startHarness,
} from "../../../testkit/reconcile-harness.ts";

const STACKS = 100;
const SPACES = 4;
/** Listed stacks and spaces, `root` included. */
const RESOURCES = STACKS + SPACES + 1;
const LEDGER = "inventory-ledger";
const T0 = new Date("2026-11-20T12:00:00.000Z");

/** A Spacelift space ID (a slug and a ULID). */
const spaceId = (index: number) => `team-${index}-01HND497T9JKR76MR3KA2CDJH${"ABCDEFGH"[index]}`;

let h: Harness;
let config: VendingConfig;
const counter = new ApiCallCounter();

// 100 stacks created by a real pass (planned, then applied): slow when the machine is busy.
beforeAll(async () => {
  h = await startHarness();
  await h.reset();
  for (const client of [iamClient(), ssmClient(), dynamodbClient()]) counter.attach(client);
  const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
  await createLedgerTable(dynamodb, LEDGER);
  dynamodb.destroy();
  for (let space = 0; space < SPACES; space++) {
    h.spacelift.state.addSpace({
      id: spaceId(space),
      name: `s${space}`,
      parentSpace: "root",
      labels: [],
    });
  }
  for (let stack = 0; stack < STACKS; stack++) {
    h.spacelift.state.addStack({
      id: `stack-${stack}`,
      space: spaceId(stack % SPACES),
      labels: [],
    });
  }
  // Everything created by the product itself, so that the next pass finds it in sync.
  await repair();
  config = (await h.deps()).config;
}, 180_000);

afterAll(async () => {
  await h?.stop();
});

// Each test drifts what it needs; a real pass puts it back for the next.
afterEach(repair);

/** A real pass: the reconciler plans, the provisioner applies what it queued. */
async function repair(): Promise<void> {
  await h.reconcile({ now: T0, env: { LEDGER_TABLE: LEDGER } });
}

async function dryRunCalls() {
  const deps = await h.deps({
    now: T0,
    env: { LEDGER_TABLE: LEDGER },
    settings: { dryRun: true },
  });
  const { result, tally } = await counter.measure(() => reconcile(deps));
  const iam = callsOf(tally, "IAM");
  const ssm = callsOf(tally, "SSM");
  const dynamodb = callsOf(tally, "DynamoDB");
  return {
    report: result,
    awsCalls: iam.readCount + iam.writeCount + ssm.readCount + ssm.writeCount,
    awsReads: { ...iam.reads, ...ssm.reads },
    awsWrites: { ...iam.writes, ...ssm.writes },
    dynamodb,
  };
}

const plan = (report: ReconcileReport) =>
  report.decisions.map(({ action, resource }) => `${action} ${resource}`);

describe("the inventory's cost against moto", () => {
  it(`plans an in-sync pass of ${STACKS} stacks and ${SPACES + 1} spaces in at most 0.2 IAM+SSM calls a resource, writing nothing`, async () => {
    const { report, awsCalls, awsReads, awsWrites, dynamodb } = await dryRunCalls();

    expect(report.counts).toMatchObject({ inSync: RESOURCES, managedRoles: RESOURCES });
    expect(report.decisions).toEqual([]);
    expect(awsWrites).toEqual({});
    expect(awsCalls).toBeLessThanOrEqual(0.2 * RESOURCES);
    // One bulk page each for IAM (moto returns one page whatever MaxItems says), parameters
    // 10 a page, and the Spacelift API key: no read per role or per parameter.
    expect(awsReads).toEqual({
      ListRoles: 1,
      GetAccountAuthorizationDetails: 1,
      // The account's role usage and quota, read once a pass for the quota metric.
      GetAccountSummary: 1,
      GetParametersByPath: Math.ceil((RESOURCES + 1) / 10),
      GetParameter: 1,
    });
    // The ledger table, apart: a dry run writes nothing there either.
    expect(dynamodb.writes).toEqual({});
  });

  it("a real in-sync pass makes the same bulk reads, no read per resource, no write, and enqueues nothing", async () => {
    const deps = await h.deps({ now: T0, env: { LEDGER_TABLE: LEDGER } });
    const { result, tally } = await counter.measure(() => reconcile(deps));
    const iam = callsOf(tally, "IAM");
    const ssm = callsOf(tally, "SSM");
    const dynamodb = callsOf(tally, "DynamoDB");

    expect(result.counts).toMatchObject({ inSync: RESOURCES, enqueued: 0 });
    expect(iam.reads).toEqual({
      ListRoles: 1,
      GetAccountAuthorizationDetails: 1,
      GetAccountSummary: 1,
    });
    expect(ssm.reads).toEqual({
      GetParametersByPath: Math.ceil((RESOURCES + 1) / 10),
      GetParameter: 1,
    });
    expect(iam.writeCount + ssm.writeCount).toBe(0);
    // The ledger table: one read per space (its recorded path and count), none per stack.
    expect(dynamodb.reads).toEqual({ GetItem: SPACES + 1 });
    expect(dynamodb.writeCount).toBe(0);
  });

  it("with 1% drift (one stack's role), reads nothing per resource and plans that stack's update", async () => {
    const drifted = stackRoleName(config, "stack-7" as StackId);
    await h.iam.send(new DetachRolePolicyCommand({ RoleName: drifted, PolicyArn: READ_ONLY }));
    await h.iam.send(
      new TagRoleCommand({
        RoleName: drifted,
        Tags: [{ Key: "spacelift:space", Value: spaceId(0) }],
      }),
    );

    const { report, awsCalls, awsWrites } = await dryRunCalls();

    expect(plan(report)).toEqual(["update stack:stack-7"]);
    expect(awsWrites).toEqual({});
    expect(awsCalls).toBeLessThanOrEqual(0.2 * RESOURCES);
  });

  it("plans the creation of a role deleted by hand, with calls still bounded", async () => {
    await deleteRoleByHand(h, stackRoleName(config, "stack-3" as StackId));
    await h.ssm.send(
      new DeleteParameterCommand({ Name: stackParameterName(config, "stack-3" as StackId) }),
    );

    const { report, awsCalls, awsWrites } = await dryRunCalls();

    expect(plan(report)).toEqual(["create stack:stack-3"]);
    expect(awsWrites).toEqual({});
    expect(awsCalls).toBeLessThanOrEqual(0.2 * RESOURCES);
  });
});
