/**
 * Stack and space identifiers arrive in webhooks and end up in IAM conditions, role names
 * and parameter names, so they are hostile until proven to be Spacelift slugs. Nothing that
 * could act as an IAM wildcard (`*`, `?`), a `sub` claim separator (`:`), a path separator
 * (`/`), white space or non-ASCII ever passes.
 */

const STACK_ID = /^[a-z0-9_-]{1,128}$/;
/** Spacelift space IDs: `<slug>-<26-character upper-case ULID>`, or the built-in `root`/`legacy`. */
const SPACE_ID = /^(?:root|legacy|(?:[a-z0-9][a-z0-9_-]{0,100}-)?[0-9A-HJKMNP-TV-Z]{26})$/;

export type StackId = string & { readonly __brand: "StackId" };
export type SpaceId = string & { readonly __brand: "SpaceId" };

export function isStackId(value: unknown): value is StackId {
  return typeof value === "string" && STACK_ID.test(value);
}

export function isSpaceId(value: unknown): value is SpaceId {
  return typeof value === "string" && value.length <= 128 && SPACE_ID.test(value);
}

/**
 * The key of a stack or space in the ledger, the queue's message groups and the reconciler's
 * report: `stack:<id>` / `space:<id>`. Takes any string, since the reconciler reports listed
 * identifiers that failed validation under the same key.
 */
export function resourceKey(kind: "stack" | "space", id: string): string {
  return `${kind}:${id}`;
}
