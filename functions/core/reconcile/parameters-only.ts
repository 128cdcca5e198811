/**
 * A pass without Spacelift (no API key, or its API failing): every role must be published in
 * its resource's parameter and every parameter must point at one of our roles.
 */

import { convergeSpace, convergeStack } from "../converge.ts";
import type { ProvisionOutcome } from "../converge-contract.ts";
import { decisionFromOutcome, failedDecision } from "./decisions.ts";
import {
  describeFindings,
  type Inventory,
  type ManagedGroup,
  unpublishedRoles,
} from "./inventory.ts";
import { beforeCreatingRoles } from "./ledger-listing.ts";
import { isRevocationUnderway, orphanedAtOf } from "./orphans.ts";
import { addDecision, convergeDepsOf, type Pass } from "./pass-state.ts";
import { mapWithConcurrency } from "./pool.ts";

/**
 * Without Spacelift: every role must be published in its resource's parameter and every
 * parameter must point at one of our roles. A role whose parameter is missing or stale is
 * converged with what its own tags say (its policies are kept); everything else is reported.
 */
export async function checkRolesAgainstParameters(pass: Pass, inventory: Inventory): Promise<void> {
  const { dryRun } = pass.deps.settings;
  const repairs: ManagedGroup[] = [];
  for (const group of inventory.groups.values()) {
    const roleArns = new Set(group.roles.map(({ arn }) => arn));
    const orphanedAt = orphanedAtOf(group);
    // A revocation cut short before its tag is still a revocation: converging would restore it.
    const revoking = group.roles.some((role) => isRevocationUnderway(pass.deps.config, role));
    if (orphanedAt !== undefined || revoking) {
      addDecision(pass, {
        action: "hold",
        resource: group.key,
        reason: `orphaned since ${orphanedAt ?? "a revocation cut short"} (trust revoked); whether to restore or delete it needs Spacelift`,
        outcome: "reported",
        roles: group.roles.map(({ name }) => name),
      });
      continue;
    }
    if (group.roles.length > 0 && unpublishedRoles(group).length > 0) {
      repairs.push(group);
      continue;
    }
    for (const parameter of group.parameters) {
      if (roleArns.has(parameter.value)) continue;
      addDecision(pass, {
        action: "report",
        resource: `parameter:${parameter.name}`,
        reason:
          group.roles.length === 0
            ? `parameter without role: ${parameter.value} is not a role this product manages; without Spacelift it cannot tell whether ${group.key} still exists`
            : `parameter points at ${parameter.value}, not at a role of ${group.key}`,
        outcome: "reported",
      });
    }
    if (group.roles.length > 0 && group.parameters.every(({ value }) => roleArns.has(value))) {
      pass.inSync += 1;
    }
  }
  await mapWithConcurrency(repairs, pass.deps.settings.concurrency, async (group) => {
    const base = { resource: group.key, reason: describeFindings(group.kind, group, undefined) };
    const convergeDeps = convergeDepsOf(pass);
    try {
      let outcome: ProvisionOutcome | undefined;
      // Labels unknown without Spacelift: converge keeps the role's policies as they are.
      if (group.kind === "stack") {
        await beforeCreatingRoles(pass, group.id, group.roles);
        outcome = await convergeStack(
          { stackId: group.id, spaceId: undefined, labels: undefined },
          convergeDeps,
        );
      } else {
        outcome = await convergeSpace({ spaceId: group.id }, convergeDeps);
      }
      const decision = decisionFromOutcome(outcome, base, false, dryRun ? "planned" : "applied");
      if (decision === undefined) pass.inSync += 1;
      else addDecision(pass, decision);
    } catch (error) {
      addDecision(pass, failedDecision("update", base, error, dryRun));
    }
  });
}
