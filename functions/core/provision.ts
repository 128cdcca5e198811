/**
 * The provisioner's core: applies one Spacelift resource event to IAM and SSM, convergently.
 * Running an event twice, or against a role that is already right, makes no write call.
 */
import {
  type AuditEvent,
  parseAuditEvent,
  type ResourceEvent,
  resourceKey,
} from "./audit-event.ts";
import {
  ForeignResourceError,
  HttpError,
  PermanentEventError,
  PolicyRenderError,
  SpaceRoleCapError,
} from "./errors.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import { isSpaceId } from "./identifiers.ts";
import type {
  LedgerEntry,
  ObservedRole,
  ParameterStore,
  ResourceLedger,
  RoleSpec,
  RoleStore,
  SpacePathStore,
  SpaceQuota,
  StackFactsRecord,
  StackShape,
  TimedFact,
} from "./ports.ts";
import { diffRole, type RoleChange } from "./role-diff.ts";
import {
  boundaryOf,
  describeHolder,
  everyStackRoleName,
  isManagedByUs,
  isRoleOf,
  labelsFromTags,
  legacySpaceRoleName,
  legacyStackRoleNames,
  ROLE_NAMING,
  type RoleBinding,
  type RoleOwner,
  SPACE_TAG,
  STACK_TAG,
  spaceBinding,
  spaceParameterName,
  spaceRoleName,
  stackBindings,
  stackParameterName,
  stackRoleName,
  stackRoleNames,
  stackScopes,
  stackShape,
  type VendingConfig,
} from "./role-spec.ts";
import { mergeSpaceNode, resolveSpacePath, templateUses } from "./subject.ts";

export interface ProvisionerDeps {
  readonly config: VendingConfig;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  readonly ledger: ResourceLedger;
  /**
   * Space names and parents, kept from space events for `{spacePath}`. Without it a template
   * using `{spacePath}` cannot be rendered (SpacePathUnknownError).
   */
  readonly spacePaths?: SpacePathStore;
  /** Injected so tests never sleep; waits back off, never a fixed pause. */
  readonly sleep: (ms: number) => Promise<void>;
  /** The per-space cap on stack roles (MAX_ROLES_PER_SPACE); undefined: no cap. */
  readonly spaceRoleCap?: SpaceRoleCap;
}

export interface SpaceRoleCap {
  readonly quota: SpaceQuota;
  /** Stack roles one space may hold (> 0); a stack with the read/write split holds two. */
  readonly maxRolesPerSpace: number;
}

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

export class NotYetReadableError extends Error {
  override readonly name = "NotYetReadableError";
}

export async function applyEvent(
  event: ResourceEvent,
  deps: ProvisionerDeps,
): Promise<ProvisionOutcome> {
  const resource = resourceKey(event);
  const last = await deps.ledger.get(resource);
  const facts = learnFacts(last?.facts, event);
  // Spacelift does not deliver in order: an event older than the last one applied to this
  // resource (a create arriving after the delete) must not undo it. It may still be the newest
  // to name the stack's space or labels; then the stack converges on what is now known.
  if (last !== undefined && isSuperseded(event, last)) {
    const stale: ProvisionOutcome = {
      resource,
      result: "stale",
      roleName: roleNameOf(event, deps.config),
      changes: [],
    };
    if (facts === last.facts) return stale;
    if (last.state === "present" && event.type === "stack.upserted") {
      const otherShape = await readyToConverge(last, deps);
      const outcome = await convergeStack(factsOf(event.stackId, facts), deps, {
        fresh: false,
        otherShape,
      });
      await deps.ledger.record({
        ...withoutShape(last),
        ...(facts && { facts }),
        ...vouching(outcome.shape),
      });
      return outcome;
    }
    await deps.ledger.record({ ...last, ...(facts && { facts }) });
    return stale;
  }
  const otherShape =
    event.type === "stack.upserted"
      ? await readyToConverge(last, deps)
      : event.type === "stack.deleted" && vouchedShape(last) === stackShape(deps.config)
        ? "absent"
        : "verify";
  const entry = {
    resource,
    timestamp: event.timestamp,
    state: event.type.endsWith(".deleted") ? ("deleted" as const) : ("present" as const),
    ...(facts && { facts }),
  };
  try {
    const outcome = await applyToAws(event, deps, last?.state === "present", facts, otherShape);
    await deps.ledger.record({ ...entry, ...vouching(outcome.shape) });
    return outcome;
  } catch (error) {
    // A refusal may come after AWS was already changed (the role written, then its parameter
    // found to be someone else's): the event still counts as the latest, so that an older
    // event delivered later cannot undo what this one did. What the ledger vouched for of the
    // stack's shape still holds if the event touched only that shape's roles.
    if (error instanceof PermanentEventError) {
      const shape = otherShape === "absent" ? vouchedShape(last) : undefined;
      await deps.ledger.record({ ...entry, ...vouching(shape) });
    }
    throw error;
  }
}

