import { describe, expect, it } from "vitest";
import {
  accountFor,
  configForAccount,
  targetAccountFor,
} from "../../../functions/core/account-routing.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { AccountNotRoutedError, ConfigurationError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { spaceBinding, stackBindings } from "../../../functions/core/role-spec.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const SERVICE = "111111111111";
const PROD_ACCOUNT = "222222222222";
const DATA_ACCOUNT = "333333333333";
const PROD = "prod-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const PROD_EU = "prod-eu-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const DATA = "data-01HPE6H08F8HR8PJR78DPYR3TC" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TS" as SpaceId;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess";
const POWER = "arn:aws:iam::aws:policy/PowerUserAccess";
const PROD_BOUNDARY = `arn:aws:iam::${PROD_ACCOUNT}:policy/spacelift-boundary`;
const DATA_BOUNDARY = `arn:aws:iam::${DATA_ACCOUNT}:policy/spacelift-boundary`;
const SERVICE_BOUNDARY = `arn:aws:iam::${SERVICE}:policy/spacelift-boundary`;

const FILE = `
version: 1
permissionsBoundaryArn: ${SERVICE_BOUNDARY}
accounts:
  - id: "${PROD_ACCOUNT}"
    vendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/spacelift-vending
    spaces: ["prod-*"]
    permissionsBoundaryArn: ${PROD_BOUNDARY}
    externalId: acme-vending
  - id: "${DATA_ACCOUNT}"
    vendingRoleArn: arn:aws:iam::${DATA_ACCOUNT}:role/spacelift-vending
    spaces: ["${DATA}"]
    oidcProviderArn: arn:aws:iam::${DATA_ACCOUNT}:oidc-provider/other.example.com
    permissionsBoundaryArn: ${DATA_BOUNDARY}
default:
  managedPolicyArns: [${READ_ONLY}]
spaces:
  - match: "prod-*"
    accounts: ["${PROD_ACCOUNT}"]
    managedPolicyArns: [${POWER}]
labels:
  "aws:admin":
    accounts: ["${SERVICE}"]
    managedPolicyArns: [${ADMIN}]
`;

const load = (text: string, env: Record<string, string> = {}) =>
  loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: SERVICE,
    PERMISSIONS_CONFIG: text,
    ...env,
  });

