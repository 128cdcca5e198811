/** Spacelift's list of spaces as the pass's source of `{spacePath}`, and recorded for the provisioner. */
import { EVENT_CLOCK_SKEW_MS } from "../audit-event.ts";
import { resourceKey } from "../identifiers.ts";
import type { SpaceliftSpace, SpaceNode } from "../ports.ts";
import { recordSpace } from "../space-path.ts";
import { templateUses } from "../subject.ts";
import { failedDecision } from "./decisions.ts";
import { addDecision, type Pass } from "./pass-state.ts";
import { mapWithConcurrency } from "./pool.ts";

/**
 * Spacelift's own list of spaces as the source of `{spacePath}` for this run (converge only
 * reads it), falling back to what space events recorded. When not a dry run, the recorded
 * names and parents are brought up to date too, so the provisioner renders the same paths.
 */
export async function useSpaceliftSpaces(
  pass: Pass,
  spaces: readonly SpaceliftSpace[],
): Promise<void> {
  const persistent = pass.deps.spacePaths;
  const nodes = new Map<string, SpaceNode>();
  for (const space of spaces) {
    nodes.set(space.id, {
      spaceId: space.id,
      name: space.name,
      parentSpaceId: space.parentSpace ?? undefined,
    });
  }
  pass.spacePaths = {
    get: async (spaceId) => nodes.get(spaceId) ?? persistent?.get(spaceId),
    put: async () => {},
    remove: async () => {},
  };
  // Only a template with {spacePath} reads the recorded paths; otherwise leave them to events.
  const needed = templateUses(pass.deps.config.subjectTemplate, "spacePath");
  if (persistent === undefined || !needed || pass.deps.settings.dryRun) return;
  // As of the listing (like the ledger's entries): a space event applied since, dated after it,
  // keeps what it recorded instead of getting the listed name back.
  const timestamp = pass.listedAt ?? pass.deps.now().getTime() - EVENT_CLOCK_SKEW_MS;
  await mapWithConcurrency([...nodes.values()], pass.deps.settings.concurrency, async (node) => {
    try {
      await recordSpace(node, { spacePaths: persistent }, timestamp);
    } catch (error) {
      addDecision(
        pass,
        failedDecision(
          "update",
          {
            resource: resourceKey("space", node.spaceId),
            reason: "recording the space's name and parent (for {spacePath}) failed",
          },
          error,
          pass.deps.settings.dryRun,
        ),
      );
    }
  });
}
