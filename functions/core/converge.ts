/**
 * The converge engine both Lambdas share: makes a stack's or space's role(s) and parameter(s)
 * what the configuration says they should be, convergently (a role that is already right gets
 * no write call), within the space's role cap, replacing the roles of the previous naming
 * scheme and of the other stack shape.
 */

import { boundaryOf, type VendingConfig } from "./config.ts";
import type { ProvisionOutcome, RoleResult, StackFacts, StackHint } from "./converge-contract.ts";
import {
  ForeignResourceError,
  NotYetReadableError,
  PolicyRenderError,
  SpaceRoleCapError,
} from "./errors.ts";
import { isSpaceId, resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import type {
  ObservedRole,
  ParameterStore,
  RoleQuotaGate,
  RoleSpec,
  RoleStore,
  SpacePathStore,
  SpaceRoleCap,
} from "./ports.ts";
import { removeRole } from "./remove.ts";
import { applyRoleChange, describeRoleChange, diffRole } from "./role-diff.ts";
import {
  everyStackRoleName,
  legacySpaceRoleName,
  legacyStackRoleNames,
  stackParameterName,
  stackRoleName,
} from "./role-names.ts";
import {
  describeHolder,
  isRoleOf,
  labelsFromTags,
  type RoleOwner,
  SPACE_TAG,
  STACK_TAG,
} from "./role-ownership.ts";
import {
  type RoleBinding,
  spaceBinding,
  stackBindings,
  stackScopes,
  stackShape,
} from "./role-spec.ts";
import { spacePathFor } from "./space-path.ts";

/** What converging a stack or space needs: the ports it writes to and the configuration. */
export interface ConvergeDeps {
  readonly config: VendingConfig;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  /**
   * Space names and parents, kept from space events for `{spacePath}`. Without it a template
   * using `{spacePath}` cannot be rendered (SpacePathUnknownError).
   */
  readonly spacePaths?: SpacePathStore;
  /** Injected so tests never sleep; waits back off, never a fixed pause. */
  readonly sleep: (ms: number) => Promise<void>;
  /** The per-space cap on stack roles (MAX_ROLES_PER_SPACE); undefined: no cap. */
  readonly spaceRoleCap?: SpaceRoleCap;
  /** The account's IAM role quota, checked before each CreateRole; undefined: not checked. */
  readonly roleQuota?: RoleQuotaGate;
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
    hint.otherShapeRoles === "vouched-absent"
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
    if (
      !names.includes(readName) &&
      (removedOthers || hint.otherShapeRoles === "remove-then-vouch")
    ) {
      const parameter = await deps.parameters.remove(
        stackParameterName(config, stack.stackId, "read"),
      );
      if (parameter === "deleted") changes.push("deleteParameter read-role-arn");
    }
  }
  // Moved: every role now says the new space, so the old one stops counting the stack.
  for (const former of formerSpaces) await deps.spaceRoleCap?.quota.release(former, stack.stackId);
  // Nothing of the other shape is left: none was there, or it was all looked for and removed.
  const vouched =
    hint.otherShapeRoles === "vouched-absent" ||
    (hint.otherShapeRoles === "remove-then-vouch" && !hint.fresh);
  const [primary, read] = results as [BindingResult, BindingResult | undefined];
  return {
    resource: resourceKey("stack", stack.stackId),
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
  return { resource: resourceKey("space", space.spaceId), ...result, changes };
}

function combineResults(results: readonly RoleResult[]): RoleResult {
  if (results.includes("created")) return "created";
  if (results.some((result) => result !== "unchanged")) return "updated";
  return "unchanged";
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
  deps: Pick<ConvergeDeps, "config" | "roles" | "sleep" | "roleQuota">,
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
    // Refused here, with the account's quota named, rather than by IAM's LimitExceeded.
    await deps.roleQuota?.admitCreate(spec.name);
    const created = await deps.roles.create(spec);
    if (created !== "exists") {
      deps.roleQuota?.recordCreated();
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
  for (const change of changes) await applyRoleChange(deps.roles, spec.name, change);
  return {
    result: changes.length > 0 ? "updated" : "unchanged",
    arn: observed.arn,
    changes: changes.map(describeRoleChange),
  };
}

/** IAM is eventually consistent: poll with exponential backoff until the role can be read. */
async function waitUntilReadable(
  name: string,
  deps: Pick<ConvergeDeps, "roles" | "sleep">,
): Promise<void> {
  let delay = 100;
  for (let attempt = 0; attempt < 8; attempt++) {
    if (await deps.roles.isReadable(name)) return;
    await deps.sleep(delay);
    delay = Math.min(delay * 2, 3200);
  }
  throw new NotYetReadableError(`role ${name} was created but is not readable yet`);
}
