/**
 * What callers tell the converge and remove steps (converge.ts, remove.ts) about a resource,
 * and what those steps report back; shared by the provisioner and the reconciler.
 */
import type { SpaceId, StackId } from "./identifiers.ts";
import type { StackShape } from "./ports.ts";

export type RoleResult = "created" | "updated" | "unchanged" | "deleted" | "absent";

export interface ProvisionOutcome {
  readonly resource: string;
  /** `stale`: an older event than the last one applied, skipped so it cannot undo it. */
  readonly result: RoleResult | "stale";
  readonly roleName: string;
  readonly roleArn?: string;
  readonly parameter?: "created" | "updated" | "unchanged" | "deleted" | "absent";
  /** With the read/write split: the stack's read role (roleName/roleArn are the write role). */
  readonly readRoleName?: string;
  readonly readRoleArn?: string;
  readonly changes: readonly string[];
  /** Roles at the resource's names that belong to another resource of ours, left alone. */
  readonly skipped?: readonly string[];
  /**
   * For a stack: the shape of its roles, when nothing of the other shape is left (none was
   * there, or all of it was removed): what the ledger may then vouch for.
   */
  readonly shape?: StackShape;
}

/** What is known of a stack; undefined fields keep what the role says today. */
export interface StackFacts {
  readonly stackId: StackId;
  readonly spaceId: SpaceId | undefined;
  readonly labels: readonly string[] | undefined;
}

/**
 * What to do about a stack's roles of the shape the configuration does not use (the
 * read/write split was switched):
 * - `vouched-absent`: there are none (the ledger vouches for it), so they are not looked for;
 * - `remove-then-vouch`: they are looked for and removed, and without the split so is the
 *   read-role parameter even when no read role is found, so the outcome can vouch for its `shape`.
 */
export type OtherShapeRoles = "vouched-absent" | "remove-then-vouch";

/** What the caller knows of a stack before converging or removing it. */
export interface StackHint {
  /** The stack is probably new: CreateRole is tried before any read, nothing else is looked for. */
  readonly fresh: boolean;
  /**
   * Undefined: they are looked for and removed, and no shape is vouched for (the reconciler,
   * whose inventory answers).
   */
  readonly otherShapeRoles?: OtherShapeRoles;
}
