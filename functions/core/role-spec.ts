/**
 * What the vended IAM roles and SSM parameters look like: names, trust policies, policies,
 * boundary, tags. Plain functions over plain data, so they can be checked without AWS.
 *
 * Every spec goes through {@link assertRoleSpec} before it leaves this module: a trust policy
 * always pins `aud` and `sub`, never wildcards inside a space or stack segment, fits IAM's size
 * quota, and a configured permissions boundary is always on the role.
 */
import { createHash } from "node:crypto";
import { boundaryOf, type VendingConfig } from "./config.ts";
import { PolicyRenderError, SpacePathUnknownError } from "./errors.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import {
  allowListedLabels,
  defaultPermissions,
  grantsForSpace,
  grantsForStack,
  type Permissions,
  policySize,
  ROLE_POLICY_LIMITS,
  type RoleScope,
} from "./permissions.ts";
import type { PolicyDocument, RoleSpec, StackShape, Tags } from "./ports.ts";
import { REVOKED_SESSIONS_POLICY } from "./revocation.ts";
import {
  assertSubjectPattern,
  renderSubjectPattern,
  STACK_TAG_VARIABLE,
  type SubjectPlaceholder,
  templateUses,
} from "./subject.ts";
import { assertTrustPolicyAccepted } from "./trust-policy-rules.ts";

export { policySize, type RoleScope };

export const MANAGED_BY_TAG = "managed-by";
export const MANAGED_BY_VALUE = "spacelift-role-vending";
export const ACCOUNT_TAG = "spacelift:account";
export const STACK_TAG = "spacelift:stack";
export const SPACE_TAG = "spacelift:space";
/** The stack's allow-listed labels (space-separated), so a later event without labels can converge. */
export const LABELS_TAG = "spacelift:labels";
/** `read` or `write` on the roles of a stack with the read/write split. */
export const SCOPE_TAG = "spacelift:scope";

/** Session tags a role's trust policy admits when session tagging is on. */
export const SESSION_TAG_KEYS = ["stack", "space"] as const;

/** IAM quotas that moto does not enforce but AWS does. */
export const IAM_LIMITS = {
  roleName: 64,
  /** Default quota for a role trust policy, in characters without white space. */
  trustPolicy: 2048,
  /** All inline policies of a role together, characters without white space. */
  inlinePolicies: ROLE_POLICY_LIMITS.inlinePolicies,
  /** Managed policies attached to one role (default quota). */
  attachedPolicies: ROLE_POLICY_LIMITS.managedPolicies,
} as const;

export interface StackState {
  readonly stackId: StackId;
  readonly spaceId: SpaceId;
  /** The stack's labels; undefined when unknown (no label grants, no labels tag). */
  readonly labels: readonly string[] | undefined;
  /** The space's full path; needed only when the subject template uses `{spacePath}`. */
  readonly spacePath?: string | undefined;
}

export interface SpaceState {
  readonly spaceId: SpaceId;
  readonly spacePath?: string | undefined;
}

/** One role the product keeps, and the parameter where its ARN is published. */
export interface RoleBinding {
  readonly role: RoleSpec;
  readonly parameterName: string;
  readonly scope: RoleScope;
}

export function permissionsOf(config: VendingConfig): Permissions {
  return (
    config.permissions ??
    defaultPermissions(config.defaultPolicyArns, config.permissionsBoundaryArn)
  );
}

/**
 * Role names are `<prefix>stack-<stackId>` / `<prefix>space-<spaceId>`; a split stack's roles
 * add `.read` / `.write`. A name longer than IAM's 64 characters is cut and carries `.` plus 16
 * hex characters of the SHA-256 of the whole name, before that suffix.
 *
 * `.` separates: stack and space IDs never hold one (identifiers.ts), so no resource's name can
 * end like another's suffix or hash, and a cut name (its hash part is all hex, after a `.`)
 * never equals an uncut one (whose part after the last `.` of the prefix holds `stack-` or
 * `space-`, which are not hex). Two cut names are equal only if 64 bits of SHA-256 of two
 * different whole names are. IAM compares role names case-insensitively; valid IDs differ in
 * more than case (stack IDs are lower case; a space ID's letters are lower case in its slug and
 * upper case in its ULID). Names of the scheme before (`-read`, `-write`, `-<8 hex>`) are
 * {@link legacyStackRoleNames}: found, by name plus tags, only to be replaced.
 */