/**
 * Whether the last applied event (or the reconciler's listing) supersedes this one. Older: yes.
 * At the same millisecond the order is unknown: the same event delivered again (or one with
 * the same effect) is applied again, which converges to what it did before; but an event that
 * would bring back a resource deleted at that millisecond is not, so a tie never leaves a role
 * behind its stack. (Deletion wins a tie; if the stack does exist, the reconciler re-creates
 * its role from Spacelift's listing.)
 */
function isSuperseded(event: ResourceEvent, last: LedgerEntry): boolean {
  if (event.timestamp !== last.timestamp) return event.timestamp < last.timestamp;
  return last.state === "deleted" && !event.type.endsWith(".deleted");
}

/**
 * What the ledger vouches for of a stack's roles of the other shape than the configuration's,
 * made safe for a converge that may create roles of the configuration's shape: if the ledger
 * vouches for the other shape (the read/write split was switched since), it stops vouching
 * first. Otherwise a crash before the old shape's roles are removed, then a switch back, would
 * leave the ledger vouching for a shape while roles of both exist.
 */
async function readyToConverge(
  last: LedgerEntry | undefined,
  deps: Pick<ProvisionerDeps, "config" | "ledger">,
): Promise<"absent" | "verify"> {
  const shape = vouchedShape(last);
  if (last === undefined || shape === undefined) return "verify";
  if (shape === stackShape(deps.config)) return "absent";
  await deps.ledger.record(withoutShape(last));
  return "verify";
}

/**
 * For whatever may create a stack's roles outside an event (the reconciler, a backfill): makes
 * the ledger stop vouching that the stack has only roles of another shape than the
 * configuration's. A GetItem; a PutItem only when the ledger vouched for the other shape.
 */
export async function beforeCreatingStackRoles(
  ledger: ResourceLedger,
  stackId: StackId,
  config: VendingConfig,
): Promise<void> {
  const last = await ledger.get(`stack:${stackId}`);
  if (last?.shape !== undefined && last.shape !== stackShape(config)) {
    await ledger.record(withoutShape(last));
  }
}

function withoutShape(entry: LedgerEntry): LedgerEntry {
  const { shape: _vouched, naming: _scheme, ...rest } = entry;
  return rest;
}

/**
 * The shape the ledger vouches for, if it vouched under this role naming scheme: under the one
 * before, the stack's roles may still carry the names that scheme gave them.
 */
function vouchedShape(entry: LedgerEntry | undefined): StackShape | undefined {
  return entry?.naming === ROLE_NAMING ? entry.shape : undefined;
}

function vouching(shape: StackShape | undefined): Pick<LedgerEntry, "shape" | "naming"> {
  return shape === undefined ? {} : { shape, naming: ROLE_NAMING };
}

/**
 * Records what Spacelift's API said of a stack (the reconciler's truth at `listedAt`) as the
 * stack's known space and labels, so that a later event that leaves them unsaid, or an older
 * event delivered late, does not undo what the reconciler repaired; and records that the stack
 * exists as of `listedAt` (see recordListed).
 */
export async function recordStackFacts(
  ledger: ResourceLedger,
  stack: {
    readonly stackId: StackId;
    readonly spaceId: SpaceId;
    readonly labels: readonly string[];
  },
  listedAt: number,
): Promise<void> {
  const resource = `stack:${stack.stackId}`;
  const last = await ledger.get(resource);
  await recordListed(ledger, resource, listedAt, last, mergeFacts(last?.facts, stack, listedAt));
}

/**
 * Records that Spacelift's API listed a resource at `listedAt` (ms; the time the listing was
 * requested, so an event Spacelift dated after it still applies). Without this, a resource the
 * reconciler created had no ledger entry, so any old event — a `stack.delete` from years ago —
 * counted as newer and deleted a live role. A newer entry keeps its timestamp and state.
 */
