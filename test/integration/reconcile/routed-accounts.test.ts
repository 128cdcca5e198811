/**
 * The reconciler over two AWS accounts on moto (which keeps separate state per account): the
 * service's own (123456789012) and a target (222222222222) that the production space is routed
 * to. Each pass inventories both (the target through its vending role), plans every listed
 * resource against the account it is routed to, and settles orphans per account; the harness
 * applies the plan through the provisioner. An unreachable target account is skipped and
 * reported, never taken as "no roles there".
 */

import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DetachRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRoleTagsCommand,
  paginateListRoles,
} from "@aws-sdk/client-iam";
import { paginateGetParametersByPath, SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { DeserializeMiddleware, MetadataBearer } from "@smithy/types";
import type { Context } from "aws-lambda";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { accountClients, iamClient, ssmClient } from "../../../functions/adapters/aws-clients.ts";
import { StsAccountAccess } from "../../../functions/adapters/sts-account-access.ts";
import { stsClient } from "../../../functions/adapters/sts-client.ts";
import { ReconcileIncompleteError } from "../../../functions/core/errors.ts";
import type { ReconcileReport } from "../../../functions/core/reconcile/decisions.ts";
import { ORPHANED_AT_TAG } from "../../../functions/core/reconcile/orphans.ts";
import { reconcile } from "../../../functions/core/reconcile/pass.ts";
import { createHandler } from "../../../functions/handlers/reconciler.ts";
import { logger, metrics } from "../../../functions/observability.ts";
import { ApiCallCounter, callsOf } from "../../../testkit/aws/api-calls.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import {
  ACCOUNT,
  AWS_ACCOUNT_ID,
  type DepsOptions,
  type Harness,
  LEDGER_TABLE,
  PRODUCTION,
  READ_ONLY,
  startHarness,
} from "../../../testkit/reconcile-harness.ts";

const SERVICE = AWS_ACCOUNT_ID;
const TARGET = "222222222222";
const STAGING = "staging-01HND497T9JKR76MR3KA2CDJHQ";
const T0 = new Date("2026-11-20T12:00:00.000Z");
const HOUR = 3_600_000;
const permissions = (...targetSpaces: string[]) => `
permissionsBoundaryArn: arn:aws:iam::${SERVICE}:policy/spacelift-boundary
accounts:
  - id: "${TARGET}"
    vendingRoleArn: arn:aws:iam::${TARGET}:role/spacelift-vending
    spaces: [${targetSpaces.map((glob) => `"${glob}"`).join(", ")}]
    permissionsBoundaryArn: arn:aws:iam::${TARGET}:policy/spacelift-boundary
default:
  managedPolicyArns: [${READ_ONLY}]
`;
/** The production space routed to the target account. */
const ROUTED = permissions("production-*");

let h: Harness;
let target: { iam: IAMClient; ssm: SSMClient };
let service: { iam: IAMClient; ssm: SSMClient };

beforeAll(async () => {
  h = await startHarness();
  service = { iam: h.iam, ssm: h.ssm };
});

afterAll(async () => {
  await h?.stop();
});

beforeEach(async () => {
  await h.reset();
  target = await clientsIn(TARGET);
  h.spacelift.state.addSpace({
    id: PRODUCTION,
    name: "production",
    parentSpace: "root",
    labels: [],
  });
  h.spacelift.state.addSpace({ id: STAGING, name: "staging", parentSpace: "root", labels: [] });
});

/** A pass (planned, then applied by the provisioner) with that permissions file. */
function options(file = ROUTED, extra: DepsOptions = {}): DepsOptions {
  return {
    now: T0,
    ...extra,
    env: {
      DEFAULT_POLICY_ARNS: undefined,
      PERMISSIONS_BOUNDARY_ARN: undefined,
      PERMISSIONS_CONFIG: file,
      ...extra.env,
    },
  };
}

