/**
 * The provisioner with two AWS accounts on moto (which keeps separate state per account): the
 * service's own (123456789012) and a target (222222222222) that the production space is routed
 * to. Create, update, move between accounts, move back and delete, each checked against what
 * both accounts hold; then crashes injected before each write of a move, followed by a retry
 * or by a move back, which must converge to the same state as an uninterrupted run.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient, paginateListRoles } from "@aws-sdk/client-iam";
import { paginateGetParametersByPath, SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../../functions/adapters/dynamodb-ledger.ts";
import { IamRoleStore } from "../../../functions/adapters/iam-role-store.ts";
import { SsmParameterStore } from "../../../functions/adapters/ssm-parameter-store.ts";
import { StsAccountAccess } from "../../../functions/adapters/sts-account-access.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { AccountNotRoutedError } from "../../../functions/core/errors.ts";
import type { AccountAccess, ResourceLedger } from "../../../functions/core/ports.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { createLedgerTable, localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { auditEvent } from "../../../testkit/spacelift/events.ts";
import {
  fixture,
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
  STAGING_SPACE,
} from "../../../testkit/spacelift/fixtures.ts";

const SERVICE = "123456789012";
const TARGET = "222222222222";
const SERVICE_BOUNDARY = `arn:aws:iam::${SERVICE}:policy/spacelift-boundary`;
const TARGET_BOUNDARY = `arn:aws:iam::${TARGET}:policy/spacelift-boundary`;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const STACK = "payments-api";
const roleName = (stack: string) => `spacelift-stack-${stack}`;
const parameterName = (stack: string) => `/spacelift/acme/stacks/${stack}/role-arn`;
const TABLE = "ledger";
const PERMISSIONS = `
permissionsBoundaryArn: ${SERVICE_BOUNDARY}
accounts:
  - id: "${TARGET}"
    vendingRoleArn: arn:aws:iam::${TARGET}:role/spacelift-vending
    spaces: ["production-*"]
    permissionsBoundaryArn: ${TARGET_BOUNDARY}
    externalId: acme
default:
  managedPolicyArns: [${READ_ONLY}]
`;

let moto: MotoServer;
let service: { iam: IAMClient; ssm: SSMClient };
let target: { iam: IAMClient; ssm: SSMClient };

beforeAll(async () => {
  moto = await startMotoServer();
  service = {
    iam: new IAMClient(localClientConfig(moto.endpoint)),
    ssm: new SSMClient(localClientConfig(moto.endpoint)),
  };
});

afterAll(async () => {
  await moto?.stop();
});

// One moto state for the file (its first use of an account is slow): each test has its own stack.
beforeAll(async () => {
  await createLedgerTable(new DynamoDBClient(localClientConfig(moto.endpoint)), TABLE);
  target = await clientsIn(TARGET);
});

/** Clients acting in `account` (moto: credentials from AssumeRole into that account). */
async function clientsIn(account: string) {
  const sts = new STSClient(localClientConfig(moto.endpoint));
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/inspector`,
      RoleSessionName: "t",
    }),
  );
  const credentials = {
    accessKeyId: Credentials?.AccessKeyId ?? "",
    secretAccessKey: Credentials?.SecretAccessKey ?? "",
    sessionToken: Credentials?.SessionToken ?? "",
  };
  const config = { endpoint: moto.endpoint, region: "us-east-1", credentials };
  return { iam: new IAMClient(config), ssm: new SSMClient(config) };
}

/** What one account holds for the stack under the product's path and prefix. */
async function holdings(clients: { iam: IAMClient; ssm: SSMClient }, stack: string) {
  const roles: Record<string, unknown> = {};
  for await (const page of paginateListRoles(
    { client: clients.iam },
    { PathPrefix: "/spacelift/" },
  )) {
    for (const role of page.Roles ?? []) {
      if (role.RoleName !== roleName(stack)) continue;
      const described = await new IamRoleStore(clients.iam).describe(role.RoleName ?? "");
      const trust = described?.trustPolicy as { Statement: { Principal: { Federated: string } }[] };
      roles[role.RoleName ?? ""] = {
        arn: described?.arn,
        provider: trust.Statement[0]?.Principal.Federated,
        boundary: described?.permissionsBoundaryArn,
        space: described?.tags["spacelift:space"],
        policies: described?.managedPolicyArns,
      };
    }
  }
  const parameters: Record<string, string> = {};
  for await (const page of paginateGetParametersByPath(
    { client: clients.ssm },
    { Path: "/spacelift", Recursive: true },
  )) {
    for (const parameter of page.Parameters ?? []) {
      if (!parameter.Name?.startsWith(`/spacelift/acme/stacks/${stack}/`)) continue;
      parameters[parameter.Name ?? ""] = parameter.Value ?? "";
    }
  }
  return { roles, parameters };
}

const world = async (stack = STACK) => ({
  service: await holdings(service, stack),
  target: await holdings(target, stack),
});

const roleIn = (account: string, space: string, stack = STACK) => ({
  arn: `arn:aws:iam::${account}:role/spacelift/${roleName(stack)}`,
  provider: `arn:aws:iam::${account}:oidc-provider/${SPACELIFT_HOST}`,
  boundary: account === SERVICE ? SERVICE_BOUNDARY : TARGET_BOUNDARY,
  space,
  policies: [READ_ONLY],
});

/** The stack in the production space (routed to the target account). */
const inTarget = (stack = STACK) => ({
  service: {
    roles: {},
    parameters: { [parameterName(stack)]: roleIn(TARGET, PRODUCTION_SPACE, stack).arn },
  },
  target: {
    roles: { [roleName(stack)]: roleIn(TARGET, PRODUCTION_SPACE, stack) },
    parameters: { [parameterName(stack)]: roleIn(TARGET, PRODUCTION_SPACE, stack).arn },
  },
});
/** The stack in the staging space (the service's account). */
const inService = (stack = STACK) => ({
  service: {
    roles: { [roleName(stack)]: roleIn(SERVICE, STAGING_SPACE, stack) },
    parameters: { [parameterName(stack)]: roleIn(SERVICE, STAGING_SPACE, stack).arn },
  },
  target: { roles: {}, parameters: {} },
});
const NOWHERE = {
  service: { roles: {}, parameters: {} },
  target: { roles: {}, parameters: {} },
};

function stackEvent(
  action: "stack.create" | "stack.update" | "stack.delete",
  timestamp: number,
  space?: string,
  stack = STACK,
) {
  const event = fixture(action, timestamp);
  if (space !== undefined) {
    (event.data.args as { Input: { Space: string } }).Input.Space = space;
  }
  return JSON.stringify(event).replaceAll(`"${STACK}"`, JSON.stringify(stack));
}

class Crash extends Error {}

/**
 * Counts the write calls made through the ports (IAM, SSM in either account, the ledger) and
 * throws before the `crashAt`-th one: a Lambda that dies there.
 */
class CrashPlan {
  writes = 0;
  constructor(public crashAt = Number.POSITIVE_INFINITY) {}
  wrap<T extends object>(store: T, reads: readonly string[]): T {
    return new Proxy(store, {
      get: (object, property, receiver) => {
        const value = Reflect.get(object, property, receiver);
        if (typeof value !== "function" || reads.includes(String(property))) return value;
        return async (...args: unknown[]) => {
          this.writes += 1;
          if (this.writes === this.crashAt) throw new Crash(`crash before write ${this.writes}`);
          return value.apply(object, args);
        };
      },
    });
  }
}

const ROLE_READS = ["describe", "isReadable", "describeAllUnder"];
const PARAMETER_READS = ["listByPath"];

async function provisioner(plan = new CrashPlan()) {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: SERVICE,
    PERMISSIONS_CONFIG: PERMISSIONS,
  });
  const access = new StsAccountAccess(
    new STSClient(localClientConfig(moto.endpoint)),
    config.permissions?.accounts ?? [],
    (_account, credentials) => ({
      iam: new IAMClient({ endpoint: moto.endpoint, region: "us-east-1", credentials }),
      ssm: new SSMClient({ endpoint: moto.endpoint, region: "us-east-1", credentials }),
    }),
  );
  const accounts: AccountAccess = {
    storesFor: async (account, resource) => {
      const stores = await access.storesFor(account, resource);
      return {
        roles: plan.wrap(stores.roles, ROLE_READS),
        parameters: plan.wrap(stores.parameters, PARAMETER_READS),
      };
    },
  };
  const ledger: ResourceLedger = plan.wrap(
    new DynamoDbLedger(new DynamoDBClient(localClientConfig(moto.endpoint)), TABLE),
    ["get"],
  );
  const deps: ProvisionerDeps = {
    config,
    roles: plan.wrap(new IamRoleStore(service.iam), ROLE_READS),
    parameters: plan.wrap(new SsmParameterStore(service.ssm), PARAMETER_READS),
    ledger,
    accounts,
    sleep: async () => {},
  };
  return { deps, plan, access, process: (body: string) => processMessage(body, deps) };
}

describe("two accounts on moto", () => {
  it("creates a stack's role in the account its space is routed to, trusted by that account's provider, published in both", async () => {
    const { process, deps } = await provisioner();

    const outcome = await process(stackEvent("stack.create", 1_000, PRODUCTION_SPACE, "basic-0"));

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(await world("basic-0")).toEqual(inTarget("basic-0"));
    expect(await deps.ledger.get("stack:basic-0")).toMatchObject({ account: TARGET });
    expect((await deps.ledger.get("stack:basic-0"))?.formerAccounts).toBeUndefined();
  });

  it("converges an update in the same space in place in the target account, with one AssumeRole for the batch", async () => {
    const { process, access } = await provisioner();
    await process(stackEvent("stack.create", 1_000, PRODUCTION_SPACE, "basic-1"));

    const outcome = await process(stackEvent("stack.update", 2_000, PRODUCTION_SPACE, "basic-1"));

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "unchanged" } });
    expect(await world("basic-1")).toEqual(inTarget("basic-1"));
    expect(access.assumeRoleCalls).toBe(1);
  });

  it("moves the role between accounts and back, re-pointing the service's parameter, then deletes it everywhere", async () => {
    const { process, deps } = await provisioner();
    await process(stackEvent("stack.create", 1_000, PRODUCTION_SPACE, "basic-2"));

    await process(stackEvent("stack.update", 2_000, STAGING_SPACE, "basic-2"));
    const afterMove = await world("basic-2");
    const ledgerAfterMove = await deps.ledger.get("stack:basic-2");
    await process(stackEvent("stack.update", 3_000, PRODUCTION_SPACE, "basic-2"));
    const afterMoveBack = await world("basic-2");
    await process(stackEvent("stack.delete", 4_000, undefined, "basic-2"));

    expect(afterMove).toEqual(inService("basic-2"));
    expect(ledgerAfterMove?.account).toBeUndefined();
    expect(ledgerAfterMove?.formerAccounts).toBeUndefined();
    expect(afterMoveBack).toEqual(inTarget("basic-2"));
    expect(await world("basic-2")).toEqual(NOWHERE);
    expect(await deps.ledger.get("stack:basic-2")).toMatchObject({ state: "deleted" });
  });

  it("with defaultAccount none, a stack moved into an unrouted space is refused and keeps no role anywhere", async () => {
    const { process, deps } = await provisioner();
    await process(stackEvent("stack.create", 1_000, PRODUCTION_SPACE, "unrouted-move"));
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: SERVICE,
      PERMISSIONS_CONFIG: `${PERMISSIONS}\ndefaultAccount: none`,
    });

    const outcome = await processMessage(
      stackEvent("stack.update", 2_000, STAGING_SPACE, "unrouted-move"),
      { ...deps, config },
    );

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(await world("unrouted-move")).toEqual(NOWHERE);
    expect((await deps.ledger.get("stack:unrouted-move"))?.account).toBeUndefined();
  });

  it("gives a routed space its role in the target account and removes it from there on space.delete", async () => {
    const { process } = await provisioner();
    const space = "production-eu-01J0000000000000000000000A";
    const name = `spacelift-space-${space}`;
    const parameter = `/spacelift/acme/spaces/${space}/role-arn`;
    const body = (action: "space.create" | "space.delete", timestamp: number) =>
      JSON.stringify(auditEvent(action, { account: "acme", space, timestamp }));

    await process(body("space.create", 1_000));
    const created = await new IamRoleStore(target.iam).describe(name);
    const published = {
      service: (
        await new SsmParameterStore(service.ssm).listByPath("/spacelift/acme/spaces")
      ).filter((each) => each.name === parameter),
      target: (await new SsmParameterStore(target.ssm).listByPath("/spacelift/acme/spaces")).filter(
        (each) => each.name === parameter,
      ),
    };
    await process(body("space.delete", 2_000));

    expect(created?.arn).toBe(`arn:aws:iam::${TARGET}:role/spacelift/${name}`);
    expect(created?.permissionsBoundaryArn).toBe(TARGET_BOUNDARY);
    expect(await new IamRoleStore(service.iam).describe(name)).toBeUndefined();
    expect(published).toEqual({
      service: [{ name: parameter, value: created?.arn }],
      target: [{ name: parameter, value: created?.arn }],
    });
    expect(await new IamRoleStore(target.iam).describe(name)).toBeUndefined();
    expect(
      (await new SsmParameterStore(service.ssm).listByPath("/spacelift/acme/spaces")).map(
        (each) => each.name,
      ),
    ).not.toContain(parameter);
  });

  it("a label never moves a role: labels that spell the routed space or account leave it in the service's account", async () => {
    const { process } = await provisioner();
    const event = JSON.parse(stackEvent("stack.create", 1_000, STAGING_SPACE, "basic-3"));
    event.data.args.Input.Labels = ["production-*", TARGET, `account:${TARGET}`];

    await process(JSON.stringify(event));

    expect(await world("basic-3")).toEqual(inService("basic-3"));
  });

  it("with defaultAccount none, drops a stack in an unrouted space with a clear reason and creates nothing", async () => {
    const { deps } = await provisioner();
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: SERVICE,
      PERMISSIONS_CONFIG: `${PERMISSIONS}\ndefaultAccount: none`,
    });

    const outcome = await processMessage(
      stackEvent("stack.create", 1_000, STAGING_SPACE, "basic-4"),
      {
        ...deps,
        config,
      },
    );

    expect(outcome).toMatchObject({
      result: "dropped",
      reason: `space ${STAGING_SPACE} matches no configured account's spaces and defaultAccount is none: no role is vended for it`,
    });
    expect((outcome as { error: Error }).error).toBeInstanceOf(AccountNotRoutedError);
    expect(await world("basic-4")).toEqual(NOWHERE);
  });
});

