/**
 * Spacelift's stacks, spaces and audit entries as they enter: each ID is parsed here, once,
 * into the brands of identifiers.ts, and a resource whose ID fails is kept apart as
 * {@link UnusableSpaceliftResource} (reported, and still counted as listed), never passed on.
 */

import { isSpaceId, isStackId } from "../core/identifiers.ts";
import type {
  AffectedResource,
  SpaceliftSpace,
  SpaceliftStack,
  UnusableSpaceliftResource,
} from "../core/ports.ts";

/** A stack as the API gives it: any strings. */
export interface StackFields {
  readonly id: string;
  readonly space: string;
  readonly labels: readonly string[];
}

/** A space as the API gives it: any strings. */
export interface SpaceFields {
  readonly id: string;
  readonly name: string;
  readonly parentSpace: string | null;
  readonly labels: readonly string[];
}

export function parseStack(fields: StackFields): SpaceliftStack | UnusableSpaceliftResource {
  const { id, space, labels } = fields;
  if (!isStackId(id)) return { kind: "stack", id, reason: "the stack ID is not a valid stack ID" };
  if (!isSpaceId(space)) {
    return { kind: "stack", id, reason: "the stack's space is not a valid space ID" };
  }
  return { id, space, labels };
}

/**
 * `parent: "as-none"` (a listing) takes a parent whose ID fails as no parent, as the reconciler
 * always has; `"unusable"` (one space looked up) makes the space unusable, as the catch-up
 * always has.
 */
export function parseSpace(
  fields: SpaceFields,
  parent: "as-none" | "unusable",
): SpaceliftSpace | UnusableSpaceliftResource {
  const { id, name, parentSpace, labels } = fields;
  if (!isSpaceId(id)) return { kind: "space", id, reason: "the space ID is not a valid space ID" };
  if (parentSpace !== null && !isSpaceId(parentSpace)) {
    if (parent === "unusable") {
      return { kind: "space", id, reason: "the space's parent is not a valid space ID" };
    }
    return { id, name, parentSpace: null, labels };
  }
  return { id, name, parentSpace, labels };
}

/** The resource an audit entry affected, its ID parsed by its `resourceType`. */
export function parseAffectedResource(
  resourceType: string,
  resourceId: string | null,
): AffectedResource {
  if (resourceType === "STACK" && isStackId(resourceId)) return { kind: "stack", id: resourceId };
  if (resourceType === "SPACE" && isSpaceId(resourceId)) return { kind: "space", id: resourceId };
  return { kind: "unusable" };
}

/** Parsed resources, split into the usable and the unusable. */
export function partitionResources<T extends object>(
  parsed: readonly (T | UnusableSpaceliftResource)[],
): { usable: T[]; unusable: UnusableSpaceliftResource[] } {
  const usable: T[] = [];
  const unusable: UnusableSpaceliftResource[] = [];
  for (const resource of parsed) {
    if ("reason" in resource) unusable.push(resource);
    else usable.push(resource);
  }
  return { usable, unusable };
}
