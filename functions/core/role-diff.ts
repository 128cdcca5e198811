/**
 * The difference between a role as it is and as it should be, as a list of IAM changes.
 * Pure, so convergence can be reasoned about and tested without AWS.
 */
import type { ObservedRole, PolicyDocument, RoleSpec, RoleStore, Tags } from "./ports.ts";
import { REVOKED_SESSIONS_POLICY } from "./revocation.ts";
import { isOwnTagKey } from "./role-ownership.ts";

export type RoleChange =
  | { readonly kind: "updateTrustPolicy"; readonly document: PolicyDocument }
  | {
      readonly kind: "updateSettings";
      readonly description: string;
      readonly maxSessionDuration: number;
    }
  | { readonly kind: "putPermissionsBoundary"; readonly arn: string }
  | { readonly kind: "deletePermissionsBoundary" }
  | { readonly kind: "tag"; readonly tags: Tags }
  | { readonly kind: "untag"; readonly keys: readonly string[] }
  | { readonly kind: "attachPolicy"; readonly arn: string }
  | {
      readonly kind: "putInlinePolicy";
      readonly policyName: string;
      readonly document: PolicyDocument;
    }
  | { readonly kind: "detachPolicy"; readonly arn: string }
  | { readonly kind: "deleteInlinePolicy"; readonly policyName: string };

export interface DiffOptions {
  /** Leave attached and inline policies as they are (the event did not say what they should be). */
  readonly keepPolicies?: boolean;
}

/** How a resource's tags differ from the desired ones; both empty when nothing needs writing. */
export interface TagChanges {
  /** Desired tags the resource lacks or holds with another value. */
  readonly set: Tags;
  /** Keys this product owns that the resource carries and the desired tags no longer have, sorted. */
  readonly unset: readonly string[];
}

/**
 * The tag changes that make `observed` carry `desired`: roles and their parameters converge
 * by the same rule. Keys we do not own are never unset.
 */
export function diffTags(observed: Tags, desired: Tags): TagChanges {
  return {
    set: Object.fromEntries(
      Object.entries(desired).filter(([key, value]) => observed[key] !== value),
    ),
    unset: Object.keys(observed)
      .filter((key) => isOwnTagKey(key) && !(key in desired))
      .sort(),
  };
}

/**
 * Changes are ordered so a role is never left wider than either its old or its new shape
 * would be for long: the boundary first (it only narrows, and the provisioner's IAM policy
 * allows every other write only on a role that already carries it), then trust, then grants,
 * then revocations.
 */
export function diffRole(
  observed: ObservedRole,
  desired: RoleSpec,
  options: DiffOptions = {},
): RoleChange[] {
  const changes: RoleChange[] = [];
  if (
    desired.permissionsBoundaryArn !== undefined &&
    observed.permissionsBoundaryArn !== desired.permissionsBoundaryArn
  ) {
    changes.push({ kind: "putPermissionsBoundary", arn: desired.permissionsBoundaryArn });
  }
  if (canonicalJson(observed.trustPolicy) !== canonicalJson(desired.trustPolicy)) {
    changes.push({ kind: "updateTrustPolicy", document: desired.trustPolicy });
  }
  if (
    desired.permissionsBoundaryArn === undefined &&
    observed.permissionsBoundaryArn !== undefined
  ) {
    changes.push({ kind: "deletePermissionsBoundary" });
  }
  if (
    observed.description !== desired.description ||
    observed.maxSessionDuration !== desired.maxSessionDuration
  ) {
    changes.push({
      kind: "updateSettings",
      description: desired.description,
      maxSessionDuration: desired.maxSessionDuration,
    });
  }
  const tags = diffTags(observed.tags, desired.tags);
  if (Object.keys(tags.set).length > 0) changes.push({ kind: "tag", tags: tags.set });
  if (tags.unset.length > 0) changes.push({ kind: "untag", keys: tags.unset });

  if (options.keepPolicies) {
    // Converging a role gives it its trust back, so the policy that ended the sessions of its
    // revocation goes too (last, once the trust is restored), even when the other policies stay.
    if (REVOKED_SESSIONS_POLICY in observed.inlinePolicies) {
      changes.push({ kind: "deleteInlinePolicy", policyName: REVOKED_SESSIONS_POLICY });
    }
    return changes;
  }

  const attached = new Set(observed.managedPolicyArns);
  const wanted = new Set(desired.managedPolicyArns);
  for (const arn of desired.managedPolicyArns) {
    if (!attached.has(arn)) changes.push({ kind: "attachPolicy", arn });
  }
  for (const [policyName, document] of Object.entries(desired.inlinePolicies)) {
    const current = observed.inlinePolicies[policyName];
    if (current === undefined || canonicalJson(current) !== canonicalJson(document)) {
      changes.push({ kind: "putInlinePolicy", policyName, document });
    }
  }
  for (const arn of observed.managedPolicyArns) {
    if (!wanted.has(arn)) changes.push({ kind: "detachPolicy", arn });
  }
  for (const policyName of Object.keys(observed.inlinePolicies)) {
    if (!(policyName in desired.inlinePolicies)) {
      changes.push({ kind: "deleteInlinePolicy", policyName });
    }
  }
  return changes;
}

/** JSON with object keys sorted, so two equal documents compare equal as strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === "object" && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** Makes one change of the diff to the role in IAM. */
export async function applyRoleChange(
  roles: RoleStore,
  name: string,
  change: RoleChange,
): Promise<void> {
  switch (change.kind) {
    case "updateTrustPolicy":
      return roles.updateTrustPolicy(name, change.document);
    case "updateSettings":
      return roles.updateSettings(name, change);
    case "putPermissionsBoundary":
      return roles.putPermissionsBoundary(name, change.arn);
    case "deletePermissionsBoundary":
      return roles.deletePermissionsBoundary(name);
    case "tag":
      return roles.tag(name, change.tags);
    case "untag":
      return roles.untag(name, change.keys);
    case "attachPolicy":
      return roles.attachPolicy(name, change.arn);
    case "putInlinePolicy":
      return roles.putInlinePolicy(name, change.policyName, change.document);
    case "detachPolicy":
      return roles.detachPolicy(name, change.arn);
    case "deleteInlinePolicy":
      return roles.deleteInlinePolicy(name, change.policyName);
  }
}

/** The change as the outcome reports it. */
export function describeRoleChange(change: RoleChange): string {
  switch (change.kind) {
    case "attachPolicy":
    case "detachPolicy":
    case "putPermissionsBoundary":
      return `${change.kind} ${change.arn}`;
    case "putInlinePolicy":
    case "deleteInlinePolicy":
      return `${change.kind} ${change.policyName}`;
    default:
      return change.kind;
  }
}
