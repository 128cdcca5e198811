/**
 * The reconciler's report: one decision per resource that needed something (or would, in a
 * dry run), with its reason and outcome, and the counts of the run.
 */

import type { ProvisionOutcome } from "../converge-contract.ts";
import { ForeignResourceError, SpaceRoleCapError } from "../errors.ts";
import type { AccountRoleUsage } from "./accounts.ts";
import { describeError } from "./describe-error.ts";

export type ReconcileAction =
  | "create"
  | "update"
  | "restore"
  | "revoke"
  | "delete"
  | "hold"
  | "report";

/**
 * - `planned`: a dry run would do it; `enqueued`: sent to the event queue, for the provisioner
 *   to apply in the resource's own group; `applied`: done (the checks without Spacelift);
 * - `deferred`: due, but held back by a per-run cap; a later run does it;
 * - `refused`: a safety rule forbids it (a role that is not ours, an empty Spacelift answer);
 * - `reported`: an inconsistency or a waiting orphan, for a human to read;
 * - `failed`: tried, and AWS said no (see `error`); the next run tries again.
 */
export type DecisionOutcome =
  | "planned"
  | "enqueued"
  | "applied"
  | "deferred"
  | "refused"
  | "reported"
  | "failed";

/** One line of the plan (dry run) or of the record (real run). */
export interface Decision {
  readonly account: string;
  readonly action: ReconcileAction;
  /** `stack:<id>`, `space:<id>`, `parameter:<name>` or `spacelift:<account>`. */
  readonly resource: string;
  readonly reason: string;
  readonly outcome: DecisionOutcome;
  readonly roles: readonly string[];
  readonly changes: readonly string[];
  readonly error?: string;
}

export interface ReconcileReport {
  readonly account: string;
  readonly dryRun: boolean;
  /** `spacelift`: checked against Spacelift; `parameters-only`: roles against parameters. */
  readonly mode: "spacelift" | "parameters-only";
  readonly decisions: readonly Decision[];
  /**
   * The AWS accounts the pass inventoried (the service's own first), those it could not reach,
   * and each one's IAM role usage as read this pass (for the quota metric and warning).
   */
  readonly accounts: {
    readonly reconciled: readonly string[];
    readonly unreachable: readonly string[];
    readonly usage: readonly AccountRoleUsage[];
  };
  readonly counts: {
    readonly spaceliftStacks: number;
    readonly spaceliftSpaces: number;
    readonly managedRoles: number;
    readonly parameters: number;
    /** Resources that needed nothing. */
    readonly inSync: number;
    /** Messages sent to the event queue (0 in a dry run). */
    readonly enqueued: number;
    /** SendMessageBatch calls that sent them (besides the inventory's reads). */
    readonly queueCalls: number;
  };
}

/** A decision before the run adds its account (and empty roles and changes when not given). */
export type DecisionInput = Omit<Decision, "account" | "roles" | "changes"> &
  Partial<Pick<Decision, "roles" | "changes">>;

/** Which resource a decision is about, and why it was looked at. */
export type DecisionSubject = Pick<DecisionInput, "resource" | "reason">;

/**
 * What a converge did (or would do), as a decision; undefined when it changed nothing.
 * `outcome`'s decision is `planned` in a dry run, else `applied` (written here) or `enqueued`
 * (planned for the provisioner).
 */
export function decisionFromOutcome(
  outcome: ProvisionOutcome,
  base: DecisionSubject,
  restoring: boolean,
  done: "planned" | "applied" | "enqueued",
): DecisionInput | undefined {
  const parameterChanged = outcome.parameter === "created" || outcome.parameter === "updated";
  if (outcome.result === "unchanged" && !parameterChanged) return undefined;
  const changes = [...outcome.changes];
  if (parameterChanged) changes.push(`parameter ${outcome.parameter}`);
  return {
    ...base,
    action: outcome.result === "created" ? "create" : restoring ? "restore" : "update",
    outcome: done,
    roles: [outcome.roleName],
    changes,
  };
}

/** An action that threw: refused when a safety rule stopped it, failed otherwise. */
export function failedDecision(
  action: ReconcileAction,
  base: DecisionSubject,
  error: unknown,
  dryRun: boolean,
): DecisionInput {
  if (error instanceof ForeignResourceError || error instanceof SpaceRoleCapError) {
    return {
      ...base,
      action,
      reason: `${base.reason}; but ${error.message}`,
      outcome: "refused",
    };
  }
  return {
    ...base,
    action,
    outcome: "failed",
    error: describeError(error),
    ...(dryRun && { reason: `${base.reason} (while planning)` }),
  };
}

/** Resources are reconciled concurrently; the report lists them in a stable order. */
export function byResource(a: Decision, b: Decision): number {
  return a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0;
}
