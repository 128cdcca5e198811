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
import { ForeignResourceError, HttpError, PermanentEventError } from "./errors.ts";
import type { SpaceId, StackId } from "./identifiers.ts";
import { isSpaceId } from "./identifiers.ts";
import type { ObservedRole, ParameterStore, ResourceLedger, RoleSpec, RoleStore } from "./ports.ts";
import { diffRole, type RoleChange } from "./role-diff.ts";
import {
  isManagedByUs,
  type RoleBinding,
  SPACE_TAG,
  STACK_TAG,
  spaceBinding,
  spaceParameterName,
  spaceRoleName,
  stackBinding,
  stackParameterName,
  stackRoleName,
  type VendingConfig,
} from "./role-spec.ts";

export interface ProvisionerDeps {
  readonly config: VendingConfig;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  readonly ledger: ResourceLedger;
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
  readonly changes: readonly string[];
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
  // Spacelift does not deliver in order: an event older than the last one applied to this
  // resource (a create arriving after the delete) must not undo it.
  if (last !== undefined && event.timestamp < last.timestamp) {
    return {
      resource,
      result: "stale",
      roleName: roleNameOf(event, deps.config),
      changes: [],
    };
  }
  const outcome = await applyToAws(event, deps, last?.state === "present");
  await deps.ledger.record({
    resource,
    timestamp: event.timestamp,
    state: event.type.endsWith(".deleted") ? "deleted" : "present",
  });
  return outcome;
}

function roleNameOf(event: ResourceEvent, config: VendingConfig): string {
  return "stackId" in event
    ? stackRoleName(config, event.stackId)
    : spaceRoleName(config, event.spaceId);
}

async function applyToAws(
  event: ResourceEvent,
  deps: ProvisionerDeps,
  knownPresent: boolean,
): Promise<ProvisionOutcome> {
  // A fresh create tries CreateRole straight away (no read first); anything else reads the
  // role first, since the event may leave the space or labels unsaid.
  const fresh = event.action.endsWith(".create") && !knownPresent;
  switch (event.type) {
    case "stack.upserted":
      return convergeStack(
        { stackId: event.stackId, spaceId: event.spaceId, labels: event.labels },
        deps,
        { fresh },
      );
    case "space.upserted":
      return convergeSpace({ spaceId: event.spaceId }, deps, { fresh });
    case "stack.deleted":
      return removeStack(event.stackId, deps);
    case "space.deleted":
      return removeSpace(event.spaceId, deps);
  }
}

/** What is known of a stack; undefined fields keep what the role says today. */
export interface StackFacts {
  readonly stackId: StackId;
  readonly spaceId: SpaceId | undefined;
  readonly labels: readonly string[] | undefined;
}

type ConvergeDeps = Pick<ProvisionerDeps, "config" | "roles" | "parameters" | "sleep">;

/** Makes a stack's role(s) and parameter(s) what the configuration says they should be. */
export async function convergeStack(
  stack: StackFacts,
  deps: ConvergeDeps,
  hint: { fresh: boolean } = { fresh: false },
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const name = stackRoleName(config, stack.stackId);
  const observed = hint.fresh ? undefined : await deps.roles.describe(name);
  const binding = stackBinding(config, {
    stackId: stack.stackId,
    spaceId: stack.spaceId ?? spaceOf(observed) ?? config.defaultSpaceId,
    labels: stack.labels ?? [],
  });
  return ensureBinding(`stack:${stack.stackId}`, binding, deps, {
    observed: hint.fresh ? "unread" : observed,
    keepPolicies: stack.labels === undefined && observed !== undefined,
    owner: { tag: STACK_TAG, value: stack.stackId },
  });
}

/** Makes a space's role and parameter what the configuration says they should be. */
export async function convergeSpace(
  space: { readonly spaceId: SpaceId },
  deps: ConvergeDeps,
  hint: { fresh: boolean } = { fresh: false },
): Promise<ProvisionOutcome> {
  const binding = spaceBinding(deps.config, { spaceId: space.spaceId });
  return ensureBinding(`space:${space.spaceId}`, binding, deps, {
    observed: hint.fresh ? "unread" : await deps.roles.describe(binding.role.name),
    keepPolicies: false,
    owner: { tag: SPACE_TAG, value: space.spaceId },
  });
}

/** Removes a stack's role(s), everything attached, and parameter(s). */
export async function removeStack(
  stackId: StackId,
  deps: Pick<ProvisionerDeps, "config" | "roles" | "parameters">,
): Promise<ProvisionOutcome> {
  return removeBinding(`stack:${stackId}`, deps, {
    roleName: stackRoleName(deps.config, stackId),
    parameterName: stackParameterName(deps.config, stackId),
    owner: { tag: STACK_TAG, value: stackId },
  });
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

/** Makes one role and its parameter match the binding. */
async function ensureBinding(
  resource: string,
  binding: RoleBinding,
  deps: ConvergeDeps,
  options: { observed: ObservedRole | undefined | "unread"; keepPolicies: boolean; owner: Owner },
): Promise<ProvisionOutcome> {
  const { role, parameterName } = binding;
  const ensured = await ensureRole(role, deps, options);
  const parameter = await deps.parameters.publish(parameterName, ensured.arn, role.tags, {
    fresh: ensured.result === "created",
  });
  return {
    resource,
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
    assertOurs(observed, deps.config, target.owner);
    // IAM refuses to delete a role with policies attached (DeleteConflict): detach first.
    for (const arn of observed.managedPolicyArns) {
      await deps.roles.detachPolicy(target.roleName, arn);
      changes.push(`detachPolicy ${arn}`);
    }
    for (const policyName of Object.keys(observed.inlinePolicies)) {
      await deps.roles.deleteInlinePolicy(target.roleName, policyName);
      changes.push(`deleteInlinePolicy ${policyName}`);
    }
    result = await deps.roles.delete(target.roleName);
    changes.push("deleteRole");
  }
  const parameter = await deps.parameters.remove(target.parameterName);
  return { resource, result, roleName: target.roleName, parameter, changes };
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
