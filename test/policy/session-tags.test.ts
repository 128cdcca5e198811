/**
 * Session tagging (opt-in): a token carrying session tags (`https://aws.amazon.com/tags`) makes
 * STS check sts:TagSession too. The trust policy allows it only for the `stack` and `space`
 * tags, naming the same stack and space as the token's `sub`.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import type { RoleSpec } from "../../functions/core/ports.ts";
import { spaceBinding, stackBindings } from "../../functions/core/role-spec.ts";
import { decisionMatrix, type Token, tokenFor } from "../../testkit/policy/evaluate.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const PAYMENTS = "payments-api" as StackId;

function configWith(permissions: string | undefined): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    ...(permissions === undefined ? {} : { PERMISSIONS_CONFIG: permissions }),
  });
}

function rolesOf(config: VendingConfig): Record<string, RoleSpec> {
  const roles: Record<string, RoleSpec> = {};
  for (const binding of stackBindings(config, { stackId: PAYMENTS, spaceId: PROD, labels: [] })) {
    roles[`stack payments-api${binding.scope === "any" ? "" : ` ${binding.scope}`}`] = binding.role;
  }
  roles["space prod"] = spaceBinding(config, { spaceId: PROD }).role;
  return roles;
}

function tokens(config: VendingConfig): Record<string, Token> {
  const run = { spaceId: PROD, callerId: PAYMENTS, scope: "write" as const };
  const tagged = (tags: Record<string, string>) => tokenFor(config, run, { tags });
  return {
    "no session tags": tokenFor(config, run),
    "its own stack and space": tagged({ stack: PAYMENTS, space: PROD }),
    "another stack's tag": tagged({ stack: "billing", space: PROD }),
    "another space's tag": tagged({ stack: PAYMENTS, space: STAGING }),
    "only the stack tag": tagged({ stack: PAYMENTS }),
    "an extra tag": tagged({ stack: PAYMENTS, space: PROD, team: "platform-admins" }),
    "a wildcard stack tag": tagged({ stack: "*", space: PROD }),
    "a stack tag spanning segments": tagged({ stack: "payments-api:run_type", space: PROD }),
    // Spacelift issues no such sub; if it did, the tag would reach the pattern as a wildcard.
    "a wildcard stack tag matching its sub literally": tokenFor(config, run, {
      sub: `space:${PROD}:stack:pay*:run_type:TRACKED:scope:write`,
      tags: { stack: "pay*", space: PROD },
    }),
    "a stack tag with a delimiter matching its sub literally": tokenFor(config, run, {
      sub: `space:${PROD}:stack:pay:ments:run_type:TRACKED:scope:write`,
      tags: { stack: "pay:ments", space: PROD },
    }),
    "own tags, other aud": tokenFor(config, run, {
      tags: { stack: PAYMENTS, space: PROD },
      aud: "evil.app.spacelift.io",
    }),
  };
}

describe("session tagging", () => {
  it("admits only tags naming the token's own stack and space, on stack and space roles", async () => {
    const config = await configWith("sessionTagging: true");
    const both = { "stack payments-api": "allow", "space prod": "allow" } as const;
    const neither = { "stack payments-api": "deny", "space prod": "deny" } as const;

    expect(decisionMatrix(tokens(config), rolesOf(config))).toEqual({
      "no session tags": both,
      "its own stack and space": both,
      "another stack's tag": neither,
      "another space's tag": neither,
      "only the stack tag": neither,
      "an extra tag": neither,
      "a wildcard stack tag": neither,
      "a stack tag spanning segments": neither,
      "a wildcard stack tag matching its sub literally": neither,
      "a stack tag with a delimiter matching its sub literally": neither,
      "own tags, other aud": neither,
    });
  });

  it("ties the tags to the scope-pinned roles of the read/write split as well", async () => {
    const config = await configWith("sessionTagging: true\nreadWriteSplit: true");
    const matrix = decisionMatrix(tokens(config), rolesOf(config));

    expect(matrix["its own stack and space"]).toEqual({
      "stack payments-api write": "allow",
      "stack payments-api read": "deny",
      "space prod": "allow",
    });
    expect(matrix["another stack's tag"]).toEqual({
      "stack payments-api write": "deny",
      "stack payments-api read": "deny",
      "space prod": "deny",
    });
  });

  it("refuses every session tag when tagging is not switched on", async () => {
    const config = await configWith(undefined);
    const matrix = decisionMatrix(tokens(config), rolesOf(config));

    expect(matrix["no session tags"]).toEqual({
      "stack payments-api": "allow",
      "space prod": "allow",
    });
    expect(matrix["its own stack and space"]).toEqual({
      "stack payments-api": "deny",
      "space prod": "deny",
    });
  });
});