export async function recordListed(
  ledger: ResourceLedger,
  resource: string,
  listedAt: number,
  last: LedgerEntry | undefined,
  facts: StackFactsRecord | undefined = last?.facts,
): Promise<void> {
  if (last !== undefined && last.timestamp >= listedAt && facts === last.facts) return;
  // This write may land between the provisioner's own read and write of the entry: it never
  // vouches for a shape, so it cannot bring back a vouching the provisioner just dropped.
  await ledger.record({
    ...(last === undefined || last.timestamp < listedAt
      ? { resource, timestamp: listedAt, state: "present" as const }
      : withoutShape(last)),
    ...(facts && { facts }),
  });
}

/** Merges what a stack event says of its space and labels into what is known, newest wins. */
function learnFacts(
  known: StackFactsRecord | undefined,
  event: ResourceEvent,
): StackFactsRecord | undefined {
  if (event.type !== "stack.upserted") return known;
  return mergeFacts(known, event, event.timestamp);
}

function mergeFacts(
  known: StackFactsRecord | undefined,
  said: { readonly spaceId: string | undefined; readonly labels: readonly string[] | undefined },
  timestamp: number,
): StackFactsRecord | undefined {
  const newer = <T>(fact: TimedFact<T> | undefined, value: T | undefined) =>
    value !== undefined && (fact === undefined || fact.timestamp < timestamp)
      ? { value, timestamp }
      : undefined;
  const spaceId = newer(known?.spaceId, said.spaceId);
  const labels = newer(known?.labels, said.labels);
  if (spaceId === undefined && labels === undefined) return known;
  return {
    ...known,
    ...(spaceId && { spaceId }),
    ...(labels && { labels }),
  };
}

function factsOf(stackId: StackId, facts: StackFactsRecord | undefined): StackFacts {
  const spaceId = facts?.spaceId?.value;
  return {
    stackId,
    spaceId: isSpaceId(spaceId) ? spaceId : undefined,
    labels: facts?.labels?.value,
  };
}

function roleNameOf(event: ResourceEvent, config: VendingConfig): string {
  return "stackId" in event
    ? stackRoleName(config, event.stackId, stackScopes(config)[0])
    : spaceRoleName(config, event.spaceId);
}

async function applyToAws(
  event: ResourceEvent,
  deps: ProvisionerDeps,
  knownPresent: boolean,
  facts: StackFactsRecord | undefined,
  otherShape: "absent" | "verify",
): Promise<ProvisionOutcome> {
  // A fresh create tries CreateRole straight away (no read first); anything else reads the
  // role first, since the event may leave the space or labels unsaid.
  const fresh = event.action.endsWith(".create") && !knownPresent;
  switch (event.type) {
    case "stack.upserted":
      // What the event leaves unsaid comes from the newest event that said it.
      return convergeStack(factsOf(event.stackId, facts), deps, { fresh, otherShape });
    case "space.upserted":
      await recordSpace(event, deps, event.timestamp);
      return convergeSpace({ spaceId: event.spaceId }, deps, { fresh });
    case "stack.deleted": {
      // A stack admitted to its space whose role was never created: only events know where.
      const admitted = factsOf(event.stackId, facts).spaceId;
      const release = async () => {
        if (admitted !== undefined) await deps.spaceRoleCap?.quota.release(admitted, event.stackId);
      };
      let outcome: ProvisionOutcome;
      try {
        outcome = await removeStack(event.stackId, deps, { otherShape });
      } catch (error) {
        // Refused for a role at its name that is not ours: its own roles are gone all the same.
        if (error instanceof ForeignResourceError) await release();
        throw error;
      }
      await release();
      return outcome;
    }
    case "space.deleted": {
      const outcome = await removeSpace(event.spaceId, deps);
      await deps.spacePaths?.remove(event.spaceId);
      return outcome;
    }
  }
}

/**
 * Records what a space event (or Spacelift's API, for the reconciler) says of a space's name
 * and parent, merged with what is known, so `{spacePath}` can be rendered. The path of the
 * space's descendants changes with it: their roles follow on their next convergence.
 */
export async function recordSpace(
  space: {
    readonly spaceId: SpaceId;
    readonly name: string | undefined;
    readonly parentSpaceId: SpaceId | undefined;
  },
  deps: Pick<ProvisionerDeps, "spacePaths">,
  timestamp: number = Date.now(),
): Promise<void> {
  if (deps.spacePaths === undefined) return;
  const known = await deps.spacePaths.get(space.spaceId);
  const merged = mergeSpaceNode(known, space);
  if (known?.name === merged.name && known?.parentSpaceId === merged.parentSpaceId) return;
  await deps.spacePaths.put(merged, timestamp);
}

