/**
 * The trust policy of a vended role: rendered from the subject pattern, and checked before it
 * leaves the core. A trust policy always pins `aud` and `sub`, never wildcards inside a space or
 * stack segment, and fits IAM's size quota. (What real IAM refuses outright, whoever wrote the
 * document, is trust-policy-rules.ts.)
 */
import type { VendingConfig } from "./config.ts";
import { PolicyRenderError } from "./errors.ts";
import { policySize } from "./permissions.ts";
import type { PolicyDocument } from "./ports.ts";
import { assertSubjectPattern, STACK_TAG_VARIABLE } from "./subject.ts";
import { assertTrustPolicyAccepted } from "./trust-policy-rules.ts";

/** Session tags a role's trust policy admits when session tagging is on. */
export const SESSION_TAG_KEYS = ["stack", "space"] as const;

/**
 * IAM's default quota for a role trust policy, in characters without white space (moto does
 * not enforce it; AWS does).
 */
export const TRUST_POLICY_MAX_SIZE = 2048;

/** The `sts:TagSession` rule of a trust policy: its own `sub` pattern and required tags. */
export interface TagSessionRule {
  readonly sub: string;
  readonly requestTags: Readonly<Record<string, string>>;
  /** A space role takes the `stack` tag from the token (a policy variable): refuse wildcards in it. */
  readonly guardStackTag: boolean;
}

export function renderTrustPolicy(
  config: VendingConfig,
  subPattern: string,
  tagSession?: TagSessionRule,
): PolicyDocument {
  const host = config.spaceliftHostname;
  const statements: Record<string, unknown>[] = [
    {
      Effect: "Allow",
      Principal: { Federated: config.oidcProviderArn },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: { [`${host}:aud`]: host },
        StringLike: { [`${host}:sub`]: subPattern },
      },
    },
  ];
  if (tagSession !== undefined) {
    const requestTags = Object.fromEntries(
      Object.entries(tagSession.requestTags).map(([key, value]) => [
        `aws:RequestTag/${key}`,
        value,
      ]),
    );
    statements.push({
      Effect: "Allow",
      Principal: { Federated: config.oidcProviderArn },
      Action: "sts:TagSession",
      Condition: {
        StringEquals: { [`${host}:aud`]: host, ...requestTags },
        StringLike: { [`${host}:sub`]: tagSession.sub },
        // Only the stack and space tags: no other tag can ride along into ABAC decisions.
        "ForAllValues:StringEquals": { "aws:TagKeys": [...SESSION_TAG_KEYS] },
        ...(tagSession.guardStackTag
          ? {
              // The tag becomes part of a StringLike pattern through a policy variable; `${*}`
              // and `${?}` are IAM's literal `*`/`?`, so a tag holding a wildcard is refused.
              // biome-ignore lint/suspicious/noTemplateCurlyInString: IAM's literal-character syntax, not a JS template
              StringNotLike: { "aws:RequestTag/stack": ["*${*}*", "*${?}*", "*:*", "*|*"] },
            }
          : {}),
      },
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}

/**
 * Refuses a trust policy that is not safe to hand to IAM: every statement must trust only the
 * Spacelift OIDC provider, require `aud` = the account's hostname (no wildcard) and a `sub`
 * pattern that pins every value of `segments` as a whole field with no wildcard inside a
 * field; and the document must fit IAM's trust policy quota.
 */
export function assertTrustPolicy(
  config: VendingConfig,
  document: PolicyDocument,
  segments: readonly string[],
): void {
  // First what real IAM would refuse outright (moto takes it all).
  assertTrustPolicyAccepted(document);
  const host = config.spaceliftHostname;
  const statements = document.Statement;
  if (!Array.isArray(statements) || statements.length === 0) {
    throw new PolicyRenderError("trust policy has no statement");
  }
  for (const [index, statement] of (statements as Record<string, unknown>[]).entries()) {
    if (statement.Effect !== "Allow") continue;
    const principal = statement.Principal as Record<string, unknown> | undefined;
    if (
      principal === undefined ||
      Object.keys(principal).join() !== "Federated" ||
      principal.Federated !== config.oidcProviderArn
    ) {
      throw new PolicyRenderError("trust policy must trust exactly the Spacelift OIDC provider");
    }
    const condition = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
    const aud = condition.StringEquals?.[`${host}:aud`];
    if (typeof aud !== "string" || aud !== host) {
      throw new PolicyRenderError(
        `trust policy statement ${index} has no StringEquals ${host}:aud condition`,
      );
    }
    const sub = condition.StringLike?.[`${host}:sub`] ?? condition.StringEquals?.[`${host}:sub`];
    const patterns = typeof sub === "string" ? [sub] : Array.isArray(sub) ? sub : [];
    if (patterns.length === 0 || patterns.some((pattern) => typeof pattern !== "string")) {
      throw new PolicyRenderError(`trust policy statement ${index} has no ${host}:sub condition`);
    }
    for (const pattern of patterns as string[]) {
      // Only a space role's sts:TagSession statement may take the caller from the stack tag.
      const variable =
        statement.Action === "sts:TagSession" && pattern.includes(STACK_TAG_VARIABLE);
      if (!variable && pattern.includes("$")) {
        throw new PolicyRenderError(
          `sub pattern ${JSON.stringify(pattern)} holds a policy variable`,
        );
      }
      assertSubjectPattern(pattern, variable ? [...segments, STACK_TAG_VARIABLE] : segments);
    }
  }
  const size = policySize(document);
  if (size > TRUST_POLICY_MAX_SIZE) {
    throw new PolicyRenderError(
      `trust policy is ${size} characters, over IAM's quota of ${TRUST_POLICY_MAX_SIZE}`,
    );
  }
}
