/**
 * What real IAM refuses in a role trust policy, checked by us before any trust document is sent
 * (CreateRole, UpdateAssumeRolePolicy, revocation). moto accepts all of these, so without this
 * check a document that works in every test could fail every call in production (the first
 * revocation document did: `"Principal": "*"`).
 *
 * Each refusal has a name, so an error says which rule a document broke.
 */
import { TrustPolicyRejectedError } from "./errors.ts";
import type { PolicyDocument } from "./ports.ts";
import { renderSubjectPattern, type SubjectPlaceholder, templateUses } from "./subject.ts";

/** The only actions a trust policy may name: the STS calls that assume a role or ride along. */
export const STS_ASSUME_ACTIONS: readonly string[] = [
  "sts:AssumeRole",
  "sts:AssumeRoleWithWebIdentity",
  "sts:AssumeRoleWithSAML",
  "sts:TagSession",
  "sts:SetSourceIdentity",
  "sts:SetContext",
];

/**
 * Literal characters a `sub` pattern must hold before its first wildcard. AWS asks that an OIDC
 * role's trust scope `sub` to the workloads meant (IAM User Guide, "Create a role for OpenID
 * Connect federation", id_roles_create_for-idp_oidc.html; for some providers IAM refuses an
 * unscoped `sub` outright); six is the floor this project enforces.
 */
export const MIN_SUB_PREFIX = 6;

export type TrustPolicyRule =
  /** `Version` must be `2012-10-17` (IAM refuses a trust policy without it or with another). */
  | "version"
  /** `Statement` must hold at least one statement. */
  | "empty-statement"
  /** `"Principal": "*"`: IAM answers `invalid principal: "STAR":"*"`. */
  | "bare-star-principal"
  /** `NotPrincipal` is not supported in a role trust policy. */
  | "not-principal"
  /** A statement without a principal. */
  | "missing-principal"
  /** Actions other than the STS assume actions (`sts:*` and `*` included), or `NotAction`. */
  | "action-not-sts-assume"
  /** A wildcard in a `sub` condition with fewer than {@link MIN_SUB_PREFIX} literal characters before it. */
  | "sub-wildcard-prefix";

export interface TrustPolicyViolation {
  readonly rule: TrustPolicyRule;
  readonly detail: string;
}

/** Every rule the document breaks; empty when IAM would take it. */
export function trustPolicyViolations(document: PolicyDocument): TrustPolicyViolation[] {
  const violations: TrustPolicyViolation[] = [];
  const refuse = (rule: TrustPolicyRule, detail: string) => violations.push({ rule, detail });
  if (document.Version !== "2012-10-17") {
    refuse("version", `Version is ${JSON.stringify(document.Version)}, not "2012-10-17"`);
  }
  const raw = document.Statement;
  const statements = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  if (statements.length === 0) refuse("empty-statement", "Statement holds no statement");
  for (const [index, statement] of statements.entries()) {
    if (statement === null || typeof statement !== "object" || Array.isArray(statement)) {
      refuse("empty-statement", `statement ${index} is not an object`);
      continue;
    }
    checkStatement(statement as Record<string, unknown>, index, refuse);
  }
  return violations;
}

/** Throws {@link TrustPolicyRejectedError} naming every rule the document breaks. */
export function assertTrustPolicyAccepted(document: PolicyDocument): void {
  const violations = trustPolicyViolations(document);
  if (violations.length === 0) return;
  const rules = [...new Set(violations.map(({ rule }) => rule))];
  throw new TrustPolicyRejectedError(
    rules,
    `trust policy refused (${rules.join(", ")}): ${violations.map(({ detail }) => detail).join("; ")}`,
  );
}