/** What is known of a stack; undefined fields keep what the role says today. */
export interface StackFacts {
  readonly stackId: StackId;
  readonly spaceId: SpaceId | undefined;
  readonly labels: readonly string[] | undefined;
}

type ConvergeDeps = Pick<
  ProvisionerDeps,
  "config" | "roles" | "parameters" | "sleep" | "spacePaths" | "spaceRoleCap"
>;

/** What the caller knows of a stack before converging or removing it. */
export interface StackHint {
  /** The stack is probably new: CreateRole is tried before any read, nothing else is looked for. */
  readonly fresh: boolean;
  /**
   * Roles of the shape the configuration does not use (the read/write split was switched):
   * - `absent`: there are none (the ledger vouches for it), so they are not looked for;
   * - `verify`: they are looked for and removed, and without the split so is the read-role
   *   parameter even when no read role is found, so the outcome can vouch for its `shape`;
   * - undefined: they are looked for and removed (the reconciler, whose inventory answers).
   */
  readonly otherShape?: "absent" | "verify";
}

/**
 * Makes a stack's role(s) and parameter(s) what the configuration says they should be: one
 * role, or a `-write` and a `-read` role with the read/write split (the other shape's roles
 * are removed). Undefined facts keep what the role says today: the space from its tag, the
 * allow-listed labels from its labels tag. Only when neither the event nor the role knows the
 * labels, and the stack stays in its space, are the attached policies left as they are.
 */
export async function convergeStack(
  stack: StackFacts,
  deps: ConvergeDeps,
  hint: StackHint = { fresh: false },
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const owner: RoleOwner = { kind: "stack", id: stack.stackId };
  const scopes = stackScopes(config);
  const names = scopes.map((scope) => stackRoleName(config, stack.stackId, scope));
  const others =
    hint.otherShape === "absent"
      ? []
      : everyStackRoleName(config, stack.stackId).filter((name) => !names.includes(name));
  // Every shape's role is read (unless the stack is brand new, or the other shape is known to
  // be absent): the current shape's to converge, the other shape's (left from before the split
  // was switched) and the previous naming scheme's to remove. Roles are found by name, then
  // their tags say whose they are: ListRoles returns no tags ("does not return ... Tags",
  // https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html), so a search by tag
  // is a GetRole per role under the path; the reconciler does that once per pass.
  const observed = new Map<string, ObservedRole | undefined>();
  if (!hint.fresh) {
    for (const name of [...names, ...others]) observed.set(name, await deps.roles.describe(name));
  }
  // What the stack's existing role says of its space and labels, if the event does not.
  const facts = [...observed.values()].find(
    (role): role is ObservedRole => role !== undefined && isRoleOf(config, role, owner),
  );
  const spaceId = stack.spaceId ?? spaceOf(facts) ?? config.defaultSpaceId;
  // Labels unknown (neither the event nor the role says them) keep the role's policies, except
  // on a move: those are the old space's grants, never kept on a role trusted from the new one;
  // the label grants come back with the next event or reconciliation that says the labels.
  const moved = spaceOf(facts) !== undefined && spaceOf(facts) !== spaceId;
  const labels =
    stack.labels ??
    (facts === undefined ? undefined : labelsFromTags(facts.tags)) ??
    (moved ? [] : undefined);
  const bindings = stackBindings(config, {
    stackId: stack.stackId,
    spaceId,
    labels: labels ?? (facts === undefined ? [] : undefined),
    spacePath: await spacePathFor(spaceId, deps),
  });
  // The space's role cap is checked before any role is created in it or moved into it.
  const formerSpaces = new Set(
    [...observed.values()].flatMap((role) =>
      role?.tags[STACK_TAG] === stack.stackId && role.tags[SPACE_TAG] !== undefined
        ? [role.tags[SPACE_TAG]]
        : [],
    ),
  );
  formerSpaces.delete(spaceId);
  const creating = hint.fresh || names.some((name) => observed.get(name) === undefined);
  if (creating || formerSpaces.size > 0) await admitToSpace(deps, spaceId, stack.stackId);
  const results: BindingResult[] = [];
  const blocked: string[] = [];
  for (const binding of bindings) {
    const current = observed.get(binding.role.name);
    const predecessor = predecessorOf(binding, stack.stackId, observed, deps.config);
    const result = await ensureBinding(
      // Labels unknown: the role that replaces one of the previous scheme keeps its policies.
      labels === undefined && current === undefined && predecessor !== undefined
        ? { ...binding, role: withPoliciesOf(binding.role, predecessor) }
        : binding,
      deps,
      {
        observed: hint.fresh ? "unread" : current,
        keepPolicies: labels === undefined && current !== undefined,
        owner,
      },
    );
    // Another resource's role (or not ours) holds the name: skip it, converge the rest.
    if ("blocked" in result) blocked.push(result.blocked);
    else results.push(result);
  }
  if (blocked.length > 0) {
    // The stack's other roles stay (a role this one replaces is published until it exists).
    throw new ForeignResourceError(blocked.join("; "));
  }
  const changes = results.flatMap((result, index) =>
    index === 0 ? result.changes : result.changes.map((change) => `${result.roleName}: ${change}`),
  );
  if (!hint.fresh) {
    // Roles of the other shape (the split was switched on or off) and of the previous naming
    // scheme go once the new ones exist and are published. A name the stack had under the
    // previous scheme may be another resource's now: only the stack's own roles go.
    let removedOthers = false;
    for (const name of others) {
      const role = observed.get(name);
      if (role === undefined || !isRoleOf(config, role, owner)) continue;
      const removed = await removeRole(role, deps, owner);
      changes.push(...removed.map((change) => `${name}: ${change}`));
      removedOthers = true;
    }
    const readName = stackRoleName(config, stack.stackId, "read");
    if (!names.includes(readName) && (removedOthers || hint.otherShape === "verify")) {
      const parameter = await deps.parameters.remove(
        stackParameterName(config, stack.stackId, "read"),
      );
      if (parameter === "deleted") changes.push("deleteParameter read-role-arn");
    }
  }
  // Moved: every role now says the new space, so the old one stops counting the stack.
  for (const former of formerSpaces) await deps.spaceRoleCap?.quota.release(former, stack.stackId);
  // Nothing of the other shape is left: none was there, or it was all looked for and removed.
  const vouched = hint.otherShape === "absent" || (hint.otherShape === "verify" && !hint.fresh);
  const [primary, read] = results as [BindingResult, BindingResult | undefined];
  return {
    resource: `stack:${stack.stackId}`,
    result: combineResults(results.map((result) => result.result)),
    roleName: primary.roleName,
    roleArn: primary.roleArn,
    parameter: primary.parameter,
    ...(read === undefined ? {} : { readRoleName: read.roleName, readRoleArn: read.roleArn }),
    changes,
    ...(vouched && { shape: stackShape(config) }),
  };
}

