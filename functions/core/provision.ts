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
  StackFactsRecord,
  StackShape,
  TimedFact,
} from "./ports.ts";
import { diffRole, type RoleChange } from "./role-diff.ts";
import {
  boundaryOf,
  isManagedByUs,
  labelsFromTags,
  type RoleBinding,
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
  if (last !== undefined && event.timestamp < last.timestamp) {
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
        ...(outcome.shape && { shape: outcome.shape }),
      });
      return outcome;
    }
    await deps.ledger.record({ ...last, ...(facts && { facts }) });
    return stale;
  }
  const otherShape =
    event.type === "stack.upserted"
      ? await readyToConverge(last, deps)
      : event.type === "stack.deleted" && last?.shape === stackShape(deps.config)
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
    await deps.ledger.record({ ...entry, ...(outcome.shape && { shape: outcome.shape }) });
    return outcome;
  } catch (error) {
    // A refusal may come after AWS was already changed (the role written, then its parameter
    // found to be someone else's): the event still counts as the latest, so that an older
    // event delivered later cannot undo what this one did. What the ledger vouched for of the
    // stack's shape still holds if the event touched only that shape's roles.
    if (error instanceof PermanentEventError) {
      const shape = otherShape === "absent" ? last?.shape : undefined;
      await deps.ledger.record({ ...entry, ...(shape && { shape }) });
    }
    throw error;
  }
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
  if (last?.shape === undefined) return "verify";
  if (last.shape === stackShape(deps.config)) return "absent";
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
  const { shape: _vouched, ...rest } = entry;
  return rest;
}

/**
 * Records what Spacelift's API said of a stack (the reconciler's truth at `timestamp`) as the
 * stack's known space and labels, so that a later event that leaves them unsaid, or an older
 * event delivered late, does not undo what the reconciler repaired.
 */
