/**
 * The permissions configuration: which managed policies and inline policies each vended role
 * carries, by space and by stack label, plus the opt-in trust options. Written by the platform
 * team as a JSON or YAML file (read and validated once at start by permissions-file.ts); here,
 * what it grants each role.
 *
 * Labels are an allow-list: a stack label grants something only when this file names it, so
 * whoever can create or label a stack cannot grant themselves anything the platform team did
 * not write down (and, with `spaces`, not outside the spaces the team chose).
 */
import { PolicyRenderError } from "./errors.ts";
import { matchesSpace } from "./glob.ts";
import type { SpaceId } from "./identifiers.ts";
import type { PolicyDocument } from "./ports.ts";

/** IAM quotas on what is attached to one role (defaults; AWS enforces them, moto does not). */
export const ROLE_POLICY_LIMITS = {
  /** Managed policies attached to one role. */
  managedPolicies: 10,
  /** All inline policies of a role together, characters without white space. */
  inlinePolicies: 10240,
} as const;

export interface PolicyGrant {
  readonly managedPolicyArns: readonly string[];
  /** Inline policies by name. */
  readonly inlinePolicies: Readonly<Record<string, PolicyDocument>>;
}

/** What a rule grants: the top level to write (or unsplit) roles, `read` to read roles. */
export interface GrantBlock extends PolicyGrant {
  readonly read: PolicyGrant;
  /** The AWS accounts the rule applies in; undefined: in every account. */
  readonly accounts?: readonly string[];
}

export interface SpaceRule extends GrantBlock {
  /** A space ID, or a glob over space IDs (`*` any run of characters, `?` one). */
  readonly match: string;
}

export interface LabelRule extends GrantBlock {
  /** Space IDs or globs the label is honoured in; undefined: in every space. */
  readonly spaces: readonly string[] | undefined;
}

export interface Permissions {
  /** Where it was loaded from (a path, `PERMISSIONS_CONFIG`, or `DEFAULT_POLICY_ARNS`). */
  readonly source: string;
  readonly default: GrantBlock;
  readonly spaces: readonly SpaceRule[];
  /** The label allow-list, by exact label. */
  readonly labels: Readonly<Record<string, LabelRule>>;
  /** Each stack gets a `-read` role (scope:read) and a `-write` role (scope:write). */
  readonly readWriteSplit: boolean;
  /** Trust policies allow `sts:TagSession` with tags tied to the token's stack and space. */
  readonly sessionTagging: boolean;
  readonly permissionsBoundaryArn: string | undefined;
  /** The AWS accounts roles are routed into by space (besides the service's own account). */
  readonly accounts: readonly TargetAccount[];
  /** Where a resource whose space no account's `spaces` match goes: `service`, or refused. */
  readonly defaultAccount: "service" | "none";
  /** A routed role's ARN is also published in its own account (under the same names). */
  readonly publishInTargetAccount: boolean;
}

/**
 * An AWS account that roles are routed into: a stack (by its space) or a space (by its own ID)
 * whose space matches `spaces` gets its roles there, created through `vendingRoleArn`.
 */
export interface TargetAccount {
  readonly id: string;
  /** The role in that account that the service assumes to vend roles there. */
  readonly vendingRoleArn: string;
  /** Space IDs or globs, as in `spaces` rules. */
  readonly spaces: readonly string[];
  /** Spacelift's OIDC provider in that account; undefined: `arn:<partition>:iam::<id>:oidc-provider/<hostname>`. */
  readonly oidcProviderArn: string | undefined;
  /** The boundary in that account; undefined: the file's top-level one. */
  readonly permissionsBoundaryArn: string | undefined;
  readonly externalId: string | undefined;
}

const EMPTY_GRANT: PolicyGrant = { managedPolicyArns: [], inlinePolicies: {} };

/** Permissions when no file is given: `DEFAULT_POLICY_ARNS` for every role, nothing else. */
export function defaultPermissions(
  defaultPolicyArns: readonly string[],
  permissionsBoundaryArn: string | undefined = undefined,
): Permissions {
  return {
    source: "DEFAULT_POLICY_ARNS",
    default: { managedPolicyArns: [...defaultPolicyArns], inlinePolicies: {}, read: EMPTY_GRANT },
    spaces: [],
    labels: {},
    readWriteSplit: false,
    sessionTagging: false,
    permissionsBoundaryArn,
    accounts: [],
    defaultAccount: "service",
    publishInTargetAccount: true,
  };
}

