/**
 * What we manage in AWS, as read at the start of a run: our roles (path and tags) and
 * parameters (`<prefix>/<account>/stacks|spaces/<id>/…`), grouped by the Spacelift resource
 * they belong to.
 */
import { resourceKey } from "../identifiers.ts";
import type { ObservedRole } from "../ports.ts";
import {
  isManagedByUs,
  ownerFromTags,
  ownerNamed,
  type RoleOwner,
  SPACE_TAG,
} from "../role-ownership.ts";
import type { ReconcilerDeps } from "./pass-state.ts";

/**
 * Roles and parameters of one Spacelift resource, as found in AWS: the resource (its ID parsed
 * once, from the roles' tags or the parameters' names) and what it holds.
 */
export type ManagedGroup = RoleOwner & {
  readonly key: string;
  readonly roles: ObservedRole[];
  readonly parameters: { name: string; value: string }[];
};

export interface Inventory {
  readonly groups: Map<string, ManagedGroup>;
  /** Every parameter under `<prefix>/<account>/`, by name (the dry run's view of SSM). */
  readonly parameterValues: Map<string, string>;
  readonly managedRoles: number;
  /** Ours by their tags, but naming no stack or space with a valid ID: never touched. */
  readonly unrecognisedRoles: readonly ObservedRole[];
  /**
   * Every role under the role path (ours or not), as described at the start. A name it lacks
   * and {@link namesElsewhere} lacks too was no role of the account's at the start.
   */
  readonly snapshot: ReadonlyMap<string, ObservedRole | undefined>;
  /** Names of the account's roles outside the role path (never described nor touched). */
  readonly namesElsewhere: ReadonlySet<string>;
}

/** Our roles (path and tags) and parameters (`<prefix>/<account>/stacks|spaces/<id>/…`). */
export async function takeInventory(
  deps: Pick<ReconcilerDeps, "config" | "roles" | "parameters">,
): Promise<Inventory> {
  const { config } = deps;
  const groups = new Map<string, ManagedGroup>();
  const groupOf = (owner: RoleOwner): ManagedGroup => {
    const key = resourceKey(owner.kind, owner.id);
    let group = groups.get(key);
    if (group === undefined) {
      group = { ...owner, key, roles: [], parameters: [] };
      groups.set(key, group);
    }
    return group;
  };

  // A few bulk reads for the whole account (IAM's read quota is shared with every Terraform
  // run in it), not four reads per role; pages are consumed as they come.
  const snapshot = new Map<string, ObservedRole | undefined>();
  const namesElsewhere = new Set<string>();
  const unrecognisedRoles: ObservedRole[] = [];
  let managedRoles = 0;
  for await (const page of deps.roles.describeAllUnder(config.rolePath)) {
    for (const name of page.namesElsewhere) namesElsewhere.add(name);
    for (const role of page.roles) {
      snapshot.set(role.name, role);
      // Someone else's role under our path: never ours to touch.
      if (!isManagedByUs(config, role.tags, role.path)) continue;
      managedRoles += 1;
      const owner = ownerFromTags(role.tags);
      if (owner !== undefined) groupOf(owner).roles.push(role);
      else unrecognisedRoles.push(role);
    }
  }

  const base = `${config.parameterPrefix}/${config.spaceliftAccount}`;
  const parameterValues = new Map<string, string>();
  for (const parameter of await deps.parameters.listByPath(base)) {
    parameterValues.set(parameter.name, parameter.value);
    const match = /^\/(stacks|spaces)\/([^/]+)\/[^/]+$/.exec(parameter.name.slice(base.length));
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const owner = ownerNamed(match[1] === "stacks" ? "stack" : "space", match[2]);
    // Named after no valid ID: no provisioner wrote it, and it is no resource's to act on.
    if (owner !== undefined) groupOf(owner).parameters.push(parameter);
  }
  return { groups, parameterValues, managedRoles, unrecognisedRoles, snapshot, namesElsewhere };
}

/** The stacks whose roles the inventory found, with the space their roles are in. */
export function stackSpacesOf(inventory: Inventory): Map<string, string> {
  const stackSpaces = new Map<string, string>();
  for (const group of inventory.groups.values()) {
    const space = group.roles.map((role) => role.tags[SPACE_TAG]).find((tag) => tag !== undefined);
    if (group.kind === "stack" && space !== undefined) stackSpaces.set(group.id, space);
  }
  return stackSpaces;
}

/** The group's roles whose ARN no parameter of the group holds. */
export function unpublishedRoles(group: ManagedGroup): ObservedRole[] {
  const published = new Set(group.parameters.map(({ value }) => value));
  return group.roles.filter(({ arn }) => !published.has(arn));
}

/** What the inventory says about a resource Spacelift lists, as the reason of its decision. */
export function describeFindings(
  kind: "stack" | "space",
  group: ManagedGroup | undefined,
  orphanedAt: string | undefined,
): string {
  if (group === undefined) return `Spacelift lists this ${kind}; it has no role`;
  if (group.roles.length === 0) {
    return `Spacelift lists this ${kind}; its role is gone (deleted outside this product?) while its parameter remains`;
  }
  if (orphanedAt !== undefined) {
    return `Spacelift lists this ${kind} again; restoring the trust revoked at ${orphanedAt}`;
  }
  const unpublished = unpublishedRoles(group);
  if (unpublished.length > 0) {
    return `no parameter holds the ARN of ${unpublished.map(({ name }) => name).join(", ")}`;
  }
  return "drift from the configured role";
}
