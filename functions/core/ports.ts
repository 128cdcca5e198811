/**
 * Ports: the small, domain-named interfaces through which the core talks to the outside
 * world. Adapters in `functions/adapters` and `functions/spacelift` implement them against
 * AWS and Spacelift; tests implement them in memory.
 */

import type { SpaceId, StackId } from "./identifiers.ts";
import type { ReconcileOrder } from "./queue-message.ts";

export type Tags = Readonly<Record<string, string>>;

/** A policy document as JSON-compatible data. */
export type PolicyDocument = Readonly<Record<string, unknown>>;

/** What the core wants an IAM role to look like. */
export interface RoleSpec {
  readonly name: string;
  readonly path: string;
  readonly description: string;
  readonly maxSessionDuration: number;
  readonly trustPolicy: PolicyDocument;
  readonly permissionsBoundaryArn: string | undefined;
  readonly managedPolicyArns: readonly string[];
  /** Inline policies by name. */
  readonly inlinePolicies: Readonly<Record<string, PolicyDocument>>;
  readonly tags: Tags;
}

/** What an IAM role looks like in AWS right now. */
export interface ObservedRole {
  readonly name: string;
  readonly arn: string;
  readonly path: string;
  readonly description: string;
  readonly maxSessionDuration: number;
  readonly trustPolicy: PolicyDocument;
  readonly permissionsBoundaryArn: string | undefined;
  readonly managedPolicyArns: readonly string[];
  readonly inlinePolicies: Readonly<Record<string, PolicyDocument>>;
  readonly tags: Tags;
}

/** IAM, seen as a store of roles. Each method is one or a few IAM calls. */
export interface RoleStore {
  /** The role with its attachments and inline policies, or undefined when it does not exist. */
  describe(name: string): Promise<ObservedRole | undefined>;
  /** Creates the role (trust, path, boundary, tags, session) without its policies. Returns the ARN, or `"exists"` when a role of that name already exists. */
  create(spec: RoleSpec): Promise<{ arn: string } | "exists">;
  /** True once the role can be read back (IAM is eventually consistent). */
  isReadable(name: string): Promise<boolean>;
  updateTrustPolicy(name: string, document: PolicyDocument): Promise<void>;
  updateSettings(
    name: string,
    settings: { description: string; maxSessionDuration: number },
  ): Promise<void>;
  putPermissionsBoundary(name: string, arn: string): Promise<void>;
  deletePermissionsBoundary(name: string): Promise<void>;
  tag(name: string, tags: Tags): Promise<void>;
  untag(name: string, keys: readonly string[]): Promise<void>;
  attachPolicy(name: string, arn: string): Promise<void>;
  detachPolicy(name: string, arn: string): Promise<void>;
  putInlinePolicy(name: string, policyName: string, document: PolicyDocument): Promise<void>;
  deleteInlinePolicy(name: string, policyName: string): Promise<void>;
  /** Deletes the role itself; `"absent"` when it was already gone. */
  delete(name: string): Promise<"deleted" | "absent">;
  /**
   * Every role of the account in a few bulk reads (the reconciler's inventory), page by page:
   * the roles whose path is exactly `path`, each as {@link describe} returns it, and only the
   * names of the others, which are never described. Memory stays one page plus the path's roles.
   */
  describeAllUnder(path: string): AsyncIterable<RolePage>;
}

/** One page of {@link RoleStore.describeAllUnder}. */
export interface RolePage {
  /** Roles whose path is exactly the one asked for (ours or not: their tags say). */
  readonly roles: readonly ObservedRole[];
  /** Names of the account's roles under any other path: known to exist, never described. */
  readonly namesElsewhere: readonly string[];
}

export interface ObservedParameter {
  readonly name: string;
  readonly value: string;
  readonly tags: Tags;
}

