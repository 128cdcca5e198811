/** The resources a pass converges: every stack and space Spacelift lists, with usable IDs. */

import { accountFor } from "../account-routing.ts";
import { AccountNotRoutedError } from "../errors.ts";
import { isSpaceId, isStackId, resourceKey, type SpaceId } from "../identifiers.ts";
import type { ListedStackState } from "../synthesized-event.ts";
import type { DecisionInput } from "./decisions.ts";
import { addDecision, type Pass } from "./pass-state.ts";
import type { SpaceliftListing } from "./spacelift-listing.ts";

export type ConvergeTarget =
  | {
      readonly key: string;
      readonly kind: "stack";
      readonly stack: ListedStackState;
    }
  | { readonly key: string; readonly kind: "space"; readonly spaceId: SpaceId };

/**
 * Spaces first, then stacks, in Spacelift's order; one whose ID this product cannot use in IAM
 * names and conditions is reported and skipped, and so is one whose space is routed to another
 * AWS account (the permissions file's `accounts`): the reconciler works in the service's own
 * account only, for now. Used by both reconcile and backfill.
 */
export function listedTargets(
  pass: Pass,
  listing: Pick<SpaceliftListing, "stacks" | "spaces">,
): ConvergeTarget[] {
  const targets: ConvergeTarget[] = [];
  for (const space of listing.spaces) {
    if (!isSpaceId(space.id)) {
      addDecision(pass, invalidIdentifier(resourceKey("space", space.id), "space ID"));
      continue;
    }
    const elsewhere = routedElsewhere(pass, resourceKey("space", space.id), space.id);
    if (elsewhere !== undefined) {
      addDecision(pass, elsewhere);
      continue;
    }
    targets.push({ key: resourceKey("space", space.id), kind: "space", spaceId: space.id });
  }
  for (const stack of listing.stacks) {
    if (!isStackId(stack.id) || !isSpaceId(stack.space)) {
      addDecision(pass, invalidIdentifier(resourceKey("stack", stack.id), "stack or space ID"));
      continue;
    }
    const elsewhere = routedElsewhere(pass, resourceKey("stack", stack.id), stack.space);
    if (elsewhere !== undefined) {
      addDecision(pass, elsewhere);
      continue;
    }
    targets.push({
      key: resourceKey("stack", stack.id),
      kind: "stack",
      stack: { stackId: stack.id, spaceId: stack.space, labels: stack.labels },
    });
  }
  return targets;
}

/** A report when the space is routed to another account than the service's (or nowhere). */
function routedElsewhere(
  pass: Pass,
  resource: string,
  spaceId: SpaceId,
): DecisionInput | undefined {
  const { config } = pass.deps;
  let account: string;
  try {
    account = accountFor(config, spaceId);
  } catch (error) {
    if (!(error instanceof AccountNotRoutedError)) throw error;
    return {
      action: "report",
      resource,
      reason: `${error.message}; left alone`,
      outcome: "reported",
    };
  }
  if (account === config.awsAccountId) return undefined;
  return {
    action: "report",
    resource,
    reason: `space ${spaceId} is routed to AWS account ${account}: the reconciler does not reconcile other accounts yet (the provisioner vends there); left alone`,
    outcome: "reported",
  };
}

function invalidIdentifier(resource: string, what: string): DecisionInput {
  return {
    action: "report",
    resource,
    reason: `Spacelift lists a ${what} this product cannot use in IAM names and conditions; skipped`,
    outcome: "reported",
  };
}
