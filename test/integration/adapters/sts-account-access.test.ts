/**
 * StsAccountAccess against a real moto_server, which keeps separate state per account:
 * AssumeRole into arn:aws:iam::222222222222:role/… returns credentials that act in 222222222222.
 * Faults (AssumeRole denied or throttled, a token expiring mid-batch) are answered by a
 * middleware in each service's own wire format, so the SDK parses them as it would AWS's.
 */
import { CreateRoleCommand, IAMClient, ListRolesCommand } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import type { DeserializeMiddleware, MetadataBearer } from "@smithy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type AccountClientFactory,
  CREDENTIALS_REFRESH_MARGIN_MS,
  roleSessionName,
  StsAccountAccess,
} from "../../../functions/adapters/sts-account-access.ts";
import { AccountUnreachableError } from "../../../functions/core/errors.ts";
import type { TargetAccount } from "../../../functions/core/permissions.ts";
import type { RoleSpec } from "../../../functions/core/ports.ts";
import { AccountRoleQuota, type RoleQuotaObservation } from "../../../functions/core/role-quota.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";

const TARGET = "222222222222";
const ACCOUNT: TargetAccount = {
  id: TARGET,
  vendingRoleArn: `arn:aws:iam::${TARGET}:role/spacelift-vending`,
  spaces: ["prod-*"],
  oidcProviderArn: undefined,
  permissionsBoundaryArn: undefined,
  externalId: "acme-external-id",
};
const SPEC: RoleSpec = {
  name: "spacelift-stack-api",
  path: "/spacelift/",
  description: "test",
  maxSessionDuration: 3600,
  trustPolicy: {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: `arn:aws:iam::${TARGET}:oidc-provider/acme.app.spacelift.io` },
        Action: "sts:AssumeRoleWithWebIdentity",
      },
    ],
  },
  permissionsBoundaryArn: undefined,
  managedPolicyArns: [],
  inlinePolicies: {},
  tags: { "managed-by": "spacelift-role-vending" },
};

let moto: MotoServer;

beforeAll(async () => {
  moto = await startMotoServer();
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
});

/** Answers matching requests with an error in the Query protocol (IAM, STS), `times` times. */
function queryError(
  code: string,
  status: number,
  matches: (body: string) => boolean,
  times = Number.POSITIVE_INFINITY,
) {
  let left = times;
  const seen: string[] = [];
  const middleware: DeserializeMiddleware<object, MetadataBearer> = (next) => async (args) => {
    const raw = (args.request as { body?: unknown }).body;
    const body = typeof raw === "string" ? raw : "";
    seen.push(body);
    if (left > 0 && matches(body)) {
      left -= 1;
      return {
        response: {
          statusCode: status,
          headers: { "content-type": "text/xml", "x-amzn-requestid": "req" },
          body: new TextEncoder().encode(
            `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${code} injected</Message></Error><RequestId>req</RequestId></ErrorResponse>`,
          ),
        },
        output: {} as MetadataBearer,
      } as never;
    }
    return next(args);
  };
  return { middleware, seen, left: () => left };
}

function stsClient(maxAttempts = 3): STSClient {
  return new STSClient({ ...localClientConfig(moto.endpoint), maxAttempts });
}

const plainClients: AccountClientFactory = (_account, credentials) => ({
  iam: new IAMClient({ endpoint: moto.endpoint, region: "us-east-1", credentials }),
  ssm: new SSMClient({ endpoint: moto.endpoint, region: "us-east-1", credentials }),
});

