/**
 * What a vended IAM role looks like: its name, trust policy, policies, boundary and tags, and
 * the parameter that publishes its ARN, built from the stack's or space's state and the
 * configuration. Plain functions over plain data, so they can be checked without AWS.
 *
 * Every spec goes through {@link assertRoleSpec} before it leaves this module: its trust policy
 * passes {@link assertTrustPolicy}, a configured permissions boundary is always on the role, and
 * its name and policies fit IAM's quotas.
 */
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
  isValidRoleName,
  spaceParameterName,
  spaceRoleName,
  stackParameterName,
  stackRoleName,
} from "./role-names.ts";
import {
  LABELS_TAG,
  labelsTagValue,
  ownershipTags,
  SCOPE_TAG,
  SPACE_TAG,
  STACK_TAG,
} from "./role-ownership.ts";
import {
  renderSubjectPattern,
  STACK_TAG_VARIABLE,
  type SubjectPlaceholder,
  templateUses,
} from "./subject.ts";
import { assertTrustPolicy, renderTrustPolicy, type TagSessionRule } from "./trust-policy.ts";

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

/** The scopes a stack's roles have under the configuration. */
export function stackScopes(config: VendingConfig): readonly RoleScope[] {
  return stackShape(config) === "split" ? ["write", "read"] : ["any"];
}

/** The shape of a stack's roles under the configuration. */
export function stackShape(config: VendingConfig): StackShape {
  return permissionsOf(config).readWriteSplit ? "split" : "unsplit";
}

/**
 * Refuses a spec whose trust policy is unsafe ({@link assertTrustPolicy}), that lacks the
 * configured boundary, or whose name or policies IAM would refuse.
 */
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
  if (!isValidRoleName(spec.name)) {
    throw new PolicyRenderError(`role name ${spec.name} is not a valid IAM role name`);
  }
  if (spec.managedPolicyArns.length > ROLE_POLICY_LIMITS.managedPolicies) {
    throw new PolicyRenderError(
      `role ${spec.name} would carry ${spec.managedPolicyArns.length} managed policies, over IAM's quota of ${ROLE_POLICY_LIMITS.managedPolicies}`,
    );
  }
  if (REVOKED_SESSIONS_POLICY in spec.inlinePolicies) {
    throw new PolicyRenderError(
      `inline policy name ${REVOKED_SESSIONS_POLICY} is reserved for revoking an orphaned role's sessions`,
    );
  }
  const inline = Object.values(spec.inlinePolicies).reduce((sum, doc) => sum + policySize(doc), 0);
  if (inline > ROLE_POLICY_LIMITS.inlinePolicies) {
    throw new PolicyRenderError(
      `role ${spec.name}'s inline policies total ${inline} characters, over IAM's quota of ${ROLE_POLICY_LIMITS.inlinePolicies}`,
    );
  }
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
      ...ownershipTags(config),
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
    tags: { ...ownershipTags(config), [SPACE_TAG]: space.spaceId },
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
