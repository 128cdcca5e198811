/**
 * Asks an IAM policy evaluator (iam-simulate, dev-only) whether a Spacelift OIDC token may
 * assume a role, the way STS would decide AssumeRoleWithWebIdentity (and sts:TagSession when
 * the token carries session tags), from the role's real trust policy.
 *
 * The validated `runSimulation` drops custom OIDC condition keys (`<host>:sub`), so trust
 * policies go through `runUnsafeSimulation` as a validated trust policy (see TOOLCHAIN.md).
 */
import { createValidatedPolicy, validateTrustPolicy } from "@cloud-copilot/iam-policy";
import { runUnsafeSimulation } from "@cloud-copilot/iam-simulate";
import type { VendingConfig } from "../../functions/core/config.ts";
import type { RoleSpec } from "../../functions/core/ports.ts";
import { DEFAULT_SUBJECT_TEMPLATE } from "../../functions/core/subject.ts";

export const ACCOUNT_ID = "123456789012";

/** A Spacelift OIDC token, as far as STS sees it. */
export interface Token {
  /** The issuer's hostname: the condition keys are `<host>:sub` and `<host>:aud`. */
  readonly host: string;
  readonly sub: string;
  readonly aud: string;
  /** The IAM OIDC provider the token came through (the principal). */
  readonly provider: string;
  /** Session tags carried by the token (`https://aws.amazon.com/tags`), if any. */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface Run {
  readonly spaceId: string;
  readonly callerType?: "stack" | "module";
  readonly callerId: string;
  readonly runType?: "PROPOSED" | "TRACKED" | "TASK" | "TESTING" | "DESTROY";
  readonly scope?: "read" | "write";
  readonly spacePath?: string;
  readonly runId?: string;
}

/** The `sub` Spacelift puts in a run's token: the account's template, every placeholder filled in. */
export function spaceliftSub(run: Run, template: string = DEFAULT_SUBJECT_TEMPLATE): string {
  const values: Record<string, string> = {
    spaceId: run.spaceId,
    spacePath: run.spacePath ?? "",
    callerType: run.callerType ?? "stack",
    callerId: run.callerId,
    runType: run.runType ?? "TRACKED",
    scope: run.scope ?? "write",
    runId: run.runId ?? "01HXX123ABCDEFGHJKMNPQRSTV",
  };
  return template.replace(/\{([a-zA-Z]+)\}/g, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`unknown placeholder ${name}`);
    return value;
  });
}

/** A token of the configured Spacelift account for a run. */
export function tokenFor(config: VendingConfig, run: Run, overrides: Partial<Token> = {}): Token {
  return {
    host: config.spaceliftHostname,
    sub: spaceliftSub(run, config.subjectTemplate),
    aud: config.spaceliftHostname,
    provider: config.oidcProviderArn,
    ...overrides,
  };
}

export type Decision = "allow" | "deny";

function evaluate(
  role: RoleSpec,
  action: "sts:AssumeRoleWithWebIdentity" | "sts:TagSession",
  token: Token,
  accountId: string,
): Decision {
  const trust = createValidatedPolicy(role.trustPolicy, validateTrustPolicy, {
    name: "TrustPolicy",
  });
  const tags = token.tags ?? {};
  const contextVariables: Record<string, string | string[]> = {
    [`${token.host}:sub`]: token.sub,
    [`${token.host}:aud`]: token.aud,
  };
  if (action === "sts:TagSession") {
    for (const [key, value] of Object.entries(tags))
      contextVariables[`aws:RequestTag/${key}`] = value;
    contextVariables["aws:TagKeys"] = Object.keys(tags);
  }
  const result = runUnsafeSimulation(
    {
      request: {
        principal: token.provider,
        action,
        resource: {
          resource: `arn:aws:iam::${accountId}:role${role.path}${role.name}`,
          accountId,
        },
        contextVariables,
      },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: trust,
    },
    {},
  );
  return result === "Allowed" ? "allow" : "deny";
}

/**
 * STS's decision on AssumeRoleWithWebIdentity: the trust policy must allow the action, and,
 * when the token carries session tags, sts:TagSession as well.
 */
export function decide(role: RoleSpec, token: Token, accountId: string = ACCOUNT_ID): Decision {
  if (evaluate(role, "sts:AssumeRoleWithWebIdentity", token, accountId) === "deny") return "deny";
  if (token.tags !== undefined && Object.keys(token.tags).length > 0) {
    return evaluate(role, "sts:TagSession", token, accountId);
  }
  return "allow";
}

/**
 * Every token against every role: `{ token: { role: decision } }`. `accountOf` names the AWS
 * account each role is in (by default the one account of the single-account tests).
 */
export function decisionMatrix(
  tokens: Readonly<Record<string, Token>>,
  roles: Readonly<Record<string, RoleSpec>>,
  accountOf: (roleName: string) => string = () => ACCOUNT_ID,
): Record<string, Record<string, Decision>> {
  return Object.fromEntries(
    Object.entries(tokens).map(([tokenName, token]) => [
      tokenName,
      Object.fromEntries(
        Object.entries(roles).map(([roleName, role]) => [
          roleName,
          decide(role, token, accountOf(roleName)),
        ]),
      ),
    ]),
  );
}