/** Clients acting in `account` (moto: credentials from AssumeRole into that account). */
async function clientsIn(account: string) {
  const sts = new STSClient(localClientConfig(h.moto.endpoint));
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/inspector`,
      RoleSessionName: "t",
    }),
  );
  sts.destroy();
  const config = {
    endpoint: h.moto.endpoint,
    region: "us-east-1",
    credentials: {
      accessKeyId: Credentials?.AccessKeyId ?? "",
      secretAccessKey: Credentials?.SecretAccessKey ?? "",
      sessionToken: Credentials?.SessionToken ?? "",
    },
  };
  return { iam: new IAMClient(config), ssm: new SSMClient(config) };
}

interface Holding {
  arn: string;
  revoked: boolean;
}

/** The stacks' roles one account holds (by their stack tag), with whether they were revoked. */
async function rolesIn(clients: { iam: IAMClient }): Promise<Record<string, Holding>> {
  const roles: Record<string, Holding> = {};
  for await (const page of paginateListRoles({ client: clients.iam }, {})) {
    for (const role of page.Roles ?? []) {
      const tags = await clients.iam.send(new ListRoleTagsCommand({ RoleName: role.RoleName }));
      const tag = (key: string) => tags.Tags?.find(({ Key }) => Key === key)?.Value;
      const stack = tag("spacelift:stack");
      if (stack === undefined) continue;
      roles[stack] = { arn: role.Arn ?? "", revoked: tag(ORPHANED_AT_TAG) !== undefined };
    }
  }
  return roles;
}

/** The stacks' parameters one account holds. */
async function parametersIn(clients: { ssm: SSMClient }): Promise<Record<string, string>> {
  const parameters: Record<string, string> = {};
  for await (const page of paginateGetParametersByPath(
    { client: clients.ssm },
    { Path: `/spacelift/${ACCOUNT}/stacks`, Recursive: true },
  )) {
    for (const { Name, Value } of page.Parameters ?? []) {
      if (Name !== undefined) parameters[Name] = Value ?? "";
    }
  }
  return parameters;
}

const arnIn = (account: string, stack: string) =>
  `arn:aws:iam::${account}:role/spacelift/spacelift-stack-${stack}`;
const parameterOf = (stack: string) => `/spacelift/${ACCOUNT}/stacks/${stack}/role-arn`;

const lines = (report: ReconcileReport) =>
  report.decisions
    .map(({ action, resource, outcome }) => `${action} ${resource} ${outcome}`)
    .sort();

describe("reconcile over every configured account", () => {
  it("creates a missing role in the account the stack's space is routed to, never in the service's", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    h.spacelift.state.addStack({ id: "billing", space: "root", labels: [] });

    const report = await h.reconcile(options());
    expect(lines(report)).toEqual(
      [
        `create space:${PRODUCTION} enqueued`,
        `create space:${STAGING} enqueued`,
        "create space:root enqueued",
        "create stack:billing enqueued",
        "create stack:payments-api enqueued",
      ].sort(),
    );
    expect(report.decisions.find(({ resource }) => resource === "stack:payments-api")?.reason).toBe(
      `in AWS account ${TARGET}: Spacelift lists this stack; it has no role`,
    );
    expect(report.accounts.reconciled).toEqual([SERVICE, TARGET]);
    expect(Object.keys(await rolesIn(target))).toEqual(["payments-api"]);
    expect(Object.keys(await rolesIn(service))).toEqual(["billing"]);
    // Published in the service's account (every ARN in one place) and in the target's.
    expect((await parametersIn(service))[parameterOf("payments-api")]).toBe(
      arnIn(TARGET, "payments-api"),
    );
    expect(await parametersIn(target)).toEqual({
      [parameterOf("payments-api")]: arnIn(TARGET, "payments-api"),
    });

    const again = await h.reconcile(options());

    expect(again.decisions).toEqual([]);
    expect(again.counts).toMatchObject({ inSync: 5, enqueued: 0, managedRoles: 5 });
  });

  it("repairs drift in the target account", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    await h.reconcile(options());
    await target.iam.send(
      new DetachRolePolicyCommand({
        RoleName: "spacelift-stack-payments-api",
        PolicyArn: READ_ONLY,
      }),
    );

    const report = await h.reconcile(options());

    expect(lines(report)).toEqual(["update stack:payments-api enqueued"]);
    const attached = await target.iam.send(
      new ListAttachedRolePoliciesCommand({ RoleName: "spacelift-stack-payments-api" }),
    );
    expect(attached.AttachedPolicies?.map(({ PolicyArn }) => PolicyArn)).toEqual([READ_ONLY]);
  });

  it("revokes a target account's orphan there, deletes it after the grace period, with the caps per account", async () => {
    for (const stack of ["a-1", "a-2"]) {
      h.spacelift.state.addStack({ id: stack, space: "root", labels: [] });
    }
    for (const stack of ["b-1", "b-2"]) {
      h.spacelift.state.addStack({ id: stack, space: PRODUCTION, labels: [] });
    }
    await h.reconcile(options());
    for (const stack of ["a-1", "a-2", "b-1", "b-2"]) h.spacelift.state.removeStack(stack);
    const capped = { settings: { maxRevocationsPerRun: 1, maxDeletionsPerRun: 1 } };

    const first = await h.reconcile(options(ROUTED, capped));

    // One revocation in each account (the cap is per account), the other deferred in each.
    expect(lines(first)).toEqual(
      [
        "revoke stack:a-1 enqueued",
        "revoke stack:a-2 deferred",
        "revoke stack:b-1 enqueued",
        "revoke stack:b-2 deferred",
      ].sort(),
    );
    expect(first.decisions.find(({ resource }) => resource === "stack:b-1")?.reason).toMatch(
      new RegExp(`^in AWS account ${TARGET}: `),
    );
    expect((await rolesIn(target))["b-1"]?.revoked).toBe(true);
    expect((await rolesIn(target))["b-2"]?.revoked).toBe(false);
    expect((await rolesIn(service))["a-1"]?.revoked).toBe(true);

    await h.reconcile(options(ROUTED, { now: new Date(T0.getTime() + HOUR) }));
    const late = new Date(T0.getTime() + 80 * HOUR);

    const deleting = await h.reconcile(options(ROUTED, { ...capped, now: late }));

    expect(lines(deleting)).toEqual(
      [
        "delete stack:a-1 enqueued",
        "delete stack:a-2 deferred",
        "delete stack:b-1 enqueued",
        "delete stack:b-2 deferred",
      ].sort(),
    );
    expect(Object.keys(await rolesIn(target))).toEqual(["b-2"]);
    expect(Object.keys(await rolesIn(service))).toEqual(["a-2"]);
    // The deleted orphan's parameters go in both accounts; the deferred one's stay.
    expect(await parametersIn(target)).toEqual({ [parameterOf("b-2")]: arnIn(TARGET, "b-2") });
    expect(Object.keys(await parametersIn(service)).sort()).toEqual(
      [parameterOf("a-2"), parameterOf("b-2")].sort(),
    );
  });

  it("converges a stack whose role is in the service's account but whose space is now routed to the target: role there, removed here", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    // Production routed nowhere special at first: the role is vended in the service's account.
    await h.reconcile(options(permissions("elsewhere-*")));
    expect(Object.keys(await rolesIn(service))).toEqual(["payments-api"]);

    const report = await h.reconcile(options(ROUTED));

    expect(lines(report)).toEqual(
      ["create stack:payments-api enqueued", `create space:${PRODUCTION} enqueued`].sort(),
    );
    expect(report.decisions.find(({ resource }) => resource === "stack:payments-api")?.reason).toBe(
      `in AWS account ${TARGET}: Spacelift lists this stack; its roles are in AWS account ${SERVICE} while its space is routed to AWS account ${TARGET}: the provisioner moves them`,
    );
    expect(Object.keys(await rolesIn(target)).sort()).toEqual(["payments-api"]);
    expect(Object.keys(await rolesIn(service))).toEqual([]);
    expect((await parametersIn(service))[parameterOf("payments-api")]).toBe(
      arnIn(TARGET, "payments-api"),
    );

    const again = await h.reconcile(options(ROUTED));

    expect(again.decisions).toEqual([]);
  });
});

describe("roles found in an account the ledger never recorded", () => {
  const OTHER = "333333333333";
  /** Production routed to `account`, with a third account configured for another space. */
  const threeAccounts = (production: string) => `
accounts:
  - id: "${TARGET}"
    vendingRoleArn: arn:aws:iam::${TARGET}:role/spacelift-vending
    spaces: [${production === TARGET ? '"production-*"' : '"nothing-*"'}]
    permissionsBoundaryArn: arn:aws:iam::${TARGET}:policy/spacelift-boundary
  - id: "${OTHER}"
    vendingRoleArn: arn:aws:iam::${OTHER}:role/spacelift-vending
    spaces: [${production === OTHER ? '"production-*"' : '"nothing-*"'}]
    permissionsBoundaryArn: arn:aws:iam::${OTHER}:policy/spacelift-boundary
permissionsBoundaryArn: arn:aws:iam::${SERVICE}:policy/spacelift-boundary
default:
  managedPolicyArns: [${READ_ONLY}]
`;

  it("converges the stack where it is routed and removes its roles from that account too (the ledger lost)", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    await h.reconcile(options(threeAccounts(OTHER)));
    const other = await clientsIn(OTHER);
    expect(Object.keys(await rolesIn(other))).toEqual(["payments-api"]);
    // The ledger table lost (recreated empty): it no longer says the roles are in OTHER.
    const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
    await dynamodb.send(new DeleteTableCommand({ TableName: LEDGER_TABLE }));
    await createLedgerTable(dynamodb, LEDGER_TABLE);
    dynamodb.destroy();

    const { report, applied } = await h.reconcileAndApplied(options(threeAccounts(TARGET)));

    expect(lines(report)).toEqual(
      [`create space:${PRODUCTION} enqueued`, "create stack:payments-api enqueued"].sort(),
    );
    expect(
      applied.flatMap((outcome) =>
        outcome.result === "ordered" ? [`${outcome.order.action} ${outcome.outcome.result}`] : [],
      ),
    ).toEqual(["misplaced recorded", "misplaced recorded"]);
    expect(Object.keys(await rolesIn(target))).toEqual(["payments-api"]);
    expect(await rolesIn(other)).toEqual({});
    expect(await parametersIn(other)).toEqual({});
    expect((await parametersIn(service))[parameterOf("payments-api")]).toBe(
      arnIn(TARGET, "payments-api"),
    );

    const again = await h.reconcile(options(threeAccounts(TARGET)));

    expect(again.decisions).toEqual([]);
  });
});

/**
 * Answers STS AssumeRole with `AccessDenied` while `on`: what STS answers when the vending
 * role's trust no longer names the service's role (moto never evaluates trust policies).
 * Throttling after the SDK's retries takes the same path (any AssumeRole failure), slower.
 */
function denyAssumeRole() {
  const fault = { on: true };
  const middleware: DeserializeMiddleware<object, MetadataBearer> = (next) => async (args) => {
    const raw = (args.request as { body?: unknown }).body;
    if (fault.on && typeof raw === "string" && raw.includes("Action=AssumeRole")) {
      return {
        response: {
          statusCode: 403,
          headers: { "content-type": "text/xml", "x-amzn-requestid": "req" },
          body: new TextEncoder().encode(
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform: sts:AssumeRole</Message></Error><RequestId>req</RequestId></ErrorResponse>",
          ),
        },
        output: {} as MetadataBearer,
      } as never;
    }
    return next(args);
  };
  stsClient().middlewareStack.add(middleware as never, {
    step: "deserialize",
    priority: "low",
    name: "denyAssumeRole",
    override: true,
  });
  return fault;
}

describe("an unreachable target account", () => {
  afterEach(() => {
    stsClient().middlewareStack.remove("denyAssumeRole");
  });

  it("is reported, nothing is planned for it, nothing anywhere is revoked or deleted, and the service's account is reconciled", async () => {
    // A stack in the target account, one whose space is about to be routed there (its role
    // still in the service's account), and one the target account holds that Spacelift no
    // longer lists: each would have something planned if the target were taken as empty.
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    h.spacelift.state.addStack({ id: "gone", space: PRODUCTION, labels: [] });
    h.spacelift.state.addStack({ id: "moving", space: STAGING, labels: [] });
    await h.reconcile(options());
    h.spacelift.state.removeStack("gone");
    h.spacelift.state.addStack({ id: "billing", space: "root", labels: [] });
    const before = {
      target: { roles: await rolesIn(target), parameters: await parametersIn(target) },
      serviceParameters: await parametersIn(service),
    };
    const fault = denyAssumeRole();

    const { report, applied } = await h.reconcileAndApplied(
      options(permissions("production-*", "staging-*"), {
        now: new Date(T0.getTime() + 100 * HOUR),
      }),
    );
    fault.on = false;

    expect(lines(report)).toEqual(
      ["create stack:billing enqueued", `report account:${TARGET} failed`].sort(),
    );
    const decision = report.decisions.find(({ resource }) => resource === `account:${TARGET}`);
    expect(decision?.reason).toBe(
      `AWS account ${TARGET} could not be inventoried: skipped, never taken as holding no roles; 4 listed resources routed there were not planned (no creates either: they would fail and be retried), and nothing anywhere was revoked or deleted because of it`,
    );
    expect(decision?.error).toMatch(/AccessDenied/);
    expect(report.accounts).toMatchObject({ reconciled: [SERVICE], unreachable: [TARGET] });
    // Only the service's own stack was planned and applied.
    expect(
      applied.map((outcome) => ("event" in outcome ? outcome.event?.type : outcome.result)),
    ).toEqual(["stack.upserted"]);
    expect(Object.keys(await rolesIn(service)).sort()).toEqual(["billing", "moving"]);
    expect((await rolesIn(service)).moving?.revoked).toBe(false);
    expect(await rolesIn(target)).toEqual(before.target.roles);
    expect(await parametersIn(target)).toEqual(before.target.parameters);
    const serviceParameters = await parametersIn(service);
    expect(serviceParameters[parameterOf("gone")]).toBe(
      before.serviceParameters[parameterOf("gone")],
    );
  });
});

describe("the cost of an in-sync pass over two accounts", () => {
  const STACKS = 200;
  const counter = new ApiCallCounter();

  it(`stays within 0.2 IAM+SSM calls a resource, plus one AssumeRole for the target account (${STACKS} stacks, half in each)`, async () => {
    for (let index = 0; index < STACKS; index++) {
      h.spacelift.state.addStack({
        id: `stack-${index}`,
        space: index % 2 === 0 ? PRODUCTION : STAGING,
        labels: [],
      });
    }
    await h.reconcile(options());
    const resources = STACKS + 3;
    const deps = await h.deps(options());
    const config = deps.config;
    // The same adapter the composition wires, with the target account's clients counted too.
    const accounts = new StsAccountAccess(
      stsClient(),
      config.permissions?.accounts ?? [],
      (accountId, credentials) => {
        const clients = accountClients(accountId, credentials);
        counter.attach(clients.iam);
        counter.attach(clients.ssm);
        return clients;
      },
    );
    for (const client of [iamClient(), ssmClient(), stsClient()]) counter.attach(client);

    const { result, tally } = await counter.measure(() => reconcile({ ...deps, accounts }));

    expect(result.decisions).toEqual([]);
    expect(result.counts).toMatchObject({ inSync: resources, enqueued: 0 });
    const iam = callsOf(tally, "IAM");
    const ssm = callsOf(tally, "SSM");
    const sts = callsOf(tally, "STS");
    expect(iam.writeCount + ssm.writeCount).toBe(0);
    expect(iam.readCount + ssm.readCount).toBeLessThanOrEqual(0.2 * resources);
    expect({ ...sts.reads, ...sts.writes }).toEqual({ AssumeRole: 1 });
    // Both accounts' bulk reads, and each one's role usage once.
    expect(iam.reads).toEqual({
      ListRoles: 2,
      GetAccountAuthorizationDetails: 2,
      GetAccountSummary: 2,
    });
    expect(accounts.assumeRoleCalls).toBe(1);
    // Setting up 200 stacks' roles in two accounts on moto takes a while on a shared machine.
  }, 240_000);
});

describe("the reconciler handler over two accounts", () => {
  /** What the handler published with an `account` dimension, and what it logged about accounts. */
  function observe() {
    const published: { account: string; metric: string; value: number }[] = [];
    vi.spyOn(metrics, "singleMetric").mockImplementation(() => {
      let account = "";
      const single = {
        addDimension: (name: string, value: string) => {
          if (name === "account") account = value;
        },
        addMetric: (metric: string, _unit: unknown, value: number) => {
          published.push({ account, metric, value });
        },
      };
      return single as unknown as ReturnType<typeof metrics.singleMetric>;
    });
    const warnings = vi.spyOn(logger, "warn");
    const errors = vi.spyOn(logger, "error");
    const messages = (spy: typeof warnings) =>
      spy.mock.calls.map(([message, fields]) => ({
        message,
        account: (fields as { account?: string })?.account,
      }));
    return { published, warnings: () => messages(warnings), errors: () => messages(errors) };
  }

  afterEach(() => {
    vi.restoreAllMocks();
    stsClient().middlewareStack.remove("denyAssumeRole");
  });

  it("publishes each account's role usage with the account dimension, warning from 80%", async () => {
    h.spacelift.state.addStack({ id: "payments-api", space: PRODUCTION, labels: [] });
    await h.reconcile(options());
    const deps = await h.deps(options());
    const seen = observe();
    const handler = createHandler({
      ...deps,
      usage: { roleUsage: async () => ({ roles: 800, quota: 1000 }) },
    });

    await handler({}, {} as Context);

    expect(seen.published.filter(({ metric }) => metric.startsWith("AccountRoles"))).toEqual([
      { account: SERVICE, metric: "AccountRoles", value: 800 },
      { account: SERVICE, metric: "AccountRolesQuota", value: 1000 },
      // moto's own count in the target account: the stack's and the space's roles.
      { account: TARGET, metric: "AccountRoles", value: 2 },
      { account: TARGET, metric: "AccountRolesQuota", value: 1000 },
    ]);
    expect(seen.warnings()).toEqual([
      { message: "AWS account nears its IAM role quota", account: SERVICE },
    ]);
  });

  it("reports an unreachable account in a log line and a metric with its account dimension, and fails the run", async () => {
    const deps = await h.deps(options());
    denyAssumeRole();
    const seen = observe();
    const handler = createHandler(deps);

    await expect(handler({}, {} as Context)).rejects.toThrow(ReconcileIncompleteError);

    expect(seen.published.filter(({ metric }) => metric === "ReconcileAccountUnreachable")).toEqual(
      [{ account: TARGET, metric: "ReconcileAccountUnreachable", value: 1 }],
    );
    expect(seen.errors()).toContainEqual({
      message: "AWS account unreachable: skipped by this reconcile",
      account: TARGET,
    });
  });
});