export const ROLE_NAME_SEPARATOR = ".";

/**
 * The naming scheme of {@link stackRoleName}; what the ledger vouches for a stack's roles holds
 * only for names of this scheme (roles may still carry the names of the one before).
 */
export const ROLE_NAMING = 2;

const HASH_LENGTH = 16;

/** `<base><suffix>`, or cut to IAM's 64 characters with a hash of the whole name kept visible. */
export function fitRoleName(base: string, suffix = ""): string {
  const whole = `${base}${suffix}`;
  if (whole.length <= IAM_LIMITS.roleName) return whole;
  const digest = createHash("sha256").update(whole).digest("hex").slice(0, HASH_LENGTH);
  const tail = `${ROLE_NAME_SEPARATOR}${digest}${suffix}`;
  return `${base.slice(0, IAM_LIMITS.roleName - tail.length)}${tail}`;
}

function scopeSuffix(scope: RoleScope): string {
  return scope === "any" ? "" : `${ROLE_NAME_SEPARATOR}${scope}`;
}

/** The stack's role for a scope: `any` (no split), or the split's `read`/`write` role. */
export function stackRoleName(
  config: VendingConfig,
  stackId: StackId,
  scope: RoleScope = "any",
): string {
  return fitRoleName(`${config.roleNamePrefix}stack-${stackId}`, scopeSuffix(scope));
}

/** Every role name a stack can have, whatever the configuration (for removal and cleanup). */
export function stackRoleNames(config: VendingConfig, stackId: StackId): readonly string[] {
  return (["any", "write", "read"] as const).map((scope) => stackRoleName(config, stackId, scope));
}

/**
 * Every name a stack's role may have: this scheme's in every shape, then the previous scheme's
 * (the same as this scheme's for an unsplit stack whose name needs no cut).
 */
export function everyStackRoleName(config: VendingConfig, stackId: StackId): readonly string[] {
  return [
    ...new Set([...stackRoleNames(config, stackId), ...legacyStackRoleNames(config, stackId)]),
  ];
}

/**
 * The names the previous scheme gave a stack's roles (`-read`/`-write`, a cut name ending in
 * `-<8 hex>`): each may now be another stack's name (stack `foo`'s `…-foo-read` is stack
 * `foo-read`'s), so a role found there is the stack's only if its tags say so.
 */
export function legacyStackRoleNames(config: VendingConfig, stackId: StackId): readonly string[] {
  return ["", "-write", "-read"].map((suffix) =>
    legacyFitRoleName(`${config.roleNamePrefix}stack-${stackId}`, suffix),
  );
}

/** The previous scheme's name of a space's role. */
export function legacySpaceRoleName(config: VendingConfig, spaceId: SpaceId): string {
  return legacyFitRoleName(`${config.roleNamePrefix}space-${spaceId}`, "");
}

function legacyFitRoleName(base: string, suffix: string): string {
  const whole = `${base}${suffix}`;
  if (whole.length <= IAM_LIMITS.roleName) return whole;
  const digest = createHash("sha256").update(whole).digest("hex").slice(0, 8);
  return `${base.slice(0, IAM_LIMITS.roleName - 9 - suffix.length)}-${digest}${suffix}`;
}

/** The scopes a stack's roles have under the configuration. */
export function stackScopes(config: VendingConfig): readonly RoleScope[] {
  return stackShape(config) === "split" ? ["write", "read"] : ["any"];
}

/** The shape of a stack's roles under the configuration. */
export function stackShape(config: VendingConfig): StackShape {
  return permissionsOf(config).readWriteSplit ? "split" : "unsplit";
}