/**
 * For one stack of its own (no reset between cases: moto's first use of an account is slow),
 * runs `before`, then `move` with a crash before its `crashAt`-th write, then `after` with no
 * crash; returns whether the crash was reached (if not, the move had fewer writes: no more cases).
 */
async function crashedRun(
  crashAt: number,
  stack: string,
  before: readonly Parameters<typeof stackEvent>[],
  move: Parameters<typeof stackEvent>,
  after: readonly Parameters<typeof stackEvent>[],
): Promise<boolean> {
  const body = (args: Parameters<typeof stackEvent>) =>
    stackEvent(args[0], args[1], args[2], stack);
  const setup = await provisioner();
  for (const event of before) await setup.process(body(event));
  const crashing = await provisioner(new CrashPlan(crashAt));
  let crashed = false;
  try {
    await crashing.process(body(move));
  } catch (error) {
    if (!(error instanceof Crash)) throw error;
    crashed = true;
  }
  const retry = await provisioner();
  for (const event of after) await retry.process(body(event));
  return crashed;
}

describe("crashes in the middle of a move between accounts", () => {
  const inProduction: Parameters<typeof stackEvent> = ["stack.create", 1_000];
  const inStaging: Parameters<typeof stackEvent> = ["stack.create", 1_000, STAGING_SPACE];
  const toStaging: Parameters<typeof stackEvent> = ["stack.update", 2_000, STAGING_SPACE];
  const toProduction: Parameters<typeof stackEvent> = ["stack.update", 2_000, PRODUCTION_SPACE];
  const backToProduction: Parameters<typeof stackEvent> = ["stack.update", 3_000, PRODUCTION_SPACE];
  const backToStaging: Parameters<typeof stackEvent> = ["stack.update", 3_000, STAGING_SPACE];

  it.each([
    ["target → service, then the retry", inProduction, toStaging, toStaging, inService],
    ["target → service, then a move back", inProduction, toStaging, backToProduction, inTarget],
    ["service → target, then the retry", inStaging, toProduction, toProduction, inTarget],
    ["service → target, then a move back", inStaging, toProduction, backToStaging, inService],
  ] as const)(
    "%s: a crash before any of the move's writes converges",
    async (name, before, move, after, expected) => {
      const cases: number[] = [];
      for (let crashAt = 1; ; crashAt++) {
        const stack = `${name.startsWith("target") ? "t" : "s"}${name.endsWith("retry") ? "r" : "b"}-${crashAt}`;
        const crashed = await crashedRun(crashAt, stack, [before], move, [after]);
        expect({ crashAt, world: await world(stack) }).toEqual({ crashAt, world: expected(stack) });
        if (!crashed) break;
        cases.push(crashAt);
      }
      // Every write of the move was crashed before at least once.
      expect(cases.length).toBeGreaterThan(5);
    },
    600_000,
  );
});