export async function recordStackFacts(
  ledger: ResourceLedger,
  stack: {
    readonly stackId: StackId;
    readonly spaceId: SpaceId;
    readonly labels: readonly string[];
  },
  timestamp: number,
): Promise<void> {
  const resource = `stack:${stack.stackId}`;
  const last = await ledger.get(resource);
  const facts = mergeFacts(last?.facts, stack, timestamp);
  if (last !== undefined && facts === last.facts) return;
  // This write may land between the provisioner's own read and write of the entry: it never
  // vouches for a shape, so it cannot bring back a vouching the provisioner just dropped.
  await ledger.record({
    ...(last === undefined
      ? { resource, timestamp: 0, state: "present" as const }
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
    case "stack.deleted":
      return removeStack(event.stackId, deps, { otherShape });
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
  "config" | "roles" | "parameters" | "sleep" | "spacePaths"
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
 * labels are the attached policies left as they are.
 */
export async function convergeStack(
  stack: StackFacts,
  deps: ConvergeDeps,
  hint: StackHint = { fresh: false },
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const scopes = stackScopes(config);
  const names = scopes.map((scope) => stackRoleName(config, stack.stackId, scope));
  const others =
    hint.otherShape === "absent"
      ? []
      : stackRoleNames(config, stack.stackId).filter((name) => !names.includes(name));
  // Every shape's role is read (unless the stack is brand new, or the other shape is known to
  // be absent): the current shape's to converge, the other shape's (left from before the split
  // was switched) to remove.
  const observed = new Map<string, ObservedRole | undefined>();
  if (!hint.fresh) {
    for (const name of [...names, ...others]) observed.set(name, await deps.roles.describe(name));
  }
  // What the stack's existing role says of its space and labels, if the event does not.
  const facts = [...observed.values()].find((role) => role?.tags[STACK_TAG] === stack.stackId);
  const spaceId = stack.spaceId ?? spaceOf(facts) ?? config.defaultSpaceId;
  const labels = stack.labels ?? (facts === undefined ? undefined : labelsFromTags(facts.tags));
  const bindings = stackBindings(config, {
    stackId: stack.stackId,
    spaceId,
    labels: labels ?? (facts === undefined ? [] : undefined),
    spacePath: await spacePathFor(spaceId, deps),
  });
  const results: BindingResult[] = [];
  for (const binding of bindings) {
    const current = observed.get(binding.role.name);
    results.push(
      await ensureBinding(binding, deps, {
        observed: hint.fresh ? "unread" : current,
        keepPolicies: labels === undefined && current !== undefined,
        owner: { tag: STACK_TAG, value: stack.stackId },
      }),
    );
  }
  const changes = results.flatMap((result, index) =>
    index === 0 ? result.changes : result.changes.map((change) => `${result.roleName}: ${change}`),
  );
  if (!hint.fresh) {
    // Roles of the other shape (the split was switched on or off) go once the new ones exist.
    for (const name of others) {
      const role = observed.get(name);
      if (role === undefined) continue;
      const removed = await removeRole(role, deps, { tag: STACK_TAG, value: stack.stackId });
      changes.push(...removed.map((change) => `${name}: ${change}`));
    }
    const readName = stackRoleName(config, stack.stackId, "read");
    if (
      !names.includes(readName) &&
      (observed.get(readName) !== undefined || hint.otherShape === "verify")
    ) {
      const parameter = await deps.parameters.remove(
        stackParameterName(config, stack.stackId, "read"),
      );
      if (parameter === "deleted") changes.push("deleteParameter read-role-arn");
    }
  }
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
  const result = await ensureBinding(binding, deps, {
    observed: hint.fresh ? "unread" : await deps.roles.describe(binding.role.name),
    keepPolicies: false,
    owner: { tag: SPACE_TAG, value: space.spaceId },
  });
  return { resource: `space:${space.spaceId}`, ...result };
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
  deps: Pick<ProvisionerDeps, "config" | "roles" | "parameters">,
  hint: Pick<StackHint, "otherShape"> = {},
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const shape = stackShape(config);
  const owner = { tag: STACK_TAG, value: stackId };
  const changes: string[] = [];
  let result: RoleResult = "absent";
  const names =
    hint.otherShape === "absent"
      ? stackScopes(config).map((scope) => stackRoleName(config, stackId, scope))
      : stackRoleNames(config, stackId);
  for (const name of names) {
    const observed = await deps.roles.describe(name);
    if (observed === undefined) continue;
    const removed = await removeRole(observed, deps, owner);
    changes.push(
      ...removed.map((change) =>
        name === stackRoleName(config, stackId) ? change : `${name}: ${change}`,
      ),
    );
    result = "deleted";
  }
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
    parameterName: spaceParameterName(deps.config, spaceId),
    owner: { tag: SPACE_TAG, value: spaceId },
  });
}

function spaceOf(observed: ObservedRole | undefined): SpaceId | undefined {
  const value = observed?.tags[SPACE_TAG];
  return isSpaceId(value) ? value : undefined;
}

interface Owner {
  readonly tag: string;
  readonly value: StackId | SpaceId | string;
}

interface BindingResult {
  readonly result: RoleResult;
  readonly roleName: string;
  readonly roleArn: string;
  readonly parameter: "created" | "updated" | "unchanged";
  readonly changes: readonly string[];
}

/** Makes one role and its parameter match the binding. */
async function ensureBinding(
  binding: RoleBinding,
  deps: ConvergeDeps,
  options: { observed: ObservedRole | undefined | "unread"; keepPolicies: boolean; owner: Owner },
): Promise<BindingResult> {
  const { role, parameterName } = binding;
  const ensured = await ensureRole(role, deps, options);
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
  options: { observed: ObservedRole | undefined | "unread"; keepPolicies: boolean; owner: Owner },
): Promise<{ result: RoleResult; arn: string; changes: string[] }> {
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
  assertOurs(observed, deps.config, options.owner);
  const changes = diffRole(observed, spec, { keepPolicies: options.keepPolicies });
  for (const change of changes) await applyChange(deps.roles, spec.name, change);
  return {
    result: changes.length > 0 ? "updated" : "unchanged",
    arn: observed.arn,
    changes: changes.map(describeChange),
  };
}

function assertOurs(observed: ObservedRole, config: VendingConfig, owner: Owner): void {
  if (
    !isManagedByUs(config, observed.tags, observed.path) ||
    observed.tags[owner.tag] !== owner.value
  ) {
    throw new ForeignResourceError(
      `role ${observed.name} exists but was not created by spacelift-role-vending for this resource; leaving it untouched`,
    );
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
  target: { roleName: string; parameterName: string; owner: Owner },
): Promise<ProvisionOutcome> {
  const observed = await deps.roles.describe(target.roleName);
  const changes: string[] = [];
  let result: RoleResult = "absent";
  if (observed !== undefined) {
    changes.push(...(await removeRole(observed, deps, target.owner)));
    result = "deleted";
  }
  const parameter = await deps.parameters.remove(target.parameterName);
  return { resource, result, roleName: target.roleName, parameter, changes };
}

/** Removes one role we manage and everything attached to it; returns the changes made. */
async function removeRole(
  observed: ObservedRole,
  deps: Pick<ProvisionerDeps, "config" | "roles">,
  owner: Owner,
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
