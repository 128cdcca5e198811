/**
 * The names of the vended IAM roles and of the SSM parameters that publish their ARNs: this
 * naming scheme's, and the previous scheme's (found only to be replaced).
 */
import { createHash } from "node:crypto";
import type { VendingConfig } from "./config.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import type { RoleScope } from "./permissions.ts";

/** IAM's longest role name (moto does not enforce it; AWS does). */
export const ROLE_NAME_MAX_LENGTH = 64;

/** True when IAM accepts `name` as a role name: its length and characters. */
export function isValidRoleName(name: string): boolean {
  return name.length <= ROLE_NAME_MAX_LENGTH && /^[\w+=,.@-]+$/.test(name);
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
  if (whole.length <= ROLE_NAME_MAX_LENGTH) return whole;
  const digest = createHash("sha256").update(whole).digest("hex").slice(0, HASH_LENGTH);
  const tail = `${ROLE_NAME_SEPARATOR}${digest}${suffix}`;
  return `${base.slice(0, ROLE_NAME_MAX_LENGTH - tail.length)}${tail}`;
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
  if (whole.length <= ROLE_NAME_MAX_LENGTH) return whole;
  const digest = createHash("sha256").update(whole).digest("hex").slice(0, 8);
  return `${base.slice(0, ROLE_NAME_MAX_LENGTH - 9 - suffix.length)}-${digest}${suffix}`;
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