/**
 * Counts the stack in the space, or refuses it when the space already holds its cap of stack
 * roles (a stack with the read/write split holds two).
 */
async function admitToSpace(
  deps: Pick<ConvergeDeps, "config" | "spaceRoleCap">,
  spaceId: SpaceId,
  stackId: StackId,
): Promise<void> {
  const cap = deps.spaceRoleCap;
  if (cap === undefined) return;
  const rolesPerStack = stackScopes(deps.config).length;
  const stacks = Math.floor(cap.maxRolesPerSpace / rolesPerStack);
  if ((await cap.quota.admit(spaceId, stackId, stacks)) === "admitted") return;
  throw new SpaceRoleCapError(
    `space ${spaceId} already holds the roles of ${stacks} stacks (MAX_ROLES_PER_SPACE=${cap.maxRolesPerSpace}, ${rolesPerStack} role(s) per stack): stack ${stackId} gets no role there; raise MAX_ROLES_PER_SPACE or remove stacks from the space`,
  );
}

/** The stack's role of the binding's scope under the previous naming scheme, if it has one. */
function predecessorOf(
  binding: RoleBinding,
  stackId: StackId,
  observed: ReadonlyMap<string, ObservedRole | undefined>,
  config: VendingConfig,
): ObservedRole | undefined {
  const [any, write, read] = legacyStackRoleNames(config, stackId);
  const name = binding.scope === "any" ? any : binding.scope === "write" ? write : read;
  if (name === undefined || name === binding.role.name) return undefined;
  const role = observed.get(name);
  return role !== undefined && isRoleOf(config, role, { kind: "stack", id: stackId })
    ? role
    : undefined;
}

function withPoliciesOf(spec: RoleSpec, role: ObservedRole): RoleSpec {
  return {
    ...spec,
    managedPolicyArns: [...role.managedPolicyArns].sort(),
    inlinePolicies: role.inlinePolicies,
  };
}