export function spaceRoleName(config: VendingConfig, spaceId: SpaceId): string {
  return fitRoleName(`${config.roleNamePrefix}space-${spaceId}`);
}

/** What a parameter's name is made of (all a caller outside the service, such as `npm run send`, needs). */
export type ParameterNaming = Pick<VendingConfig, "parameterPrefix" | "spaceliftAccount">;

/** `…/role-arn` holds the unsplit or write role; `…/read-role-arn` the read role. */
export function stackParameterName(
  config: ParameterNaming,
  stackId: StackId,
  scope: RoleScope = "any",
): string {
  const leaf = scope === "read" ? "read-role-arn" : "role-arn";
  return `${config.parameterPrefix}/${config.spaceliftAccount}/stacks/${stackId}/${leaf}`;
}

export function spaceParameterName(config: ParameterNaming, spaceId: SpaceId): string {
  return `${config.parameterPrefix}/${config.spaceliftAccount}/spaces/${spaceId}/role-arn`;
}

/** The `sts:TagSession` rule of a trust policy: its own `sub` pattern and required tags. */
interface TagSessionRule {
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
  assertWithinQuota("trust policy", document, IAM_LIMITS.trustPolicy);
}

/** Refuses a spec that breaks the rules above or lacks the configured boundary. */
export function assertRoleSpec(
  config: VendingConfig,
  spec: RoleSpec,
  segments: readonly string[],
): void {
  assertTrustPolicy(config, spec.trustPolicy, segments);
  const boundary = boundaryOf(config);
  if (boundary !== undefined && spec.permissionsBoundaryArn !== boundary) {
    throw new PolicyRenderError(
      `role ${spec.name} must carry the configured permissions boundary ${boundary}`,
    );
  }
  if (spec.name.length > IAM_LIMITS.roleName || !/^[\w+=,.@-]+$/.test(spec.name)) {
    throw new PolicyRenderError(`role name ${spec.name} is not a valid IAM role name`);
  }
  if (spec.managedPolicyArns.length > IAM_LIMITS.attachedPolicies) {
    throw new PolicyRenderError(
      `role ${spec.name} would carry ${spec.managedPolicyArns.length} managed policies, over IAM's quota of ${IAM_LIMITS.attachedPolicies}`,
    );
  }
  if (REVOKED_SESSIONS_POLICY in spec.inlinePolicies) {
    throw new PolicyRenderError(
      `inline policy name ${REVOKED_SESSIONS_POLICY} is reserved for revoking an orphaned role's sessions`,
    );
  }
  const inline = Object.values(spec.inlinePolicies).reduce((sum, doc) => sum + policySize(doc), 0);
  if (inline > IAM_LIMITS.inlinePolicies) {
    throw new PolicyRenderError(
      `role ${spec.name}'s inline policies total ${inline} characters, over IAM's quota of ${IAM_LIMITS.inlinePolicies}`,
    );
  }
}

function baseTags(config: VendingConfig): Record<string, string> {
  return { [MANAGED_BY_TAG]: MANAGED_BY_VALUE, [ACCOUNT_TAG]: config.spaceliftAccount };
}

/** The space placeholders the template uses, with their values. */
function spaceValues(
  config: VendingConfig,
  space: { spaceId: SpaceId; spacePath?: string | undefined },
): Partial<Record<SubjectPlaceholder, string>> {
  const values: Partial<Record<SubjectPlaceholder, string>> = {};
  if (templateUses(config.subjectTemplate, "spaceId")) values.spaceId = space.spaceId;
  if (templateUses(config.subjectTemplate, "spacePath")) {
    if (space.spacePath === undefined) {
      throw new SpacePathUnknownError(
        `the subject template uses {spacePath} but the path of space ${space.spaceId} is unknown; the role is not written rather than trusting a wider pattern`,
      );
    }
    values.spacePath = space.spacePath;
  }
  return values;
}

