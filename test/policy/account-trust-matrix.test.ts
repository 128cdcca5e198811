/**
 * Trust across AWS accounts (the permissions file's `accounts`), decided by an IAM policy
 * evaluator over the trust policies the core renders for each account: a run of a stack routed
 * to account B is admitted by B's roles for it and by no role in account A, whichever account's
 * OIDC provider it presents its token to, and the other way round.
 */
import { describe, expect, it } from "vitest";
import { accountFor, configForAccount } from "../../functions/core/account-routing.ts";
import { loadVendingConfig } from "../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import type { RoleSpec } from "../../functions/core/ports.ts";
import { spaceBinding, stackBindings } from "../../functions/core/role-spec.ts";
import { decisionMatrix, type Token, tokenFor } from "../../testkit/policy/evaluate.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const A = "123456789012";
const B = "222222222222";
const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const BILLING = "billing" as StackId;

const config = await loadVendingConfig({
  SPACELIFT_HOSTNAME: SPACELIFT_HOST,
  AWS_ACCOUNT_ID: A,
  PERMISSIONS_CONFIG: `
permissionsBoundaryArn: arn:aws:iam::${A}:policy/boundary
readWriteSplit: true
accounts:
  - id: "${B}"
    vendingRoleArn: arn:aws:iam::${B}:role/spacelift-vending
    spaces: ["production-*"]
    permissionsBoundaryArn: arn:aws:iam::${B}:policy/boundary
`,
});

/** The roles the provisioner vends for a resource, in the account its space is routed to. */
function rolesOf(stackId: StackId, spaceId: SpaceId): Record<string, RoleSpec> {
  const account = accountFor(config, spaceId);
  const inAccount = configForAccount(config, account);
  const roles: Record<string, RoleSpec> = {};
  for (const binding of stackBindings(inAccount, { stackId, spaceId, labels: [] })) {
    roles[`${account}: stack ${stackId} ${binding.scope}`] = binding.role;
  }
  roles[`${account}: space ${spaceId.split("-")[0]}`] = spaceBinding(inAccount, { spaceId }).role;
  return roles;
}

describe("trust across accounts", () => {
  const roles = { ...rolesOf(PAYMENTS, PROD), ...rolesOf(BILLING, STAGING) };
  const accountOf = (roleName: string) => roleName.slice(0, 12);
  const via = (account: string, stackId: StackId, spaceId: SpaceId): Token =>
    tokenFor(configForAccount(config, account), { spaceId, callerId: stackId, scope: "write" });
  const tokens: Record<string, Token> = {
    "payments-api (prod, routed to B) through B's provider": via(B, PAYMENTS, PROD),
    "payments-api (prod, routed to B) through A's provider": via(A, PAYMENTS, PROD),
    "billing (staging, in A) through A's provider": via(A, BILLING, STAGING),
    "billing (staging, in A) through B's provider": via(B, BILLING, STAGING),
  };

  it("vends each resource's roles in the account its space is routed to", () => {
    expect(Object.keys(roles).sort()).toEqual([
      `${A}: space staging`,
      `${A}: stack billing read`,
      `${A}: stack billing write`,
      `${B}: space production`,
      `${B}: stack payments-api read`,
      `${B}: stack payments-api write`,
    ]);
  });

  it("admits a run only to its own roles in its own account, through that account's provider", () => {
    const deny = Object.fromEntries(Object.keys(roles).map((name) => [name, "deny"]));

    expect(decisionMatrix(tokens, roles, accountOf)).toEqual({
      "payments-api (prod, routed to B) through B's provider": {
        ...deny,
        [`${B}: stack payments-api write`]: "allow",
        [`${B}: space production`]: "allow",
      },
      "payments-api (prod, routed to B) through A's provider": deny,
      "billing (staging, in A) through A's provider": {
        ...deny,
        [`${A}: stack billing write`]: "allow",
        [`${A}: space staging`]: "allow",
      },
      "billing (staging, in A) through B's provider": deny,
    });
  });
});