describe("StsAccountAccess on moto", () => {
  it("acts in the target account: a role it creates is there and not in the service's account", async () => {
    const access = new StsAccountAccess(stsClient(), [ACCOUNT], plainClients);

    const stores = await access.storesFor(TARGET, "stack:api");
    const created = await stores.roles.create(SPEC);
    await stores.parameters.publish("/spacelift/acme/stacks/api/role-arn", "arn", {
      "managed-by": "spacelift-role-vending",
    });
    const serviceRoles = await new IAMClient(localClientConfig(moto.endpoint)).send(
      new ListRolesCommand({}),
    );

    expect(created).toEqual({ arn: `arn:aws:iam::${TARGET}:role/spacelift/spacelift-stack-api` });
    expect(await stores.roles.describe(SPEC.name)).toMatchObject({ name: SPEC.name });
    expect(await stores.parameters.listByPath("/spacelift")).toEqual([
      { name: "/spacelift/acme/stacks/api/role-arn", value: "arn" },
    ]);
    expect(serviceRoles.Roles?.map((role) => role.RoleName)).not.toContain(SPEC.name);
  });

  it("assumes the vending role once per account until 5 minutes before the credentials expire", async () => {
    let now = Date.now();
    const sts = stsClient();
    const calls = queryError("never", 500, () => false);
    sts.middlewareStack.add(calls.middleware as never, { step: "deserialize", priority: "low" });
    const access = new StsAccountAccess(sts, [ACCOUNT], plainClients, () => now);

    const stores = await access.storesFor(TARGET, "stack:a");
    await stores.roles.describe("one");
    await access.storesFor(TARGET, "stack:b");
    await stores.roles.describe("two");
    const afterTwo = access.assumeRoleCalls;
    // moto's credentials last an hour (AssumeRole's default DurationSeconds) from moto's own
    // clock when it answered, which may run behind `now` by the time the answer took under load:
    // a minute inside the refresh margin (still 4 minutes before they expire).
    now += 3_600_000 - CREDENTIALS_REFRESH_MARGIN_MS + 60_000;
    await access.storesFor(TARGET, "stack:c");

    expect(afterTwo).toBe(1);
    expect(access.assumeRoleCalls).toBe(2);
    const assumes = calls.seen.filter((body) => body.includes("Action=AssumeRole"));
    expect(assumes).toHaveLength(2);
    expect(new URLSearchParams(assumes[0]).get("ExternalId")).toBe("acme-external-id");
    expect(new URLSearchParams(assumes[0]).get("RoleSessionName")).toBe("vending@stack.a");
    expect(new URLSearchParams(assumes[1]).get("RoleSessionName")).toBe("vending@stack.c");
  });

  it("sends no ExternalId when the account has none", async () => {
    const sts = stsClient();
    const calls = queryError("never", 500, () => false);
    sts.middlewareStack.add(calls.middleware as never, { step: "deserialize", priority: "low" });
    const access = new StsAccountAccess(sts, [{ ...ACCOUNT, externalId: undefined }], plainClients);

    await access.storesFor(TARGET, "space:root");

    expect(new URLSearchParams(calls.seen[0]).has("ExternalId")).toBe(false);
  });

  it.each([
    ["denied", "AccessDenied", 403],
    ["throttled", "Throttling", 400],
  ])(
    "AssumeRole %s: a retryable AccountUnreachableError naming the role, no credentials kept",
    async (_case, code, status) => {
      const sts = stsClient(1);
      const fault = queryError(code, status, (body) => body.includes("Action=AssumeRole"), 1);
      sts.middlewareStack.add(fault.middleware as never, { step: "deserialize", priority: "low" });
      const access = new StsAccountAccess(sts, [ACCOUNT], plainClients);

      const refused = access.storesFor(TARGET, "stack:api");

      await expect(refused).rejects.toThrow(AccountUnreachableError);
      await expect(refused).rejects.toThrow(
        `cannot assume ${ACCOUNT.vendingRoleArn} for account ${TARGET} (${code}: ${code} injected)`,
      );
      // The next event assumes again and gets through.
      const stores = await access.storesFor(TARGET, "stack:api");
      expect(await stores.roles.describe("absent")).toBeUndefined();
      expect(access.assumeRoleCalls).toBe(2);
    },
  );

  it("a token that expires mid-batch: the call is made once more on a session assumed afresh", async () => {
    const expired = queryError("ExpiredToken", 403, (body) => body.includes("Action=GetRole"), 1);
    const clients: AccountClientFactory = (account, credentials) => {
      const built = plainClients(account, credentials);
      built.iam.middlewareStack.add(expired.middleware as never, {
        step: "deserialize",
        priority: "low",
      });
      return built;
    };
    const access = new StsAccountAccess(stsClient(), [ACCOUNT], clients);
    const stores = await access.storesFor(TARGET, "stack:api");
    await stores.roles.create(SPEC);

    const described = await stores.roles.describe(SPEC.name);

    expect(described?.arn).toBe(`arn:aws:iam::${TARGET}:role/spacelift/spacelift-stack-api`);
    expect(expired.left()).toBe(0);
    expect(access.assumeRoleCalls).toBe(2);
  });

  it("the account's roles read in bulk (pages): an expired token before the first page is retried on a session assumed afresh", async () => {
    const expired = queryError(
      "ExpiredToken",
      403,
      (body) => body.includes("Action=GetAccountAuthorizationDetails"),
      1,
    );
    const clients: AccountClientFactory = (account, credentials) => {
      const built = plainClients(account, credentials);
      built.iam.middlewareStack.add(expired.middleware as never, {
        step: "deserialize",
        priority: "low",
      });
      return built;
    };
    const access = new StsAccountAccess(stsClient(), [ACCOUNT], clients);
    const stores = await access.storesFor(TARGET, "reconciler");
    await stores.roles.create(SPEC);

    const names: string[] = [];
    for await (const page of stores.roles.describeAllUnder("/spacelift/")) {
      names.push(...page.roles.map(({ name }) => name));
    }

    expect(names).toEqual([SPEC.name]);
    expect(expired.left()).toBe(0);
    expect(access.assumeRoleCalls).toBe(2);
  });

  it("a token refused as expired twice in a row: the error goes to the queue (retried once only)", async () => {
    const expired = queryError("ExpiredToken", 403, (body) => body.includes("Action=GetRole"));
    const clients: AccountClientFactory = (account, credentials) => {
      const built = plainClients(account, credentials);
      built.iam.middlewareStack.add(expired.middleware as never, {
        step: "deserialize",
        priority: "low",
      });
      return built;
    };
    const access = new StsAccountAccess(stsClient(), [ACCOUNT], clients);
    const stores = await access.storesFor(TARGET, "stack:api");

    await expect(stores.roles.describe(SPEC.name)).rejects.toThrow("IAM GetRole failed");
    expect(expired.seen.filter((body) => body.includes("Action=GetRole"))).toHaveLength(2);
  });

  it("checks the target account's own role quota, read with GetAccountSummary in that account", async () => {
    const observed: RoleQuotaObservation[] = [];
    const access = new StsAccountAccess(
      stsClient(),
      [ACCOUNT],
      plainClients,
      Date.now,
      (accountId, usage) =>
        new AccountRoleQuota(accountId, usage, {
          now: Date.now,
          observe: (observation) => observed.push(observation),
        }),
    );
    await new IAMClient(localClientConfig(moto.endpoint)).send(
      new CreateRoleCommand({ RoleName: "in-the-service-account", AssumeRolePolicyDocument: "{}" }),
    );
    const stores = await access.storesFor(TARGET, "stack:api");
    await stores.roles.create(SPEC);

    await stores.roleQuota?.admitCreate("next");

    // moto answers GetAccountSummary with Roles and RolesQuota (IAM's default, 1,000), per account.
    expect(observed).toEqual([{ account: TARGET, roles: 1, quota: 1000, nearQuota: false }]);
  });

  it("refuses an account that is not configured", async () => {
    const access = new StsAccountAccess(stsClient(), [ACCOUNT], plainClients);

    await expect(access.storesFor("333333333333", "stack:api")).rejects.toThrow(
      "account 333333333333 is not configured",
    );
  });
});

describe("roleSessionName", () => {
  it.each([
    ["stack:api", "vending@stack.api"],
    [
      "space:prod-eu-west-1-and-a-very-long-slug-01HND497T9JKR76MR3KA2CDJHP",
      "vending@space.prod-eu-west-1-and-a-very-long-slug-01HND497T9JKR7",
    ],
    ["stack:a b/c", "vending@stack.a_b_c"],
  ])("%s → %s: 2-64 characters of [\\w+=,.@-] (STS's rule)", (resource, name) => {
    expect(roleSessionName(resource)).toBe(name);
    expect(name).toMatch(/^[\w+=,.@-]{2,64}$/);
  });
});