async function problemOf(text: string, env: Record<string, string> = {}): Promise<string> {
  try {
    await load(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

/** A file with one account whose fields are replaced by `fields` (YAML lines). */
const oneAccount = (fields: string, top = `permissionsBoundaryArn: ${SERVICE_BOUNDARY}`) => `
${top}
accounts:
  - ${fields.trim().split("\n").join("\n    ")}
`;

describe("the accounts section", () => {
  it("reads accounts with their defaults: defaultAccount service, publishInTargetAccount true", async () => {
    const config = await load(FILE);

    expect(config.permissions?.accounts).toEqual([
      {
        id: PROD_ACCOUNT,
        vendingRoleArn: `arn:aws:iam::${PROD_ACCOUNT}:role/spacelift-vending`,
        spaces: ["prod-*"],
        oidcProviderArn: undefined,
        permissionsBoundaryArn: PROD_BOUNDARY,
        externalId: "acme-vending",
      },
      expect.objectContaining({ id: DATA_ACCOUNT, externalId: undefined }),
    ]);
    expect(config.permissions?.defaultAccount).toBe("service");
    expect(config.permissions?.publishInTargetAccount).toBe(true);
  });

  it("a file without accounts routes everything to the service's account, as before", async () => {
    const config = await load(`permissionsBoundaryArn: ${SERVICE_BOUNDARY}`);

    expect(accountFor(config, PROD)).toBe(SERVICE);
    expect(configForAccount(config, SERVICE)).toBe(config);
  });

  it.each([
    [
      "a duplicate account ID",
      `${oneAccount(`id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}`)}
  - id: "${PROD_ACCOUNT}"
    vendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/w
    spaces: [b]
    permissionsBoundaryArn: ${PROD_BOUNDARY}`,
      "accounts[1].id: account 222222222222 is already configured at accounts[0]",
    ],
    [
      "a vending role in another account",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${DATA_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}`,
      ),
      `accounts[0].vendingRoleArn: arn:aws:iam::${DATA_ACCOUNT}:role/v is in account ${DATA_ACCOUNT}, not in account ${PROD_ACCOUNT}`,
    ],
    [
      "an OIDC provider in another account",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}\noidcProviderArn: arn:aws:iam::${SERVICE}:oidc-provider/${SPACELIFT_HOST}`,
      ),
      `accounts[0].oidcProviderArn: arn:aws:iam::${SERVICE}:oidc-provider/${SPACELIFT_HOST} is in account ${SERVICE}, not in account ${PROD_ACCOUNT}`,
    ],
    [
      "a boundary in another account",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${DATA_BOUNDARY}`,
      ),
      `accounts[0].permissionsBoundaryArn: ${DATA_BOUNDARY} is in account ${DATA_ACCOUNT}`,
    ],
    [
      "an account that would inherit the service account's boundary",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]`,
      ),
      `accounts[0].permissionsBoundaryArn: required: the top-level boundary ${SERVICE_BOUNDARY} is in account ${SERVICE}`,
    ],
    [
      "the service's own account as a target",
      oneAccount(
        `id: "${SERVICE}"\nvendingRoleArn: arn:aws:iam::${SERVICE}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${SERVICE_BOUNDARY}`,
      ),
      `accounts[0].id: ${SERVICE} is the service's own account`,
    ],
    [
      "a vending role in the service's own account",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${SERVICE}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}`,
      ),
      `accounts[0].vendingRoleArn: arn:aws:iam::${SERVICE}:role/v is in account ${SERVICE}, not in account ${PROD_ACCOUNT}`,
    ],
    [
      "an ID that is not 12 digits",
      oneAccount(`id: "2222"\nvendingRoleArn: arn:aws:iam::2222:role/v\nspaces: [a]`),
      "accounts[0].id: must be a 12-digit AWS account ID",
    ],
    [
      "an account without spaces",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: []\npermissionsBoundaryArn: ${PROD_BOUNDARY}`,
      ),
      "accounts[0].spaces:",
    ],
    [
      "a space glob with a colon",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: ["a:b"]\npermissionsBoundaryArn: ${PROD_BOUNDARY}`,
      ),
      "accounts[0].spaces[0]: must be a space ID or a glob",
    ],
    [
      "an unknown setting in an account",
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}\nlabels: [prod]`,
      ),
      "accounts[0].labels: unknown setting",
    ],
    [
      "a rule limited to an account that is not configured",
      `permissionsBoundaryArn: ${SERVICE_BOUNDARY}\nspaces:\n  - match: "prod-*"\n    accounts: ["${DATA_ACCOUNT}"]`,
      `spaces[0].accounts[0]: ${DATA_ACCOUNT} is neither the service's account nor under accounts`,
    ],
    [
      "a bad defaultAccount",
      `permissionsBoundaryArn: ${SERVICE_BOUNDARY}\ndefaultAccount: prod`,
      "defaultAccount: must be service or none",
    ],
  ])("refuses %s, naming the field", async (_case, text, message) => {
    expect(await problemOf(text)).toContain(message);
  });

  it("refuses an account that would inherit PERMISSIONS_BOUNDARY_ARN from the service's account", async () => {
    const text = `accounts:\n  - id: "${PROD_ACCOUNT}"\n    vendingRoleArn: arn:aws:iam::${PROD_ACCOUNT}:role/v\n    spaces: [a]`;

    expect(await problemOf(text, { PERMISSIONS_BOUNDARY_ARN: SERVICE_BOUNDARY })).toContain(
      `accounts[0].permissionsBoundaryArn: required: PERMISSIONS_BOUNDARY_ARN ${SERVICE_BOUNDARY} is in account ${SERVICE}`,
    );
  });
});