/** Makes a space's role and parameter what the configuration says they should be. */
export async function convergeSpace(
  space: { readonly spaceId: SpaceId },
  deps: ConvergeDeps,
  hint: { fresh: boolean } = { fresh: false },
): Promise<ProvisionOutcome> {
  const binding = spaceBinding(deps.config, {
    spaceId: space.spaceId,
    spacePath: await spacePathFor(space.spaceId, deps),
  });
  const owner: RoleOwner = { kind: "space", id: space.spaceId };
  const result = await ensureBinding(binding, deps, {
    observed: hint.fresh ? "unread" : await deps.roles.describe(binding.role.name),
    keepPolicies: false,
    owner,
  });
  if ("blocked" in result) throw new ForeignResourceError(result.blocked);
  const changes = [...result.changes];
  // A cut name of the previous naming scheme: replaced once the new role is published.
  const legacyName = legacySpaceRoleName(deps.config, space.spaceId);
  if (!hint.fresh && legacyName !== binding.role.name) {
    const legacy = await deps.roles.describe(legacyName);
    if (legacy !== undefined && isRoleOf(deps.config, legacy, owner)) {
      const removed = await removeRole(legacy, deps, owner);
      changes.push(...removed.map((change) => `${legacyName}: ${change}`));
    }
  }
  return { resource: `space:${space.spaceId}`, ...result, changes };
}

/** The space's path, read only when the subject template needs it. */
async function spacePathFor(
  spaceId: SpaceId,
  deps: Pick<ConvergeDeps, "config" | "spacePaths">,
): Promise<string | undefined> {
  if (!templateUses(deps.config.subjectTemplate, "spacePath")) return undefined;
  return resolveSpacePath(spaceId, deps.spacePaths);
}

function combineResults(results: readonly RoleResult[]): RoleResult {
  if (results.includes("created")) return "created";
  if (results.some((result) => result !== "unchanged")) return "updated";
  return "unchanged";
}

/**
 * Removes a stack's roles (every shape: unsplit, write, read, unless the other shape than the
 * configuration's is known to be absent), everything attached, and parameters.
 */
export async function removeStack(
  stackId: StackId,
  deps: Pick<ProvisionerDeps, "config" | "roles" | "parameters" | "spaceRoleCap">,
  hint: Pick<StackHint, "otherShape"> = {},
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const shape = stackShape(config);
  const owner: RoleOwner = { kind: "stack", id: stackId };
  const changes: string[] = [];
  const blocked: string[] = [];
  const skipped: string[] = [];
  let result: RoleResult = "absent";
  const current =
    hint.otherShape === "absent"
      ? stackScopes(config).map((scope) => stackRoleName(config, stackId, scope))
      : stackRoleNames(config, stackId);
  const spaces = new Set<string>();
  const names = hint.otherShape === "absent" ? current : everyStackRoleName(config, stackId);
  for (const name of names) {
    const observed = await deps.roles.describe(name);
    if (observed === undefined) continue;
    if (!isRoleOf(config, observed, owner)) {
      // Not the stack's role: left alone. A role we did not create at one of this scheme's
      // names is refused, as ever; another resource's role there (a name of the previous
      // scheme: stack `foo`'s `…-foo-read` is stack `foo-read`'s name now) is only skipped.
      if (current.includes(name)) {
        const holder = describeHolder(config, observed, owner);
        if (isManagedByUs(config, observed.tags, observed.path)) skipped.push(holder);
        else blocked.push(holder);
      }
      continue;
    }
    const removed = await removeRole(observed, deps, owner);
    const space = observed.tags[SPACE_TAG];
    if (space !== undefined) spaces.add(space);
    changes.push(
      ...removed.map((change) =>
        name === stackRoleName(config, stackId) ? change : `${name}: ${change}`,
      ),
    );
    result = "deleted";
  }
  // The roles are gone: their space stops counting the stack.
  for (const space of spaces) await deps.spaceRoleCap?.quota.release(space, stackId);
  // The stack's own roles are gone; its parameters stay while a role of its name is someone else's.
  if (blocked.length > 0) throw new ForeignResourceError(blocked.join("; "));
  const parameter = await deps.parameters.remove(stackParameterName(config, stackId));
  // Without the split, the read-role parameter belongs to the other shape.
  if (hint.otherShape !== "absent" || shape === "split") {
    const readParameter = await deps.parameters.remove(stackParameterName(config, stackId, "read"));
    if (readParameter === "deleted") changes.push("deleteParameter read-role-arn");
  }
  return {
    resource: `stack:${stackId}`,
    result,
    roleName: stackRoleName(config, stackId, stackScopes(config)[0]),
    parameter,
    changes,
    ...(skipped.length > 0 && { skipped }),
    // Nothing of either shape is left.
    shape,
  };
}

