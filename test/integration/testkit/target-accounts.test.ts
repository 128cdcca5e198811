/**
 * ensureLocalTargetAccounts against a real moto_server: what `npm start` sets up in each target
 * account (its OIDC provider, boundary and vending role), acting in that account through an
 * assumed role as moto allows. Run twice, it changes nothing; what exists already is accepted;
 * bad input changes nothing anywhere.
 */
import {
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  GetPolicyCommand,
  IAMClient,
  ListOpenIDConnectProvidersCommand,
  ListRolesCommand,
} from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readRole } from "../../../testkit/aws/clients.ts";
import {
  ensureLocalTargetAccounts,
  type LocalTargetAccount,
  localClientConfig,
} from "../../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../../testkit/aws/moto.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const SERVICE_PRINCIPAL = "arn:aws:iam::123456789012:role/spacelift-role-vending/local-provisioner";
const PROD: LocalTargetAccount = {
  id: "222222222222",
  vendingRoleArn: "arn:aws:iam::222222222222:role/spacelift-role-vending/spacelift-role-vending",
  externalId: "local-external-id",
};
const STAGING: LocalTargetAccount = {
  id: "333333333333",
  vendingRoleArn: "arn:aws:iam::333333333333:role/vending/stage-vending",
  oidcProviderArn: `arn:aws:iam::333333333333:oidc-provider/${SPACELIFT_HOST}`,
  permissionsBoundaryArn: "arn:aws:iam::333333333333:policy/boundaries/stage-boundary",
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

/** An IAM client acting in `account`, the way moto lets one: through an assumed role. */
async function iamIn(account: string): Promise<IAMClient> {
  const sts = new STSClient(localClientConfig(moto.endpoint));
  const { Credentials: credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/test-inspector`,
      RoleSessionName: "test",
    }),
  );
  sts.destroy();
  return new IAMClient({
    ...localClientConfig(moto.endpoint),
    credentials: {
      accessKeyId: credentials?.AccessKeyId ?? "",
      secretAccessKey: credentials?.SecretAccessKey ?? "",
      sessionToken: credentials?.SessionToken ?? "",
    },
  });
}

/** What an account holds: role ARNs, OIDC provider ARNs. */
async function inventory(iam: IAMClient) {
  return {
    roles: ((await iam.send(new ListRolesCommand({}))).Roles ?? []).map((role) => role.Arn).sort(),
    providers: (
      (await iam.send(new ListOpenIDConnectProvidersCommand({}))).OpenIDConnectProviderList ?? []
    )
      .map((provider) => provider.Arn)
      .sort(),
  };
}

const setUp = (accounts: readonly LocalTargetAccount[]) =>
  ensureLocalTargetAccounts(accounts, {
    endpoint: moto.endpoint,
    spaceliftHostname: SPACELIFT_HOST,
    servicePrincipalArns: [SERVICE_PRINCIPAL],
  });

describe("ensureLocalTargetAccounts", () => {
  it("creates each account's OIDC provider, boundary and vending role in that account, and returns the filled-in entries", async () => {
    const prepared = await setUp([PROD, STAGING]);

    expect(prepared).toEqual([
      {
        id: PROD.id,
        vendingRoleArn: PROD.vendingRoleArn,
        oidcProviderArn: `arn:aws:iam::${PROD.id}:oidc-provider/${SPACELIFT_HOST}`,
        permissionsBoundaryArn: `arn:aws:iam::${PROD.id}:policy/spacelift-role-vending/spacelift-role-vending-boundary`,
        externalId: PROD.externalId,
      },
      {
        id: STAGING.id,
        vendingRoleArn: STAGING.vendingRoleArn,
        oidcProviderArn: STAGING.oidcProviderArn,
        permissionsBoundaryArn: STAGING.permissionsBoundaryArn,
      },
    ]);
    const prod = await iamIn(PROD.id);
    expect(await inventory(prod)).toEqual({
      roles: [PROD.vendingRoleArn],
      providers: [`arn:aws:iam::${PROD.id}:oidc-provider/${SPACELIFT_HOST}`],
    });
    const boundary = await prod.send(
      new GetPolicyCommand({ PolicyArn: prepared[0]?.permissionsBoundaryArn }),
    );
    expect(boundary.Policy?.Arn).toBe(prepared[0]?.permissionsBoundaryArn);
    expect((await readRole(prod, "spacelift-role-vending"))?.trust).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: [SERVICE_PRINCIPAL] },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "sts:ExternalId": PROD.externalId } },
        },
      ],
    });
    const staging = await iamIn(STAGING.id);
    expect(await inventory(staging)).toEqual({
      roles: [STAGING.vendingRoleArn],
      providers: [STAGING.oidcProviderArn],
    });
    expect(
      (await staging.send(new GetPolicyCommand({ PolicyArn: STAGING.permissionsBoundaryArn })))
        .Policy?.Arn,
    ).toBe(STAGING.permissionsBoundaryArn);
    // Nothing landed in the service's own account.
    const own = new IAMClient(localClientConfig(moto.endpoint));
    expect(await inventory(own)).toEqual({ roles: [], providers: [] });
    for (const client of [prod, staging, own]) client.destroy();
  });

  it("run twice, succeeds and changes nothing", async () => {
    const first = await setUp([PROD, STAGING]);
    const prod = await iamIn(PROD.id);
    const before = {
      inventory: await inventory(prod),
      role: await readRole(prod, "spacelift-role-vending"),
    };

    const second = await setUp([PROD, STAGING]);

    expect(second).toEqual(first);
    expect({
      inventory: await inventory(prod),
      role: await readRole(prod, "spacelift-role-vending"),
    }).toEqual(before);
    prod.destroy();
  });

  it("accepts a provider and a vending role that exist already, as they are", async () => {
    const prod = await iamIn(PROD.id);
    await prod.send(
      new CreateOpenIDConnectProviderCommand({
        Url: `https://${SPACELIFT_HOST}`,
        ClientIDList: [SPACELIFT_HOST],
        ThumbprintList: ["0000000000000000000000000000000000000000"],
      }),
    );
    const existingTrust = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: "arn:aws:iam::123456789012:role/applied-by-terraform" },
          Action: "sts:AssumeRole",
        },
      ],
    };
    await prod.send(
      new CreateRoleCommand({
        RoleName: "spacelift-role-vending",
        Path: "/spacelift-role-vending/",
        AssumeRolePolicyDocument: JSON.stringify(existingTrust),
      }),
    );

    await setUp([PROD]);

    expect(await inventory(prod)).toEqual({
      roles: [PROD.vendingRoleArn],
      providers: [`arn:aws:iam::${PROD.id}:oidc-provider/${SPACELIFT_HOST}`],
    });
    expect((await readRole(prod, "spacelift-role-vending"))?.trust).toEqual(existingTrust);
    prod.destroy();
  });

  it("refuses a role of that name on another path, naming both", async () => {
    const prod = await iamIn(PROD.id);
    await prod.send(
      new CreateRoleCommand({
        RoleName: "spacelift-role-vending",
        Path: "/elsewhere/",
        AssumeRolePolicyDocument: "{}",
      }),
    );

    await expect(setUp([PROD])).rejects.toThrow(
      /a role named spacelift-role-vending exists as arn:aws:iam::222222222222:role\/elsewhere\/spacelift-role-vending/,
    );
    prod.destroy();
  });

  it("refuses bad entries with a clear error each, and sets up no account", async () => {
    const bad: Record<string, LocalTargetAccount> = {
      "an id that is not 12 digits": { ...STAGING, id: "3333" },
      "a vending role in another account": {
        ...STAGING,
        vendingRoleArn: "arn:aws:iam::444444444444:role/vending/stage-vending",
      },
      "a boundary in another account": {
        ...STAGING,
        permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/boundary",
      },
      "a vending role ARN that is no role ARN": {
        ...STAGING,
        vendingRoleArn: "arn:aws:iam::333333333333:user/vending",
      },
      "an account listed twice": PROD,
    };

    const errors: Record<string, string> = {};
    for (const [name, entry] of Object.entries(bad)) {
      errors[name] = await setUp([PROD, entry]).then(
        () => "set up",
        (error: Error) => `${error.name}: ${error.message}`,
      );
    }

    expect(errors).toEqual({
      "an id that is not 12 digits":
        "ConfigurationError: target account 1 (3333): id must be 12 digits",
      "a vending role in another account":
        "ConfigurationError: target account 1 (333333333333): vendingRoleArn arn:aws:iam::444444444444:role/vending/stage-vending is in account 444444444444, not 333333333333",
      "a boundary in another account":
        "ConfigurationError: target account 1 (333333333333): permissionsBoundaryArn arn:aws:iam::123456789012:policy/boundary is in account 123456789012, not 333333333333",
      "a vending role ARN that is no role ARN":
        "ConfigurationError: target account 1 (333333333333): vendingRoleArn arn:aws:iam::333333333333:user/vending is not an ARN of that kind",
      "an account listed twice":
        "ConfigurationError: target account 1 (222222222222): listed twice",
    });
    const prod = await iamIn(PROD.id);
    expect(await inventory(prod)).toEqual({ roles: [], providers: [] });
    prod.destroy();
  });
});