/** SSM Parameter Store, seen as the place where role ARNs are published. */
export interface ParameterStore {
  /**
   * Writes a String parameter with tags, converging them like a role's: tags that differ are
   * set, and tags this product owns (`managed-by`, `spacelift:…`) that `tags` no longer has are
   * removed; anyone else's tags stay. Makes no write call when it already holds that value and
   * those tags. `fresh` says the parameter is probably new, so it is written before it is read.
   * `current` is the value the caller read a moment ago (the reconciler's listing): the value is
   * not read again; its tags still are, since they say whose parameter it is.
   */
  publish(
    name: string,
    value: string,
    tags: Tags,
    options?: { fresh?: boolean; current?: string },
  ): Promise<"created" | "updated" | "unchanged">;
  remove(name: string): Promise<"deleted" | "absent">;
  /** Every parameter under a path, recursively, with values (tags are not read). */
  listByPath(path: string): Promise<readonly { name: string; value: string }[]>;
}

/** An account's IAM role count and quota (IAM GetAccountSummary: `Roles`, `RolesQuota`). */
export interface AccountUsage {
  roleUsage(): Promise<{ readonly roles: number; readonly quota: number }>;
}

/** Checked before each CreateRole in an account: refuses one that would exceed its quota. */
export interface RoleQuotaGate {
  /** Throws AccountRoleQuotaError when the account has no room for one more role. */
  admitCreate(roleName: string): Promise<void>;
  /** A role was created (counted until the usage is read again). */
  recordCreated(): void;
}

/** IAM and SSM of one AWS account. */
export interface AccountStores {
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  /** The account's role quota; undefined: not checked. */
  readonly roleQuota?: RoleQuotaGate;
  /** The account's role count and quota, as read now (the reconciler's once-a-pass read). */
  readonly usage?: AccountUsage;
}

/**
 * The configured target accounts (the permissions file's `accounts`), reached through each
 * one's vending role. Credentials are kept per account until shortly before they expire.
 */
export interface AccountAccess {
  /**
   * That account's stores. `resource` (e.g. `stack:api`) names the session when a new one is
   * needed. Throws AccountUnreachableError (retryable) when the vending role cannot be assumed.
   */
  storesFor(accountId: string, resource: string): Promise<AccountStores>;
}

/** Where the receiver puts accepted events. */
export interface EventQueue {
  /** Durably enqueues one event body, ordered within `group`. */
  enqueue(message: { body: string; group: string; deduplicationId: string }): Promise<void>;
}

/**
 * A message the reconciler plans: a synthesized webhook body (core/synthesized-event.ts) or a
 * reconcile order (core/queue-message.ts), each in its resource's own FIFO group.
 */
export type PlannedMessage =
  | { readonly body: string; readonly group: string; readonly deduplicationId: string }
  | { readonly order: ReconcileOrder; readonly group: string; readonly deduplicationId: string };

/** Where the reconciler puts what it planned: the event queue, in batches. */
export interface PlanQueue {
  /**
   * Durably enqueues every message (SQS SendMessageBatch, 10 a call; entries that failed are
   * sent again, alone); throws when some could still not be sent. Returns the calls it made.
   */
  enqueueBatch(messages: readonly PlannedMessage[]): Promise<{ readonly calls: number }>;
}