/** The stack's roles: one (`any`), or `write` and `read` with the read/write split. */
export function stackBindings(config: VendingConfig, stack: StackState): RoleBinding[] {
  const permissions = permissionsOf(config);
  const space = spaceValues(config, stack);
  const labels =
    stack.labels === undefined ? undefined : allowListedLabels(permissions, stack.labels);
  return stackScopes(config).map((scope) => {
    const fixed: Partial<Record<SubjectPlaceholder, string>> = {
      ...space,
      callerType: "stack",
      callerId: stack.stackId,
      ...(scope === "any" ? {} : { scope }),
    };
    const sub = renderSubjectPattern(config.subjectTemplate, fixed);
    const tags: Tags = {
      ...baseTags(config),
      [STACK_TAG]: stack.stackId,
      [SPACE_TAG]: stack.spaceId,
      ...(labels === undefined ? {} : { [LABELS_TAG]: labelsTagValue(labels) }),
      ...(scope === "any" ? {} : { [SCOPE_TAG]: scope }),
    };
    const grant = grantsForStack(
      permissions,
      { spaceId: stack.spaceId, labels: stack.labels ?? [] },
      scope,
    );
    const role = roleSpec(config, {
      name: stackRoleName(config, stack.stackId, scope),
      description: `Spacelift stack ${stack.stackId} in space ${stack.spaceId}${scope === "any" ? "" : ` (scope:${scope} runs)`} (spacelift-role-vending)`,
      sub,
      tagSession: permissions.sessionTagging
        ? { sub, requestTags: { stack: stack.stackId, space: stack.spaceId }, guardStackTag: false }
        : undefined,
      segments: Object.values(fixed),
      managedPolicyArns: grant.managedPolicyArns,
      inlinePolicies: grant.inlinePolicies,
      tags,
    });
    return { role, parameterName: stackParameterName(config, stack.stackId, scope), scope };
  });
}

/** Kept for callers of the single-role shape: the stack's unsplit or write role. */
export function stackBinding(config: VendingConfig, stack: StackState): RoleBinding {
  const [first] = stackBindings(config, stack);
  if (first === undefined) throw new PolicyRenderError("no role for the stack");
  return first;
}

/**
 * A space's role: trusted by every run whose token names this space (`space:<id>:*` with the
 * default template), and by nothing outside it.
 */
export function spaceBinding(config: VendingConfig, space: SpaceState): RoleBinding {
  const permissions = permissionsOf(config);
  const values = spaceValues(config, space);
  const sub = renderSubjectPattern(config.subjectTemplate, values);
  // The session-tagging statement pins the caller to the `stack` request tag.
  const fixed = { ...values, callerType: "stack" };
  const grant = grantsForSpace(permissions, space.spaceId);
  const role = roleSpec(config, {
    name: spaceRoleName(config, space.spaceId),
    description: `Spacelift space ${space.spaceId} (spacelift-role-vending)`,
    sub,
    tagSession: permissions.sessionTagging
      ? {
          sub: renderSubjectPattern(config.subjectTemplate, {
            ...fixed,
            callerId: STACK_TAG_VARIABLE,
          }),
          requestTags: { space: space.spaceId },
          guardStackTag: true,
        }
      : undefined,
    segments: Object.values(values),
    managedPolicyArns: grant.managedPolicyArns,
    inlinePolicies: grant.inlinePolicies,
    tags: { ...baseTags(config), [SPACE_TAG]: space.spaceId },
  });
  return { role, parameterName: spaceParameterName(config, space.spaceId), scope: "any" };
}

function roleSpec(
  config: VendingConfig,
  role: {
    name: string;
    description: string;
    sub: string;
    tagSession: TagSessionRule | undefined;
    segments: readonly string[];
    managedPolicyArns: readonly string[];
    inlinePolicies: Readonly<Record<string, PolicyDocument>>;
    tags: Tags;
  },
): RoleSpec {
  const spec: RoleSpec = {
    name: role.name,
    path: config.rolePath,
    description: role.description,
    maxSessionDuration: config.maxSessionDuration,
    trustPolicy: renderTrustPolicy(config, role.sub, role.tagSession),
    permissionsBoundaryArn: boundaryOf(config),
    managedPolicyArns: [...role.managedPolicyArns].sort(),
    inlinePolicies: role.inlinePolicies,
    tags: role.tags,
  };
  assertRoleSpec(config, spec, role.segments);
  return spec;
}

