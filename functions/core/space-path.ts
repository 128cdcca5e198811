/**
 * Where a space sits in Spacelift's space tree, for subject templates that use `{spacePath}`:
 * what space events (and the reconciler's listing) say of each space's name and parent, and
 * the path resolved from it. Rendering the template is subject.ts's.
 */

import type { VendingConfig } from "./config.ts";
import type { SpaceId } from "./identifiers.ts";
import type { SpacePathStore } from "./ports.ts";
import { mergeSpaceNode, resolveSpacePath, templateUses } from "./subject.ts";

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
  deps: { readonly spacePaths?: SpacePathStore | undefined },
  timestamp: number = Date.now(),
): Promise<void> {
  if (deps.spacePaths === undefined) return;
  const known = await deps.spacePaths.get(space.spaceId);
  const merged = mergeSpaceNode(known, space);
  if (known?.name === merged.name && known?.parentSpaceId === merged.parentSpaceId) return;
  await deps.spacePaths.put(merged, timestamp);
}

/** The space's path, read only when the subject template needs it. */
export async function spacePathFor(
  spaceId: SpaceId,
  deps: {
    readonly config: Pick<VendingConfig, "subjectTemplate">;
    readonly spacePaths?: SpacePathStore | undefined;
  },
): Promise<string | undefined> {
  if (!templateUses(deps.config.subjectTemplate, "spacePath")) return undefined;
  return resolveSpacePath(spaceId, deps.spacePaths);
}