/** Removes a space's role, everything attached, and parameter. */
export async function removeSpace(
  spaceId: SpaceId,
  deps: Pick<ProvisionerDeps, "config" | "roles" | "parameters">,
): Promise<ProvisionOutcome> {
  return removeBinding(`space:${spaceId}`, deps, {
    roleName: spaceRoleName(deps.config, spaceId),
    legacyRoleName: legacySpaceRoleName(deps.config, spaceId),
    parameterName: spaceParameterName(deps.config, spaceId),
    owner: { kind: "space", id: spaceId },
  });
}

function spaceOf(observed: ObservedRole | undefined): SpaceId | undefined {
  const value = observed?.tags[SPACE_TAG];
  return isSpaceId(value) ? value : undefined;
}

interface BindingResult {
  readonly result: RoleResult;
  readonly roleName: string;
  readonly roleArn: string;
  readonly parameter: "created" | "updated" | "unchanged";
  readonly changes: readonly string[];
}

/**
 * Makes one role and its parameter match the binding; `blocked` (nothing written) when a role
 * of the binding's name belongs to another resource or is not ours.
 */
async function ensureBinding(
  binding: RoleBinding,
  deps: ConvergeDeps,
  options: {
    observed: ObservedRole | undefined | "unread";
    keepPolicies: boolean;
    owner: RoleOwner;
  },
): Promise<BindingResult | { readonly blocked: string }> {
  const { role, parameterName } = binding;
  const ensured = await ensureRole(role, deps, options);
  if ("blocked" in ensured) return ensured;
  const parameter = await deps.parameters.publish(parameterName, ensured.arn, role.tags, {
    fresh: ensured.result === "created",
  });
  return {
    result: ensured.result,
    roleName: role.name,
    roleArn: ensured.arn,
    parameter,
    changes: ensured.changes,
  };
}

async function ensureRole(
  spec: RoleSpec,
  deps: Pick<ProvisionerDeps, "config" | "roles" | "sleep">,
  options: {
    observed: ObservedRole | undefined | "unread";
    keepPolicies: boolean;
    owner: RoleOwner;
  },
): Promise<{ result: RoleResult; arn: string; changes: string[] } | { blocked: string }> {
  let observed = options.observed;
  const boundary = boundaryOf(deps.config);
  if (boundary !== undefined && spec.permissionsBoundaryArn !== boundary) {
    // Never create or keep a role without the configured boundary.
    throw new PolicyRenderError(`role ${spec.name} lacks the configured permissions boundary`);
  }
  if (observed === undefined || observed === "unread") {
    const created = await deps.roles.create(spec);
    if (created !== "exists") {
      // Policies go on after the role exists; if anything below fails, the retry takes the
      // "exists" path and converges from whatever was done.
      for (const arn of spec.managedPolicyArns) await deps.roles.attachPolicy(spec.name, arn);
      for (const [policyName, document] of Object.entries(spec.inlinePolicies)) {
        await deps.roles.putInlinePolicy(spec.name, policyName, document);
      }
      await waitUntilReadable(spec.name, deps);
      return { result: "created", arn: created.arn, changes: ["createRole"] };
    }
    observed = await deps.roles.describe(spec.name);
    if (observed === undefined) {
      // Created and deleted under our feet; let the queue retry from the start.
      throw new NotYetReadableError(`role ${spec.name} exists but cannot be read yet`);
    }
  }
  if (!isRoleOf(deps.config, observed, options.owner)) {
    return { blocked: describeHolder(deps.config, observed, options.owner) };
  }
  const changes = diffRole(observed, spec, { keepPolicies: options.keepPolicies });
  for (const change of changes) await applyChange(deps.roles, spec.name, change);
  return {
    result: changes.length > 0 ? "updated" : "unchanged",
    arn: observed.arn,
    changes: changes.map(describeChange),
  };
}

function assertOurs(observed: ObservedRole, config: VendingConfig, owner: RoleOwner): void {
  if (!isRoleOf(config, observed, owner)) {
    throw new ForeignResourceError(describeHolder(config, observed, owner));
  }
}

/** IAM is eventually consistent: poll with exponential backoff until the role can be read. */
async function waitUntilReadable(
  name: string,
  deps: Pick<ProvisionerDeps, "roles" | "sleep">,
): Promise<void> {
  let delay = 100;
  for (let attempt = 0; attempt < 8; attempt++) {
    if (await deps.roles.isReadable(name)) return;
    await deps.sleep(delay);
    delay = Math.min(delay * 2, 3200);
  }
  throw new NotYetReadableError(`role ${name} was created but is not readable yet`);
}