/** IAM tag values hold at most 256 characters. */
function labelsTagValue(labels: readonly string[]): string {
  const value = labels.join(" ");
  if (value.length > 256) {
    throw new PolicyRenderError(
      `the stack's allow-listed labels (${value.length} characters) do not fit the ${LABELS_TAG} tag (256)`,
    );
  }
  return value;
}

/** The allow-listed labels recorded on a role, or undefined when the role predates the tag. */
export function labelsFromTags(tags: Tags): readonly string[] | undefined {
  const value = tags[LABELS_TAG];
  if (value === undefined) return undefined;
  return value.split(" ").filter((label) => label !== "");
}

function assertWithinQuota(what: string, document: PolicyDocument, limit: number): void {
  const size = policySize(document);
  if (size > limit) {
    throw new PolicyRenderError(`${what} is ${size} characters, over IAM's quota of ${limit}`);
  }
}

/**
 * The Spacelift account a resource of ours must name in its account tag: `any` (not checked),
 * or an account, with what to make of a resource that carries no account tag.
 */
export type AccountExpectation =
  | "any"
  | { readonly account: string; readonly withoutAccountTag: "ours" | "not-ours" };

/**
 * The one "is this ours?" rule on a resource's tags: this product's managed-by tag, and the
 * expected Spacelift account. Roles ({@link isManagedByUs}) and parameters both go through it.
 */
export function carriesOurTags(tags: Tags, expected: AccountExpectation): boolean {
  if (tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE) return false;
  if (expected === "any") return true;
  const account = tags[ACCOUNT_TAG];
  return account === undefined
    ? expected.withoutAccountTag === "ours"
    : account === expected.account;
}

/** True when a role's tags and path say this product (for this Spacelift account) created it. */
export function isManagedByUs(config: VendingConfig, tags: Tags, path: string): boolean {
  return (
    carriesOurTags(tags, { account: config.spaceliftAccount, withoutAccountTag: "not-ours" }) &&
    path === config.rolePath
  );
}

/** The Spacelift resource a role belongs to. */
export type RoleOwner =
  | { readonly kind: "stack"; readonly id: StackId }
  | { readonly kind: "space"; readonly id: SpaceId };

/**
 * True when the role is ours (see {@link isManagedByUs}) and its tags name `owner`: a stack's
 * role carries `spacelift:stack` = the stack; a space's role `spacelift:space` = the space and
 * no `spacelift:stack` (a stack's role carries its space's tag too). A role's name alone never
 * says whose it is: a name may be another resource's under another naming scheme.
 */
export function isRoleOf(
  config: VendingConfig,
  role: { readonly tags: Tags; readonly path: string },
  owner: RoleOwner,
): boolean {
  if (!isManagedByUs(config, role.tags, role.path)) return false;
  return owner.kind === "stack"
    ? role.tags[STACK_TAG] === owner.id
    : role.tags[SPACE_TAG] === owner.id && role.tags[STACK_TAG] === undefined;
}

/** Who holds a role that is not `owner`'s, for the refusal's message. */
export function describeHolder(
  config: VendingConfig,
  role: { readonly name: string; readonly tags: Tags; readonly path: string },
  owner: RoleOwner,
): string {
  const holder = !isManagedByUs(config, role.tags, role.path)
    ? "exists but was not created by spacelift-role-vending"
    : role.tags[STACK_TAG] !== undefined
      ? `belongs to stack ${role.tags[STACK_TAG]}`
      : role.tags[SPACE_TAG] !== undefined
        ? `belongs to space ${role.tags[SPACE_TAG]}`
        : "is ours but names no stack or space";
  return `role ${role.name} ${holder}, not to ${owner.kind} ${owner.id}; leaving it untouched`;
}
