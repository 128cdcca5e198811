/**
 * The reconciler's check of a stack's variables (STACK_ENVIRONMENT=true): after the stack's
 * roles converge, its variables of ours are converged on them too, or (dry run) planned.
 * A failure here is this check's own decision: the role's stands.
 */

import type { ProvisionOutcome } from "../converge-contract.ts";
import type { StackId } from "../identifiers.ts";
import {
  convergeStackEnvironment,
  desiredStackVariables,
  type StackEnvironment,
} from "../stack-environment.ts";
import { addDecision, type Pass } from "./pass-state.ts";
import type { ConvergeTarget } from "./targets.ts";

/** After a listed stack converged: its variables' decisions join the pass's report. */
export async function checkStackEnvironment(
  pass: Pass,
  target: ConvergeTarget,
  outcome: ProvisionOutcome,
): Promise<void> {
  if (target.kind !== "stack" || pass.environment === undefined) return;
  const { stackId } = target.stack;
  const plan = pass.deps.settings.dryRun;
  for (const found of await reconcileStackEnvironment(pass.environment, stackId, outcome, plan)) {
    addDecision(pass, { resource: target.key, ...found });
  }
}

export interface StackEnvironmentDecision {
  readonly action: "update" | "report";
  readonly outcome: "planned" | "applied" | "reported" | "failed";
  readonly reason: string;
  readonly changes?: readonly string[];
  readonly error?: string;
}

export async function reconcileStackEnvironment(
  environment: StackEnvironment,
  stackId: StackId,
  outcome: ProvisionOutcome,
  plan: boolean,
): Promise<StackEnvironmentDecision[]> {
  if (outcome.roleArn === undefined) return [];
  const desired = desiredStackVariables(stackId, {
    roleArn: outcome.roleArn,
    ...(outcome.readRoleArn !== undefined && { readRoleArn: outcome.readRoleArn }),
  });
  let result: Awaited<ReturnType<typeof convergeStackEnvironment>>;
  try {
    result = await convergeStackEnvironment(environment, stackId, desired, { plan });
  } catch (error) {
    return [
      {
        action: "update",
        outcome: "failed",
        reason: "stack environment: Spacelift's API failed; the role stands, the next run retries",
        error: error instanceof Error ? error.message : String(error),
      },
    ];
  }
  const decisions: StackEnvironmentDecision[] = [];
  if (result.changes.length > 0) {
    decisions.push({
      action: "update",
      outcome: plan ? "planned" : "applied",
      reason: "stack environment: variables missing or not the stack's role",
      changes: result.changes.map((change) => `environment: ${change}`),
    });
  }
  if (result.refused.length > 0) {
    decisions.push({
      action: "report",
      outcome: "reported",
      reason: `stack environment: ${result.refused.join(", ")} set by someone else; left alone`,
    });
  }
  return decisions;
}