/** What the provisioner last applied to a resource, so that older events cannot undo newer ones. */
export interface LedgerEntry {
  readonly resource: string;
  /** Spacelift timestamp (ms) of the last event applied. */
  readonly timestamp: number;
  readonly state: "present" | "deleted";
  /**
   * What events said of a stack, each with the timestamp of the event that said it. An event
   * skipped as older than the last one applied may still be the newest to name the space or
   * the labels (a move delivered after a later update that left the space unsaid).
   */
  readonly facts?: StackFactsRecord;
  /**
   * For a stack: the shape of its roles when the ledger vouches that nothing of the other shape
   * exists (no role of it, and without the split no read-role parameter), so the provisioner
   * looks only for this shape's roles. Written only by the provisioner, after an event that
   * found the other shape absent or removed it; dropped before anything may create roles of a
   * shape other than this one. Undefined: unknown, every shape is looked for.
   */
  readonly shape?: StackShape;
  /** The role naming scheme `shape` was vouched under; another (or none) vouches for nothing. */
  readonly naming?: number;
  /**
   * The AWS account that holds the resource's roles (the permissions file's `accounts`);
   * undefined: the service's own account, so entries written before accounts existed need no
   * migration. Changed only once the roles exist in that account and are published.
   */
  readonly account?: string;
  /**
   * Accounts that may still hold roles of the resource: a move between accounts under way (or
   * about to start). Their roles are removed, after the ownership checks there, by the next
   * event applied to the resource, before this list is emptied.
   */
  readonly formerAccounts?: readonly string[];
}

/** A stack's roles: one unsplit role, or the read/write split's `-write` and `-read` pair. */
export type StackShape = "unsplit" | "split";

export interface TimedFact<T> {
  readonly value: T;
  readonly timestamp: number;
}

export interface StackFactsRecord {
  readonly spaceId?: TimedFact<string>;
  readonly labels?: TimedFact<readonly string[]>;
}

export interface ResourceLedger {
  get(resource: string): Promise<LedgerEntry | undefined>;
  /**
   * Records an applied event; never moves a resource's timestamp backwards, and at an equal
   * timestamp never turns a deleted resource present again.
   */
  record(entry: LedgerEntry): Promise<void>;
}

/**
 * A stack as Spacelift's API reports it, its IDs parsed where they entered (the Spacelift
 * adapter): only IDs that are safe in IAM names and conditions (identifiers.ts) get here.
 */
export interface SpaceliftStack {
  readonly id: StackId;
  readonly space: SpaceId;
  readonly labels: readonly string[];
}

/** A space as Spacelift's API reports it, its IDs parsed where they entered. */
export interface SpaceliftSpace {
  readonly id: SpaceId;
  readonly name: string;
  /**
   * Null for a space without a parent; in a listing, null too for a parent whose ID fails
   * validation (the space is still converged, as if it had none).
   */
  readonly parentSpace: SpaceId | null;
  readonly labels: readonly string[];
}

/**
 * A stack or space Spacelift reported whose ID (or, for a stack, its space's ID; for a space
 * looked up alone, its parent's) fails validation: hostile or drifted. It never reaches an IAM
 * or SSM name; a listed one still counts as listed, so no role is taken for an orphan
 * because of it.
 */
export interface UnusableSpaceliftResource {
  readonly kind: "stack" | "space";
  /** As Spacelift gave it: for reports and the resource key only, never for a name. */
  readonly id: string;
  /** Which ID failed, e.g. `the stack's space is not a valid space ID`. */
  readonly reason: string;
}

/** What a listing returned: the resources with valid IDs, and those without. */
export interface SpaceliftResources<T> {
  readonly usable: readonly T[];
  readonly unusable: readonly UnusableSpaceliftResource[];
}

/** Spacelift's own truth about which stacks and spaces exist. */
export interface SpaceliftDirectory {
  listStacks(): Promise<SpaceliftResources<SpaceliftStack>>;
  listSpaces(): Promise<SpaceliftResources<SpaceliftSpace>>;
}

/**
 * The resource an audit-trail entry affected, its ID parsed by its type: `STACK` as a stack
 * ID, `SPACE` as a space ID; `unusable` for any other type, a missing ID, or an ID that fails
 * validation.
 */
export type AffectedResource =
  | { readonly kind: "stack"; readonly id: StackId }
  | { readonly kind: "space"; readonly id: SpaceId }
  | { readonly kind: "unusable" };

/**
 * One entry of Spacelift's audit trail (`searchAuditTrailEntries`), as the catch-up reads it:
 * the action (`stack.create`, `space.update`, …), the resource it affected, and when.
 */