describe("routing", () => {
  it("sends a space to the first account whose spaces match it, else to the service's account", async () => {
    const config = await load(FILE);

    expect(accountFor(config, PROD)).toBe(PROD_ACCOUNT);
    expect(accountFor(config, PROD_EU)).toBe(PROD_ACCOUNT);
    expect(accountFor(config, DATA)).toBe(DATA_ACCOUNT);
    expect(accountFor(config, STAGING)).toBe(SERVICE);
  });

  it("takes the first matching account when two match", async () => {
    const config = await load(
      FILE.replace(`spaces: ["${DATA}"]`, `spaces: ["prod-eu-*", "${DATA}"]`),
    );

    expect(accountFor(config, PROD_EU)).toBe(PROD_ACCOUNT);
  });

  it("with defaultAccount none, refuses an unmatched space with an error naming it", async () => {
    const config = await load(`${FILE}\ndefaultAccount: none`);

    expect(accountFor(config, PROD)).toBe(PROD_ACCOUNT);
    expect(() => targetAccountFor(config, STAGING)).toThrow(AccountNotRoutedError);
    expect(() => accountFor(config, STAGING)).toThrow(
      `space ${STAGING} matches no configured account's spaces and defaultAccount is none`,
    );
  });

  it("a label can never change the account: routing reads the space alone, and a label rule limited to an account grants nothing elsewhere", async () => {
    // Labels that spell a routed space's glob, an account ID, or the label rule of another account.
    const config = await load(FILE);
    const labels = ["prod-*", PROD_ACCOUNT, "aws:admin", `account:${PROD_ACCOUNT}`];

    const stagingRole = stackBindings(configForAccount(config, accountFor(config, STAGING)), {
      stackId: "api" as StackId,
      spaceId: STAGING,
      labels,
    })[0]?.role;
    const prodRole = stackBindings(configForAccount(config, accountFor(config, PROD)), {
      stackId: "api" as StackId,
      spaceId: PROD,
      labels,
    })[0]?.role;

    expect(accountFor(config, STAGING)).toBe(SERVICE);
    expect(stagingRole?.managedPolicyArns).toEqual([ADMIN, READ_ONLY].sort());
    // In the prod account the aws:admin label (limited to the service's account) grants nothing.
    expect(prodRole?.managedPolicyArns).toEqual([POWER, READ_ONLY].sort());
  });
});

describe("the configuration as seen from a target account", () => {
  it("trusts that account's OIDC provider (default by hostname) and carries its boundary", async () => {
    const config = await load(FILE);

    const prod = configForAccount(config, PROD_ACCOUNT);
    const data = configForAccount(config, DATA_ACCOUNT);
    const prodSpace = spaceBinding(prod, { spaceId: PROD }).role;
    const dataSpace = spaceBinding(data, { spaceId: DATA }).role;

    expect(prod.awsAccountId).toBe(PROD_ACCOUNT);
    expect(prodSpace.permissionsBoundaryArn).toBe(PROD_BOUNDARY);
    expect(JSON.stringify(prodSpace.trustPolicy)).toContain(
      `"Federated":"arn:aws:iam::${PROD_ACCOUNT}:oidc-provider/${SPACELIFT_HOST}"`,
    );
    expect(dataSpace.permissionsBoundaryArn).toBe(DATA_BOUNDARY);
    expect(JSON.stringify(dataSpace.trustPolicy)).toContain(
      `"Federated":"arn:aws:iam::${DATA_ACCOUNT}:oidc-provider/other.example.com"`,
    );
  });

  it("applies a rule limited to accounts only there: the prod space rule is not granted in the service's account", async () => {
    const config = await load(FILE);

    const inService = spaceBinding(configForAccount(config, SERVICE), { spaceId: PROD }).role;
    const inProd = spaceBinding(configForAccount(config, PROD_ACCOUNT), { spaceId: PROD }).role;

    expect(inService.managedPolicyArns).toEqual([READ_ONLY]);
    expect(inProd.managedPolicyArns).toEqual([POWER, READ_ONLY].sort());
  });

  it("uses the partition of the vending role for the default OIDC provider", async () => {
    const config = await load(
      oneAccount(
        `id: "${PROD_ACCOUNT}"\nvendingRoleArn: arn:aws-us-gov:iam::${PROD_ACCOUNT}:role/v\nspaces: [a]\npermissionsBoundaryArn: ${PROD_BOUNDARY}`,
      ),
    );

    expect(configForAccount(config, PROD_ACCOUNT).oidcProviderArn).toBe(
      `arn:aws-us-gov:iam::${PROD_ACCOUNT}:oidc-provider/${SPACELIFT_HOST}`,
    );
  });
});
