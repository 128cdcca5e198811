/**
 * The tags this product puts on its roles and parameters, and the one rule that reads them:
 * whether a resource is ours (for this Spacelift account), and whose (which stack or space) a
 * role of ours is. A role's name alone never says either.
 */
import type { VendingConfig } from "./config.ts";
import { PolicyRenderError } from "./errors.ts";
import { isSpaceId, isStackId, type SpaceId, type StackId } from "./identifiers.ts";
import type { Tags } from "./ports.ts";

export const MANAGED_BY_TAG = "managed-by";
export const MANAGED_BY_VALUE = "spacelift-role-vending";
export const ACCOUNT_TAG = "spacelift:account";
export const STACK_TAG = "spacelift:stack";
export const SPACE_TAG = "spacelift:space";
/** The stack's allow-listed labels (space-separated), so a later event without labels can converge. */
export const LABELS_TAG = "spacelift:labels";
/** `read` or `write` on the roles of a stack with the read/write split. */
export const SCOPE_TAG = "spacelift:scope";

/** The tags that mark a role or parameter as this product's, for the configured account. */
export function ownershipTags(config: VendingConfig): Record<string, string> {
  return { [MANAGED_BY_TAG]: MANAGED_BY_VALUE, [ACCOUNT_TAG]: config.spaceliftAccount };
}

/**
 * Tag keys this product owns on a role or its parameter; other tags (added by people) are left
 * alone.
 */
export function isOwnTagKey(key: string): boolean {
  return key === MANAGED_BY_TAG || key.startsWith("spacelift:");
}

/** The {@link LABELS_TAG} value for a stack's allow-listed labels; IAM tag values hold at most 256 characters. */
export function labelsTagValue(labels: readonly string[]): string {
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

/**
 * The Spacelift account a resource of ours must name in its account tag: `any` (not checked),
 * or an account, with what to make of a resource that carries no account tag.
 */
export type AccountExpectation =
  | "any"
  | { readonly account: string; readonly withoutAccountTag: "ours" | "not-ours" };

/**
 * The one "is this ours?" rule on a resource's tags: this product's managed-by tag, and the
 * expected Spacelift account. Roles ({@link isManagedByUs}) and parameters
 * ({@link isOurParameter}) both go through it.
 */
export function carriesOurTags(tags: Tags, expected: AccountExpectation): boolean {
  if (tags[MANAGED_BY_TAG] !== MANAGED_BY_VALUE) return false;
  if (expected === "any") return true;
  const account = tags[ACCOUNT_TAG];
  return account === undefined
    ? expected.withoutAccountTag === "ours"
    : account === expected.account;
}

/**
 * True when a parameter's tags say this product created it. A removal passes no account (any
 * of ours); a publish, the account it writes for: an account tag, if any, must name it.
 */
export function isOurParameter(tags: Tags, account: string | undefined): boolean {
  return carriesOurTags(
    tags,
    account === undefined ? "any" : { account, withoutAccountTag: "ours" },
  );
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

/** What a role's tags name, as written: not yet checked to be a valid ID. */
type NamedOwner = { readonly kind: RoleOwner["kind"]; readonly id: string };

/**
 * The resource a role's tags name, as written: a stack's role carries `spacelift:stack` (and
 * its space's tag too), a space's role only `spacelift:space`; undefined when they name
 * neither, or when a key reads `spacelift:stack` only in another case or with white space
 * around it.
 */
function namedInTags(tags: Tags): NamedOwner | undefined {
  const stack = tags[STACK_TAG];
  if (stack !== undefined) return { kind: "stack", id: stack };
  // A stack tag spelt otherwise is still a stack's role, never its space's: IAM role tag keys are
  // not case sensitive, so tagging Spacelift:Stack replaces our spacelift:stack (IAM User Guide,
  // "Tagging IAM resources", case sensitivity). Such a role names no owner and is left alone.
  if (Object.keys(tags).some((key) => key.trim().toLowerCase() === STACK_TAG)) return undefined;
  const space = tags[SPACE_TAG];
  return space === undefined ? undefined : { kind: "space", id: space };
}

/** The stack or space `kind` and `id` name, or undefined when `id` is no valid ID of that kind. */
export function ownerNamed(kind: RoleOwner["kind"], id: string): RoleOwner | undefined {
  if (kind === "stack") return isStackId(id) ? { kind, id } : undefined;
  return isSpaceId(id) ? { kind, id } : undefined;
}

/**
 * The resource a role's tags name (see {@link namedInTags}), undefined when they name none or
 * name it by no valid ID (a tag written by hand). Says nothing of whether the role is ours
 * ({@link isManagedByUs}).
 */
export function ownerFromTags(tags: Tags): RoleOwner | undefined {
  const named = namedInTags(tags);
  return named === undefined ? undefined : ownerNamed(named.kind, named.id);
}

/**
 * True when the role is ours (see {@link isManagedByUs}) and its tags name `owner`
 * ({@link ownerFromTags}). A role's name alone never says whose it is: a name may be another
 * resource's under another naming scheme.
 */
export function isRoleOf(
  config: VendingConfig,
  role: { readonly tags: Tags; readonly path: string },
  owner: RoleOwner,
): boolean {
  if (!isManagedByUs(config, role.tags, role.path)) return false;
  const named = namedInTags(role.tags);
  return named?.kind === owner.kind && named.id === owner.id;
}

/** Who holds a role that is not `owner`'s, for the refusal's message. */
export function describeHolder(
  config: VendingConfig,
  role: { readonly name: string; readonly tags: Tags; readonly path: string },
  owner: RoleOwner,
): string {
  const named = namedInTags(role.tags);
  const holder = !isManagedByUs(config, role.tags, role.path)
    ? "exists but was not created by spacelift-role-vending"
    : named === undefined
      ? "is ours but names no stack or space"
      : `belongs to ${named.kind} ${named.id}`;
  return `role ${role.name} ${holder}, not to ${owner.kind} ${owner.id}; leaving it untouched`;
}