export interface AuditTrailEntry {
  readonly id: string;
  readonly action: string;
  /** Spacelift's resource type, e.g. `STACK` or `SPACE`. */
  readonly resourceType: string;
  readonly resource: AffectedResource;
  /** When the entry was created, in ms since the epoch. */
  readonly createdAt: number;
}

/** Spacelift's audit trail and its current state of one resource, for the catch-up. */
export interface SpaceliftAuditTrail {
  /**
   * Every entry created at or after `since` (ms), oldest first. Throws if any page fails: a
   * partial list is never returned.
   */
  entriesSince(since: number): Promise<readonly AuditTrailEntry[]>;
  /** The stack as Spacelift has it now; undefined when Spacelift has no such stack. */
  stack(id: StackId): Promise<SpaceliftStack | UnusableSpaceliftResource | undefined>;
  /** The space as Spacelift has it now; undefined when Spacelift has no such space. */
  space(id: SpaceId): Promise<SpaceliftSpace | UnusableSpaceliftResource | undefined>;
}

/** Where the catch-up keeps the time of the newest audit entry it has handled. */
export interface CatchUpCheckpoint {
  /** The checkpoint (ms since the epoch), or undefined before the first run. */
  read(): Promise<number | undefined>;
  /**
   * Moves the checkpoint to `to`; never backwards (a lower value than the stored one is a
   * no-op, atomically: two overlapping runs cannot move it back). With `replacing` (a stored
   * value found in the future), it is set to `to` only if it still holds exactly that value.
   */
  advance(to: number, replacing?: number): Promise<void>;
}

/** What is known of a space's place in the hierarchy (from space events), for `{spacePath}`. */
export interface SpaceNode {
  readonly spaceId: SpaceId;
  /** The space's name; undefined until an event has said it. */
  readonly name: string | undefined;
  /** The parent space; undefined for `root`, or until an event has said it. */
  readonly parentSpaceId: SpaceId | undefined;
}

/** Where space names and parents are kept, so a space's full path can be rendered. */
export interface SpacePathStore {
  get(spaceId: SpaceId): Promise<SpaceNode | undefined>;
  /** Records what a space event (at `timestamp`, ms) says; never replaces a newer record. */
  put(node: SpaceNode, timestamp: number): Promise<void>;
  remove(spaceId: SpaceId): Promise<void>;
}

/** The per-space cap on stack roles (MAX_ROLES_PER_SPACE) and where the spaces' counts live. */
export interface SpaceRoleCap {
  readonly quota: SpaceQuota;
  /** Stack roles one space may hold (> 0); a stack with the read/write split holds two. */
  readonly maxRolesPerSpace: number;
}

/**
 * Which stacks of each space hold vended roles, so that the stack creators of one space cannot
 * use up the account's role quota (1,000 by default), which would stop CreateRole for everyone.
 * A stack is counted in a space from just before its roles are created there (or moved there)
 * until they are deleted or moved away. Every write is atomic: two provisioners admitting at
 * once cannot both take the last place.
 */
export interface SpaceQuota {
  /**
   * Counts the stack in the space unless the space already counts `cap` other stacks; a stack
   * already counted is admitted again (idempotent).
   */
  admit(spaceId: string, stackId: string, cap: number): Promise<"admitted" | "full">;
  /** Counts the stack whatever the cap: its roles exist already (the reconciler's repair). */
  include(spaceId: string, stackId: string): Promise<void>;
  /**
   * Stops counting the stack in the space (no-op when it is not counted). With
   * `admittedBefore` (ms), only if it was first counted before then, so a repair based on an
   * older view cannot uncount a stack admitted since.
   */
  release(spaceId: string, stackId: string, options?: { admittedBefore?: number }): Promise<void>;
  /** The stacks counted in the space, each with when it was first counted (ms). */
  members(spaceId: string): Promise<ReadonlyMap<string, number>>;
}
