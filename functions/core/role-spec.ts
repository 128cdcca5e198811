/**
 * What the vended IAM roles and SSM parameters look like: names, trust policies, tags.
 * Plain functions over plain data, so they can be checked without AWS.
 */
import { createHash } from "node:crypto";
import { PolicyRenderError } from "./errors.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import type { PolicyDocument, RoleSpec, Tags } from "./ports.ts";

export const MANAGED_BY_TAG = "managed-by";
export const MANAGED_BY_VALUE = "spacelift-role-vending";
export const ACCOUNT_TAG = "spacelift:account";
export const STACK_TAG = "spacelift:stack";
export const SPACE_TAG = "spacelift:space";

/** Spacelift's default OIDC `sub` claim template. */
export const DEFAULT_SUBJECT_TEMPLATE =
  "space:{spaceId}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}";

/** IAM quotas that moto does not enforce but AWS does. */
export const IAM_LIMITS = {
  roleName: 64,
  /** Default quota for a role trust policy, in characters without white space. */
  trustPolicy: 2048,
  /** All inline policies of a role together, characters without white space. */
  inlinePolicies: 10240,
  /** Managed policies attached to one role (default quota). */
  attachedPolicies: 10,
} as const;

export interface VendingConfig {
  /** e.g. `acme.app.spacelift.io`. */
  readonly spaceliftHostname: string;
  /** The Spacelift account: the hostname's first label. */
  readonly spaceliftAccount: string;
  readonly awsAccountId: string;
  readonly oidcProviderArn: string;
  readonly rolePath: string;
  readonly roleNamePrefix: string;
  readonly parameterPrefix: string;
  readonly permissionsBoundaryArn: string | undefined;
  readonly defaultPolicyArns: readonly string[];
  readonly maxSessionDuration: number;
  readonly defaultSpaceId: SpaceId;
  readonly subjectTemplate: string;
}

export interface StackState {
  readonly stackId: StackId;
  readonly spaceId: SpaceId;
  readonly labels: readonly string[];
}

export interface SpaceState {
  readonly spaceId: SpaceId;
}

/** One role the product keeps, and the parameter where its ARN is published. */
export interface RoleBinding {
  readonly role: RoleSpec;
  readonly parameterName: string;
}

/**
 * Role names longer than IAM's 64 characters are cut and end in `-` plus 8 hex characters of
 * the SHA-256 of the full name, so two long names never collide.
 */
export function fitRoleName(fullName: string): string {
  if (fullName.length <= IAM_LIMITS.roleName) return fullName;
  const digest = createHash("sha256").update(fullName).digest("hex").slice(0, 8);
  return `${fullName.slice(0, IAM_LIMITS.roleName - 9)}-${digest}`;
}

export function stackRoleName(config: VendingConfig, stackId: StackId): string {
  return fitRoleName(`${config.roleNamePrefix}stack-${stackId}`);
}

export function spaceRoleName(config: VendingConfig, spaceId: SpaceId): string {
  return fitRoleName(`${config.roleNamePrefix}space-${spaceId}`);
}

export function stackParameterName(config: VendingConfig, stackId: StackId): string {
  return `${config.parameterPrefix}/${config.spaceliftAccount}/stacks/${stackId}/role-arn`;
}

export function spaceParameterName(config: VendingConfig, spaceId: SpaceId): string {
  return `${config.parameterPrefix}/${config.spaceliftAccount}/spaces/${spaceId}/role-arn`;
}

/**
 * Renders the `sub` pattern of a role from the account's subject template: the placeholders in
 * `fixed` get their value, every other placeholder becomes `*`. A fixed value must be bounded
 * by literal text (or the start/end), so no wildcard can reach into its segment.
 */
