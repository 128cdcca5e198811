/** Repairs each space's count of stacks with roles (MAX_ROLES_PER_SPACE) after a pass. */
import { resourceKey } from "../identifiers.ts";
import { failedDecision } from "./decisions.ts";
import { deletedSince } from "./ledger-listing.ts";
import { addDecision, type Pass } from "./pass-state.ts";
import { mapWithConcurrency } from "./pool.ts";
import { isEmptyListing, type SpaceliftListing } from "./spacelift-listing.ts";

/** Clock difference allowed between the provisioner that admitted a stack and the reconciler. */
const COUNT_CLOCK_SKEW_MS = 60_000;

/**
 * Makes each space's count of stacks (MAX_ROLES_PER_SPACE) match the roles that exist, so a
 * count left wrong (a crash between counting and creating, a missed delete, roles from before
 * the cap) heals: a stack whose roles are in the space is counted; a counted stack with no role
 * there that Spacelift does not list there either stops being counted, but only if it was
 * counted before this run started (so before Spacelift was listed): a stack admitted since, its
 * role not yet visible to this run, stays counted.
 */
export async function repairSpaceCounts(
  pass: Pass,
  listing: SpaceliftListing,
  runStart: number,
): Promise<void> {
  const cap = pass.deps.spaceRoleCap;
  if (cap === undefined || pass.deps.settings.dryRun) return;
  // The empty answer of an expired token is not the truth (see isEmptyListing).
  if (isEmptyListing(listing)) return;
  const listedIn = new Map<string, string>(listing.stacks.map((stack) => [stack.id, stack.space]));
  const spaces = new Set([...listing.spaces.map(({ id }) => id), ...pass.stackSpaces.values()]);
  const before = runStart - COUNT_CLOCK_SKEW_MS;
  await mapWithConcurrency([...spaces].sort(), pass.deps.settings.concurrency, async (spaceId) => {
    const changes: string[] = [];
    const base = {
      resource: resourceKey("space", spaceId),
      reason:
        "the space's count of stacks with roles (MAX_ROLES_PER_SPACE) differed from the roles that exist",
    };
    try {
      const members = await cap.quota.members(spaceId);
      for (const [stackId, space] of pass.stackSpaces) {
        if (space !== spaceId || members.has(stackId)) continue;
        // Deleted since this run read its inventory (the provisioner released its count then).
        if (await deletedSince(pass, resourceKey("stack", stackId), before)) continue;
        await cap.quota.include(spaceId, stackId);
        changes.push(`count stack ${stackId} (its roles are in this space)`);
      }
      for (const [stackId, since] of members) {
        if (pass.stackSpaces.get(stackId) === spaceId || listedIn.get(stackId) === spaceId)
          continue;
        if (since >= before) continue;
        await cap.quota.release(spaceId, stackId, { admittedBefore: before });
        changes.push(`uncount stack ${stackId} (no role in this space)`);
      }
    } catch (error) {
      addDecision(pass, {
        ...failedDecision("update", base, error, pass.deps.settings.dryRun),
        changes,
      });
      return;
    }
    if (changes.length > 0) {
      addDecision(pass, { ...base, action: "update", outcome: "applied", changes });
    }
  });
}