async function applyChange(roles: RoleStore, name: string, change: RoleChange): Promise<void> {
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

function describeChange(change: RoleChange): string {
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

/** Removes a role we manage, everything attached to it, and its parameter. */
async function removeBinding(
  resource: string,
  deps: Pick<ProvisionerDeps, "config" | "roles" | "parameters">,
  target: { roleName: string; legacyRoleName: string; parameterName: string; owner: RoleOwner },
): Promise<ProvisionOutcome> {
  const changes: string[] = [];
  let result: RoleResult = "absent";
  if (target.legacyRoleName !== target.roleName) {
    // The previous scheme's name: removed only if it is this resource's role.
    const legacy = await deps.roles.describe(target.legacyRoleName);
    if (legacy !== undefined && isRoleOf(deps.config, legacy, target.owner)) {
      const removed = await removeRole(legacy, deps, target.owner);
      changes.push(...removed.map((change) => `${target.legacyRoleName}: ${change}`));
      result = "deleted";
    }
  }
  const observed = await deps.roles.describe(target.roleName);
  let skipped: string | undefined;
  if (observed !== undefined) {
    if (
      !isRoleOf(deps.config, observed, target.owner) &&
      isManagedByUs(deps.config, observed.tags, observed.path)
    ) {
      // Ours, but another resource's (as its tags say): left alone, like a stack's.
      skipped = describeHolder(deps.config, observed, target.owner);
    } else {
      changes.push(...(await removeRole(observed, deps, target.owner)));
      result = "deleted";
    }
  }
  const parameter = await deps.parameters.remove(target.parameterName);
  return {
    resource,
    result,
    roleName: target.roleName,
    parameter,
    changes,
    ...(skipped !== undefined && { skipped: [skipped] }),
  };
}

/** Removes one role we manage and everything attached to it; returns the changes made. */
async function removeRole(
  observed: ObservedRole,
  deps: Pick<ProvisionerDeps, "config" | "roles">,
  owner: RoleOwner,
): Promise<string[]> {
  assertOurs(observed, deps.config, owner);
  const changes: string[] = [];
  // The provisioner's IAM policy allows detaching, deleting policies and deleting the role only
  // on a role that carries the configured boundary: put it back first if someone took it off.
  const boundary = boundaryOf(deps.config);
  if (boundary !== undefined && observed.permissionsBoundaryArn !== boundary) {
    await deps.roles.putPermissionsBoundary(observed.name, boundary);
    changes.push(`putPermissionsBoundary ${boundary}`);
  }
  // IAM refuses to delete a role with policies attached (DeleteConflict): detach first.
  for (const arn of observed.managedPolicyArns) {
    await deps.roles.detachPolicy(observed.name, arn);
    changes.push(`detachPolicy ${arn}`);
  }
  for (const policyName of Object.keys(observed.inlinePolicies)) {
    await deps.roles.deleteInlinePolicy(observed.name, policyName);
    changes.push(`deleteInlinePolicy ${policyName}`);
  }
  await deps.roles.delete(observed.name);
  changes.push("deleteRole");
  return changes;
}

export type MessageOutcome =
  | {
      readonly result: "applied";
      readonly event: ResourceEvent;
      readonly outcome: ProvisionOutcome;
    }
  | {
      readonly result: "dropped";
      readonly reason: string;
      readonly error: Error;
      readonly event?: ResourceEvent;
    }
  | { readonly result: "ignored"; readonly reason: string };

/**
 * One queued message. What can never succeed (an invalid event, a role we must not touch) is
 * reported as dropped; anything else throws, so the queue redelivers it (and, after the
 * configured number of receives, moves it to the dead-letter queue).
 */
export async function processMessage(body: string, deps: ProvisionerDeps): Promise<MessageOutcome> {
  let event: AuditEvent;
  try {
    event = parseAuditEvent(body, {
      account: deps.config.spaceliftAccount,
      defaultSpaceId: deps.config.defaultSpaceId,
    });
  } catch (error) {
    if (error instanceof HttpError) return { result: "dropped", reason: "invalid event", error };
    throw error;
  }
  if (event.type === "ignored") return { result: "ignored", reason: event.reason };
  try {
    return { result: "applied", event, outcome: await applyEvent(event, deps) };
  } catch (error) {
    if (error instanceof PermanentEventError) {
      return { result: "dropped", reason: error.message, error, event };
    }
    throw error;
  }
}