/** IAM counts policy size in characters without white space. */
export function policySize(document: PolicyDocument): number {
  return JSON.stringify(document).replace(/\s/g, "").length;
}

// ---------------------------------------------------------------------------------------------
// What a role gets

/** Which scope a stack role is trusted for: `any` unless the read/write split is on. */
export type RoleScope = "any" | "read" | "write";

/** The policies one role carries, and the rules they came from (for error messages). */
export interface ResolvedGrant extends PolicyGrant {
  readonly sources: readonly string[];
}

/** The stack's labels that the allow-list names, sorted (what a label can grant from). */
export function allowListedLabels(
  permissions: Permissions,
  labels: readonly string[],
): readonly string[] {
  return [...new Set(labels.filter((label) => Object.hasOwn(permissions.labels, label)))].sort();
}

/** Default + the stack's space rules + its allow-listed labels honoured in that space. */
export function grantsForStack(
  permissions: Permissions,
  stack: { readonly spaceId: SpaceId; readonly labels: readonly string[] },
  scope: RoleScope,
): ResolvedGrant {
  const picks: [string, GrantBlock][] = [["default", permissions.default]];
  for (const rule of permissions.spaces) {
    if (matchesSpace(rule.match, stack.spaceId)) picks.push([`space ${rule.match}`, rule]);
  }
  for (const label of allowListedLabels(permissions, stack.labels)) {
    const rule = permissions.labels[label];
    if (rule === undefined) continue;
    if (
      rule.spaces === undefined ||
      rule.spaces.some((glob) => matchesSpace(glob, stack.spaceId))
    ) {
      picks.push([`label ${label}`, rule]);
    }
  }
  return combine(picks, scope);
}

/** A space role: default + the space's rules (labels select stack policies only). */
export function grantsForSpace(permissions: Permissions, spaceId: SpaceId): ResolvedGrant {
  const picks: [string, GrantBlock][] = [["default", permissions.default]];
  for (const rule of permissions.spaces) {
    if (matchesSpace(rule.match, spaceId)) picks.push([`space ${rule.match}`, rule]);
  }
  return combine(picks, "any");
}

function combine(picks: readonly [string, GrantBlock][], scope: RoleScope): ResolvedGrant {
  const managed = new Set<string>();
  const inline: Record<string, PolicyDocument> = {};
  const sources: string[] = [];
  for (const [source, rule] of picks) {
    const grant: PolicyGrant = scope === "read" ? rule.read : rule;
    if (grant.managedPolicyArns.length === 0 && Object.keys(grant.inlinePolicies).length === 0) {
      continue;
    }
    sources.push(source);
    for (const arn of grant.managedPolicyArns) managed.add(arn);
    Object.assign(inline, grant.inlinePolicies);
  }
  const managedPolicyArns = [...managed].sort();
  const from = sources.length > 0 ? ` (from ${sources.join(", ")})` : "";
  if (managedPolicyArns.length > ROLE_POLICY_LIMITS.managedPolicies) {
    throw new PolicyRenderError(
      `the role would carry ${managedPolicyArns.length} managed policies${from}, over IAM's quota of ${ROLE_POLICY_LIMITS.managedPolicies}`,
    );
  }
  const inlineSize = Object.values(inline).reduce((sum, doc) => sum + policySize(doc), 0);
  if (inlineSize > ROLE_POLICY_LIMITS.inlinePolicies) {
    throw new PolicyRenderError(
      `the role's inline policies would total ${inlineSize} characters${from}, over IAM's quota of ${ROLE_POLICY_LIMITS.inlinePolicies}`,
    );
  }
  return { managedPolicyArns, inlinePolicies: inline, sources };
}

/**
 * Every managed policy ARN the configuration can attach (and the boundary): what the
 * provisioner's own `iam:AttachRolePolicy` permission should be limited to (`iam:PolicyARN`).
 */
export function allowedPolicyArns(permissions: Permissions): readonly string[] {
  const arns = new Set<string>();
  const add = (rule: GrantBlock) => {
    for (const arn of [...rule.managedPolicyArns, ...rule.read.managedPolicyArns]) arns.add(arn);
  };
  add(permissions.default);
  for (const rule of permissions.spaces) add(rule);
  for (const rule of Object.values(permissions.labels)) add(rule);
  return [...arns].sort();
}
