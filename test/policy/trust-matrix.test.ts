/**
 * Who can assume which vended role, decided by an IAM policy evaluator over the trust policies
 * the core really renders (loadVendingConfig → stackBindings/spaceBinding, or convergeStack for
 * {spacePath}), against tokens built in Spacelift's real `sub` format.
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
/** A child space of production. */
const DATA = "data-platform-01HPE6H08F8HR8PJR78DPYR3TC" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const BILLING = "billing" as StackId;

function configWith(env: Record<string, string> = {}): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    ...env,
  });
}

function stackRole(config: VendingConfig, stackId: StackId, spaceId: SpaceId): RoleSpec {
  const [binding] = stackBindings(config, { stackId, spaceId, labels: [] });
  if (binding === undefined) throw new Error("no binding");
  return binding.role;
}

function splitRoles(config: VendingConfig, stackId: StackId, spaceId: SpaceId) {
  const bindings = stackBindings(config, { stackId, spaceId, labels: [] });
  const byScope = Object.fromEntries(bindings.map((binding) => [binding.scope, binding.role]));
  return { write: byScope.write as RoleSpec, read: byScope.read as RoleSpec };
}

const spaceRole = (config: VendingConfig, spaceId: SpaceId) =>
  spaceBinding(config, { spaceId }).role;

const defaultConfig = await configWith();
const splitConfig = await configWith({ PERMISSIONS_CONFIG: "readWriteSplit: true" });

describe("trust policies with Spacelift's default subject template", () => {
  const config = defaultConfig;
  const roles = {
    "stack payments-api (prod)": stackRole(config, PAYMENTS, PROD),
    "stack billing (prod)": stackRole(config, BILLING, PROD),
    "space prod": spaceRole(config, PROD),
    "space staging": spaceRole(config, STAGING),
  };
  const run = { spaceId: PROD, callerId: PAYMENTS };
  const tokens: Record<string, Token> = {
    "payments-api tracked write": tokenFor(config, { ...run, runType: "TRACKED", scope: "write" }),
    "payments-api proposed read": tokenFor(config, { ...run, runType: "PROPOSED", scope: "read" }),
    "payments-api task": tokenFor(config, { ...run, runType: "TASK", scope: "write" }),
    "billing tracked": tokenFor(config, { spaceId: PROD, callerId: BILLING }),
    "payments-api from another space": tokenFor(config, { ...run, spaceId: STAGING }),
    "a stack of the child space": tokenFor(config, { spaceId: DATA, callerId: "etl" }),
    "space ID that extends prod's": tokenFor(config, { ...run, spaceId: `${PROD}X` }),
    "another Spacelift account (aud)": tokenFor(config, run, { aud: "evil.app.spacelift.io" }),
    "another Spacelift account (issuer and keys)": tokenFor(config, run, {
      host: "evil.app.spacelift.io",
      aud: "evil.app.spacelift.io",
      provider: "arn:aws:iam::123456789012:oidc-provider/evil.app.spacelift.io",
    }),
    "module with the same slug": tokenFor(config, {
      ...run,
      callerType: "module",
      runType: "TESTING",
    }),
    "tampered sub (stack slug extended)": tokenFor(config, {
      ...run,
      callerId: "payments-api-evil",
    }),
    "tampered sub (stack slug prefix)": tokenFor(config, { ...run, callerId: "payments" }),
    "another OIDC provider": tokenFor(config, run, {
      provider: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
    }),
    "sub with run_type injected into the slug": tokenFor(config, run, {
      sub: `space:${PROD}:stack:payments-api:run_type:TRACKED:scope:write:stack:billing`,
    }),
  };

  it("admits each stack's tokens to its own role and its space's role, and nothing else", () => {
    const allowOwn = { "stack payments-api (prod)": "allow", "space prod": "allow" };
    const deny = {
      "stack payments-api (prod)": "deny",
      "stack billing (prod)": "deny",
      "space prod": "deny",
      "space staging": "deny",
    } as const;

    expect(decisionMatrix(tokens, roles)).toEqual({
      "payments-api tracked write": { ...deny, ...allowOwn },
      "payments-api proposed read": { ...deny, ...allowOwn },
      "payments-api task": { ...deny, ...allowOwn },
      "billing tracked": { ...deny, "stack billing (prod)": "allow", "space prod": "allow" },
      "payments-api from another space": { ...deny, "space staging": "allow" },
      "a stack of the child space": deny,
      "space ID that extends prod's": deny,
      "another Spacelift account (aud)": deny,
      "another Spacelift account (issuer and keys)": deny,
      // A space role trusts every run of its space (`space:<id>:*`), modules' test runs too;
      // the module is still refused the stack roles.
      "module with the same slug": { ...deny, "space prod": "allow" },
      // A stack named payments-api-evil in prod is a stack of prod: the space role admits it.
      "tampered sub (stack slug extended)": { ...deny, "space prod": "allow" },
      "tampered sub (stack slug prefix)": { ...deny, "space prod": "allow" },
      "another OIDC provider": deny,
      // Spacelift's subs end with the scope; the role's pattern still pins payments-api.
      "sub with run_type injected into the slug": { ...deny, ...allowOwn },
    });
  });
});

describe("trust policies with the read/write split", () => {
  const config = splitConfig;
  const payments = splitRoles(config, PAYMENTS, PROD);
  const billing = splitRoles(config, BILLING, PROD);
  const roles = {
    "payments-api write": payments.write,
    "payments-api read": payments.read,
    "billing write": billing.write,
    "billing read": billing.read,
  };
  const run = { spaceId: PROD, callerId: PAYMENTS };

  it("gives scope:write tokens only the write role and scope:read tokens only the read role", () => {
    const tokens = {
      "payments-api tracked write": tokenFor(config, {
        ...run,
        runType: "TRACKED",
        scope: "write",
      }),
      "payments-api tracked read (awaiting approval)": tokenFor(config, {
        ...run,
        runType: "TRACKED",
        scope: "read",
      }),
      "payments-api proposed read": tokenFor(config, {
        ...run,
        runType: "PROPOSED",
        scope: "read",
      }),
      "billing proposed read": tokenFor(config, {
        spaceId: PROD,
        callerId: BILLING,
        runType: "PROPOSED",
        scope: "read",
      }),
      "payments-api write, other aud": tokenFor(config, run, { aud: "evil.app.spacelift.io" }),
      "payments-api read, scope tampered": tokenFor(config, run, {
        sub: `space:${PROD}:stack:payments-api:run_type:PROPOSED:scope:read-write`,
      }),
    };
    const deny = {
      "payments-api write": "deny",
      "payments-api read": "deny",
      "billing write": "deny",
      "billing read": "deny",
    } as const;

    expect(decisionMatrix(tokens, roles)).toEqual({
      "payments-api tracked write": { ...deny, "payments-api write": "allow" },
      "payments-api tracked read (awaiting approval)": { ...deny, "payments-api read": "allow" },
      "payments-api proposed read": { ...deny, "payments-api read": "allow" },
      "billing proposed read": { ...deny, "billing read": "allow" },
      "payments-api write, other aud": deny,
      "payments-api read, scope tampered": deny,
    });
  });
});