function checkStatement(
  statement: Record<string, unknown>,
  index: number,
  refuse: (rule: TrustPolicyRule, detail: string) => void,
): void {
  const where = `statement ${index}`;
  if ("NotPrincipal" in statement) {
    refuse("not-principal", `${where} uses NotPrincipal, which a trust policy may not`);
  }
  const principal = statement.Principal;
  if (principal === "*") {
    refuse("bare-star-principal", `${where} has "Principal": "*" (IAM: invalid principal "STAR")`);
  } else if (principal === undefined && !("NotPrincipal" in statement)) {
    refuse("missing-principal", `${where} has no Principal`);
  }
  if ("NotAction" in statement) {
    refuse("action-not-sts-assume", `${where} uses NotAction; name the STS assume actions`);
  }
  const action = statement.Action;
  const actions = typeof action === "string" ? [action] : Array.isArray(action) ? action : [];
  if (actions.length === 0 && !("NotAction" in statement)) {
    refuse("action-not-sts-assume", `${where} names no action`);
  }
  for (const name of actions) {
    if (typeof name !== "string" || !STS_ASSUME_ACTIONS.includes(name)) {
      refuse(
        "action-not-sts-assume",
        `${where} names ${JSON.stringify(name)}, not one of ${STS_ASSUME_ACTIONS.join(", ")}`,
      );
    }
  }
  const condition = statement.Condition;
  if (condition === null || typeof condition !== "object") return;
  for (const [operator, block] of Object.entries(condition as Record<string, unknown>)) {
    // Only the Like operators read `*` and `?` as wildcards; StringEquals takes them literally.
    if (!/^(ForAnyValue:|ForAllValues:)?StringLike(IfExists)?$/.test(operator)) continue;
    if (block === null || typeof block !== "object") continue;
    for (const [key, value] of Object.entries(block as Record<string, unknown>)) {
      if (!key.endsWith(":sub")) continue;
      const patterns = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
      for (const pattern of patterns) {
        if (typeof pattern !== "string") continue;
        const prefix = literalPrefix(pattern);
        if (prefix !== undefined && prefix < MIN_SUB_PREFIX) {
          refuse(
            "sub-wildcard-prefix",
            `${where}: ${key} pattern ${JSON.stringify(pattern)} has ${prefix} literal characters before its first wildcard (at least ${MIN_SUB_PREFIX})`,
          );
        }
      }
    }
  }
}

/**
 * How many literal characters stand before the pattern's first wildcard (`*` or `?`), or
 * undefined when it has none. IAM's `${*}`, `${?}` and `${$}` are literal characters; any other
 * policy variable (`${aws:RequestTag/stack}`) is a value chosen by the caller, not a literal.
 */
function literalPrefix(pattern: string): number | undefined {
  let literal = 0;
  for (let index = 0; index < pattern.length; ) {
    if (pattern.startsWith("${", index)) {
      const end = pattern.indexOf("}", index);
      if (end === -1) return literal;
      const inner = pattern.slice(index + 2, end);
      if (inner === "*" || inner === "?" || inner === "$") literal += 1;
      index = end + 1;
      continue;
    }
    const char = pattern[index];
    if (char === "*" || char === "?") return literal;
    literal += 1;
    index += 1;
  }
  return undefined;
}

/**
 * Refuses a subject template under which some role's `sub` pattern would break the
 * {@link MIN_SUB_PREFIX} rule, so the configuration fails at start rather than every such role
 * failing later. The shortest values are tried: the `root` space (`/root` as a path), a
 * one-character stack, `read` as the scope, for a space role and a stack role with and without
 * the read/write split. Templates that start with `{callerId}` (a space role's pattern would
 * start with a wildcard) or with `{spaceId}` (`root:*`) are refused.
 */
export function assertSubjectTemplateMeetsSubRule(template: string): void {
  const space: Partial<Record<SubjectPlaceholder, string>> = {};
  if (templateUses(template, "spaceId")) space.spaceId = "root";
  if (templateUses(template, "spacePath")) space.spacePath = "/root";
  const stack = { ...space, callerType: "stack", callerId: "a" };
  const patterns = {
    "a space role": renderSubjectPattern(template, space),
    "a stack role": renderSubjectPattern(template, stack),
    ...(templateUses(template, "scope") && {
      "a read role": renderSubjectPattern(template, { ...stack, scope: "read" }),
    }),
  };
  for (const [role, pattern] of Object.entries(patterns)) {
    const prefix = literalPrefix(pattern);
    if (prefix !== undefined && prefix < MIN_SUB_PREFIX) {
      throw new TrustPolicyRejectedError(
        ["sub-wildcard-prefix"],
        `${role} would trust the sub pattern ${JSON.stringify(pattern)}, with ${prefix} literal characters before its first wildcard (at least ${MIN_SUB_PREFIX}: AWS's guidance for OIDC trust); start the template with literal text such as "space:"`,
      );
    }
  }
}
