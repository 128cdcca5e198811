/** The resources a pass converges: every stack and space Spacelift lists, with usable IDs. */

import { accountFor } from "../account-routing.ts";
import { AccountNotRoutedError } from "../errors.ts";
import { resourceKey, type SpaceId } from "../identifiers.ts";
import type { ListedStackState } from "../synthesized-event.ts";
import type { DecisionInput } from "./decisions.ts";
import { addDecision, type Pass } from "./pass-state.ts";
import type { SpaceliftListing } from "./spacelift-listing.ts";

export type ConvergeTarget =
  | {
      readonly key: string;
      readonly kind: "stack";
      readonly stack: ListedStackState;
      /** The AWS account the resource's space is routed to (accountFor). */
      readonly account: string;
    }
  | {
      readonly key: string;
      readonly kind: "space";
      readonly spaceId: SpaceId;
      readonly account: string;
    };

/**
 * Spaces first, then stacks, in Spacelift's order, each with the AWS account its space is
 * routed to (never by its labels); what the listing holds as unusable (an ID this product
 * cannot use in IAM names and conditions) is reported, and so is one routed to no account
 * (`defaultAccount: none`). Used by both reconcile and backfill.
 */
export function listedTargets(
  pass: Pass,
  listing: Pick<SpaceliftListing, "stacks" | "spaces" | "unusable">,
): ConvergeTarget[] {
  const targets: ConvergeTarget[] = [];
  for (const { kind, id } of listing.unusable) {
    addDecision(
      pass,
      invalidIdentifier(resourceKey(kind, id), kind === "space" ? "space ID" : "stack or space ID"),
    );
  }
  for (const space of listing.spaces) {
    const key = resourceKey("space", space.id);
    const account = routedAccount(pass, key, space.id);
    if (account === undefined) continue;
    targets.push({ key, kind: "space", spaceId: space.id, account });
  }
  for (const stack of listing.stacks) {
    const key = resourceKey("stack", stack.id);
    const account = routedAccount(pass, key, stack.space);
    if (account === undefined) continue;
    targets.push({
      key,
      kind: "stack",
      stack: { stackId: stack.id, spaceId: stack.space, labels: stack.labels },
      account,
    });
  }
  return targets;
}

/** The account `spaceId` is routed to; undefined (and reported) when it is routed nowhere. */
function routedAccount(pass: Pass, resource: string, spaceId: SpaceId): string | undefined {
  try {
    return accountFor(pass.deps.config, spaceId);
  } catch (error) {
    if (!(error instanceof AccountNotRoutedError)) throw error;
    addDecision(pass, {
      action: "report",
      resource,
      reason: `${error.message}; left alone`,
      outcome: "reported",
    });
    return undefined;
  }
}

function invalidIdentifier(resource: string, what: string): DecisionInput {
  return {
    action: "report",
    resource,
    reason: `Spacelift lists a ${what} this product cannot use in IAM names and conditions; skipped`,
    outcome: "reported",
  };
}
