/**
 * The one removal path for the roles and parameters we vend: a stack's roles (every shape),
 * a space's role, each with its parameters; one role at a time, its boundary restored first,
 * its policies detached and deleted before the role. Used by events (stack/space deleted),
 * by the converge engine for the roles it replaces, and by the reconciler.
 */

import { boundaryOf, type VendingConfig } from "./config.ts";
import type { ProvisionOutcome, RoleResult, StackHint } from "./converge-contract.ts";
import { ForeignResourceError } from "./errors.ts";
import { resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import type { ObservedRole, ParameterStore, RoleStore, SpaceRoleCap } from "./ports.ts";
import {
  everyStackRoleName,
  legacySpaceRoleName,
  spaceParameterName,
  spaceRoleName,
  stackParameterName,
  stackRoleName,
  stackRoleNames,
} from "./role-names.ts";
import {
  describeHolder,
  isManagedByUs,
  isRoleOf,
  type RoleOwner,
  SPACE_TAG,
} from "./role-ownership.ts";
import { stackScopes, stackShape } from "./role-spec.ts";

/** What removing needs; `spaceRoleCap`, for a stack, to stop counting it in its space. */
export interface RemoveDeps {
  readonly config: VendingConfig;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  readonly spaceRoleCap?: SpaceRoleCap;
}

/**
 * Removes a stack's roles (every shape: unsplit, write, read, unless the other shape than the
 * configuration's is known to be absent), everything attached, and parameters.
 */
export async function removeStack(
  stackId: StackId,
  deps: RemoveDeps,
  hint: Pick<StackHint, "otherShapeRoles"> = {},
): Promise<ProvisionOutcome> {
  const { config } = deps;
  const shape = stackShape(config);
  const owner: RoleOwner = { kind: "stack", id: stackId };
  const changes: string[] = [];
  const blocked: string[] = [];
  const skipped: string[] = [];
  let result: RoleResult = "absent";
  const current =
    hint.otherShapeRoles === "vouched-absent"
      ? stackScopes(config).map((scope) => stackRoleName(config, stackId, scope))
      : stackRoleNames(config, stackId);
  const spaces = new Set<string>();
  const names =
    hint.otherShapeRoles === "vouched-absent" ? current : everyStackRoleName(config, stackId);
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
  if (hint.otherShapeRoles !== "vouched-absent" || shape === "split") {
    const readParameter = await deps.parameters.remove(stackParameterName(config, stackId, "read"));
    if (readParameter === "deleted") changes.push("deleteParameter read-role-arn");
  }
  return {
    resource: resourceKey("stack", stackId),
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
  deps: Omit<RemoveDeps, "spaceRoleCap">,
): Promise<ProvisionOutcome> {
  return removeBinding(resourceKey("space", spaceId), deps, {
    roleName: spaceRoleName(deps.config, spaceId),
    legacyRoleName: legacySpaceRoleName(deps.config, spaceId),
    parameterName: spaceParameterName(deps.config, spaceId),
    owner: { kind: "space", id: spaceId },
  });
}

function assertOurs(observed: ObservedRole, config: VendingConfig, owner: RoleOwner): void {
  if (!isRoleOf(config, observed, owner)) {
    throw new ForeignResourceError(describeHolder(config, observed, owner));
  }
}

/** Removes a role we manage, everything attached to it, and its parameter. */
async function removeBinding(
  resource: string,
  deps: Omit<RemoveDeps, "spaceRoleCap">,
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

/**
 * Removes one role we manage and everything attached to it; returns the changes made. Refuses
 * (ForeignResourceError) a role that is not `owner`'s.
 */
export async function removeRole(
  observed: ObservedRole,
  deps: Pick<RemoveDeps, "config" | "roles">,
  owner: RoleOwner,
): Promise<string[]> {
  assertOurs(observed, deps.config, owner);
  const changes = await restoreBoundary(observed, deps);
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

/**
 * Removes the role of that name if it exists (see {@link removeRole}); no change when it is
 * already gone.
 */
export async function removeRoleNamed(
  name: string,
  deps: Pick<RemoveDeps, "config" | "roles">,
  owner: RoleOwner,
): Promise<string[]> {
  const observed = await deps.roles.describe(name);
  return observed === undefined ? [] : removeRole(observed, deps, owner);
}

/**
 * The provisioner's and reconciler's IAM policy allows writes (trust, detaching, deleting
 * policies and the role) only on a role that carries the configured boundary: puts it back if
 * someone took it off. Returns the change made, if any.
 */
export async function restoreBoundary(
  observed: ObservedRole,
  deps: Pick<RemoveDeps, "config" | "roles">,
): Promise<string[]> {
  const boundary = boundaryOf(deps.config);
  if (boundary === undefined || observed.permissionsBoundaryArn === boundary) return [];
  await deps.roles.putPermissionsBoundary(observed.name, boundary);
  return [`putPermissionsBoundary ${boundary}`];
}