export function renderSubjectPattern(
  template: string,
  fixed: Readonly<Partial<Record<SubjectPlaceholder, string>>>,
): string {
  const parts = template.split(/(\{[a-zA-Z]+\})/).filter((part) => part !== "");
  const isFixed: boolean[] = [];
  const rendered = parts.map((part) => {
    const placeholder = /^\{([a-zA-Z]+)\}$/.exec(part)?.[1];
    if (placeholder === undefined) {
      if (/[*?]/.test(part)) throw new PolicyRenderError("subject template contains a wildcard");
      isFixed.push(false);
      return part;
    }
    if (!isPlaceholder(placeholder)) {
      throw new PolicyRenderError(`subject template has an unknown placeholder {${placeholder}}`);
    }
    const value = fixed[placeholder];
    isFixed.push(value !== undefined);
    if (value === undefined) return "*";
    if (value === "" || /[*?]/.test(value)) {
      throw new PolicyRenderError(`a wildcard may not stand inside the {${placeholder}} segment`);
    }
    return value;
  });
  const lastFixed = isFixed.lastIndexOf(true);
  if (lastFixed < 0) throw new PolicyRenderError("subject pattern fixes no placeholder");
  for (const [index, fixedHere] of isFixed.entries()) {
    if (fixedHere && (rendered[index - 1] === "*" || rendered[index + 1] === "*")) {
      throw new PolicyRenderError(
        "a fixed placeholder must be separated from a varying one by literal text",
      );
    }
  }
  // When only wildcards separated by bare one-character delimiters follow the last fixed
  // value's delimiter, one `*` says the same and keeps the pattern short: a space role gets
  // `space:<id>:*` rather than `space:<id>:*:*:run_type:*:scope:*`.
  const delimiter = rendered[lastFixed + 1];
  if (delimiter !== undefined && delimiter.length === 1 && rendered[lastFixed + 2] === "*") {
    return `${rendered.slice(0, lastFixed + 2).join("")}*`;
  }
  return rendered.join("");
}

export const SUBJECT_PLACEHOLDERS = [
  "spaceId",
  "spacePath",
  "callerType",
  "callerId",
  "runType",
  "scope",
  "runId",
] as const;
export type SubjectPlaceholder = (typeof SUBJECT_PLACEHOLDERS)[number];

function isPlaceholder(name: string): name is SubjectPlaceholder {
  return (SUBJECT_PLACEHOLDERS as readonly string[]).includes(name);
}

export function renderTrustPolicy(config: VendingConfig, subPattern: string): PolicyDocument {
  const host = config.spaceliftHostname;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: config.oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: { [`${host}:aud`]: host },
          StringLike: { [`${host}:sub`]: subPattern },
        },
      },
    ],
  };
}

function baseTags(config: VendingConfig): Record<string, string> {
  return { [MANAGED_BY_TAG]: MANAGED_BY_VALUE, [ACCOUNT_TAG]: config.spaceliftAccount };
}

export function stackBinding(config: VendingConfig, stack: StackState): RoleBinding {
  const sub = renderSubjectPattern(config.subjectTemplate, {
    spaceId: stack.spaceId,
    callerType: "stack",
    callerId: stack.stackId,
  });
  const tags: Tags = {
    ...baseTags(config),
    [STACK_TAG]: stack.stackId,
    [SPACE_TAG]: stack.spaceId,
  };
  return {
    role: roleSpec(config, {
      name: stackRoleName(config, stack.stackId),
      description: `Spacelift stack ${stack.stackId} in space ${stack.spaceId} (spacelift-role-vending)`,
      sub,
      tags,
    }),
    parameterName: stackParameterName(config, stack.stackId),
  };
}

export function spaceBinding(config: VendingConfig, space: SpaceState): RoleBinding {
  const sub = renderSubjectPattern(config.subjectTemplate, { spaceId: space.spaceId });
  return {
    role: roleSpec(config, {
      name: spaceRoleName(config, space.spaceId),
      description: `Spacelift space ${space.spaceId} (spacelift-role-vending)`,
      sub,
      tags: { ...baseTags(config), [SPACE_TAG]: space.spaceId },
    }),
    parameterName: spaceParameterName(config, space.spaceId),
  };
}

function roleSpec(
  config: VendingConfig,
  role: { name: string; description: string; sub: string; tags: Tags },
): RoleSpec {
  const trustPolicy = renderTrustPolicy(config, role.sub);
  assertWithinQuota("trust policy", trustPolicy, IAM_LIMITS.trustPolicy);
  return {
    name: role.name,
    path: config.rolePath,
    description: role.description,
    maxSessionDuration: config.maxSessionDuration,
    trustPolicy,
    permissionsBoundaryArn: config.permissionsBoundaryArn,
    managedPolicyArns: [...config.defaultPolicyArns].sort(),
    inlinePolicies: {},
    tags: role.tags,
  };
}

/** IAM counts policy size in characters without white space. */
export function policySize(document: PolicyDocument): number {
  return JSON.stringify(document).replace(/\s/g, "").length;
}

function assertWithinQuota(what: string, document: PolicyDocument, limit: number): void {
  const size = policySize(document);
  if (size > limit) {
    throw new PolicyRenderError(`${what} is ${size} characters, over IAM's quota of ${limit}`);
  }
}

/** True when a role's tags say this product (for this Spacelift account) created it. */
export function isManagedByUs(config: VendingConfig, tags: Tags, path: string): boolean {
  return (
    tags[MANAGED_BY_TAG] === MANAGED_BY_VALUE &&
    tags[ACCOUNT_TAG] === config.spaceliftAccount &&
    path === config.rolePath
  );
}
