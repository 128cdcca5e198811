/**
 * Planning one resource Spacelift lists, for reconcile and backfill alike, and sending the
 * plan to the event queue.
 */
import { convergeSpace, convergeStack } from "../converge.ts";
import { ConfigurationError } from "../errors.ts";
import type { SpaceliftSpace } from "../ports.ts";
import { reconcileOrderMessage } from "../queue-message.ts";
import { type SynthesizedChange, synthesizedMessage } from "../synthesized-event.ts";
import {
  type DecisionInput,
  type DecisionSubject,
  decisionFromOutcome,
  failedDecision,
} from "./decisions.ts";
import { describeError } from "./describe-error.ts";
import { describeFindings, type ManagedGroup } from "./inventory.ts";
import { orphanedAtOf } from "./orphans.ts";
import { addDecision, convergeDepsIn, type Pass, type ReconcilerDeps } from "./pass-state.ts";
import { checkStackEnvironment } from "./stack-environment.ts";
import type { ConvergeTarget } from "./targets.ts";

/**
 * Plans one resource Spacelift lists: converges it against the planning stores (which never
 * write), and when that would change anything, enqueues the resource's state as Spacelift
 * listed it, as a synthesized webhook event dated at the listing, for the provisioner.
 */
export async function planResource(
  pass: Pass,
  target: ConvergeTarget,
  group: ManagedGroup | undefined,
  spaces: ReadonlyMap<string, SpaceliftSpace>,
  options: {
    readonly checkEnvironment: boolean;
    /**
     * Other accounts whose inventory holds roles of the resource (a move webhooks missed, or
     * one not finished): the resource is planned even when in sync in its own account, so the
     * provisioner converges it there and removes it from where it was.
     */
    readonly foundIn?: readonly { readonly account: string; readonly roles: readonly string[] }[];
  },
): Promise<DecisionInput | undefined> {
  const { dryRun } = pass.deps.settings;
  const fresh = group === undefined || group.roles.length === 0;
  const orphanedAt = group === undefined ? undefined : orphanedAtOf(group);
  const foundIn = options.foundIn ?? [];
  const elsewhere = foundIn.map(({ account }) => account).join(", ");
  const findings =
    group === undefined && foundIn.length > 0
      ? `Spacelift lists this ${target.kind}; its roles are in AWS account ${elsewhere} while its space is routed to AWS account ${target.account}: the provisioner moves them`
      : describeFindings(target.kind, group, orphanedAt);
  const base: DecisionSubject = {
    resource: target.key,
    reason:
      target.account === pass.deps.config.awsAccountId
        ? findings
        : `in AWS account ${target.account}: ${findings}`,
  };
  try {
    const convergeDeps = convergeDepsIn(pass, target.account);
    const outcome =
      target.kind === "stack"
        ? await convergeStack(target.stack, convergeDeps, { fresh })
        : await convergeSpace({ spaceId: target.spaceId }, convergeDeps, { fresh });
    const decision =
      decisionFromOutcome(
        outcome,
        base,
        orphanedAt !== undefined,
        dryRun ? "planned" : "enqueued",
      ) ??
      (foundIn.length === 0
        ? undefined
        : {
            action: "update" as const,
            ...base,
            reason: `in sync in AWS account ${target.account}, but roles remain in AWS account ${elsewhere} (a move not finished): the provisioner removes them there`,
            outcome: dryRun ? ("planned" as const) : ("enqueued" as const),
          });
    // A stack in sync has its roles in the listed space; one planned keeps the inventory's
    // space here (the provisioner counts it in the new one when it applies the plan).
    if (decision === undefined && target.kind === "stack") {
      pass.stackSpaces.set(target.stack.stackId, target.stack.spaceId);
    }
    if (decision === undefined) pass.inSync += 1;
    else {
      addDecision(pass, decision);
      const listedAt = pass.listedAt ?? pass.deps.now().getTime();
      // First, in the resource's group, the accounts that hold its roles although it is not
      // routed there: recorded by the provisioner before the event, so the event's converge
      // removes them there even when the ledger never knew of them.
      for (const { account, roles } of dryRun ? [] : foundIn) {
        pass.messages.push(
          reconcileOrderMessage({
            resource: target.key,
            action: "misplaced",
            roles: roles.slice(0, MAX_ORDER_ROLES),
            listedAt,
            account,
          }),
        );
      }
      if (!dryRun)
        pass.messages.push(
          synthesizedMessage(changeOf(target, spaces), {
            account: pass.deps.config.spaceliftAccount,
            timestamp: listedAt,
            source: "reconciler",
          }),
        );
    }
    if (options.checkEnvironment) await checkStackEnvironment(pass, target, outcome);
    return decision;
  } catch (error) {
    const failed = failedDecision(fresh ? "create" : "update", base, error, dryRun);
    addDecision(pass, failed);
    return failed;
  }
}

/** An order names at most this many roles (the order's schema); they are only reported. */
const MAX_ORDER_ROLES = 8;

/** What Spacelift lists of a resource, as the synthesized event that carries it. */
function changeOf(
  target: ConvergeTarget,
  spaces: ReadonlyMap<string, SpaceliftSpace>,
): SynthesizedChange {
  if (target.kind === "stack") {
    const { stackId, spaceId, labels } = target.stack;
    return { kind: "stack.update", stack: { stackId, spaceId, labels } };
  }
  const listed = spaces.get(target.spaceId);
  return {
    kind: "space.update",
    space: {
      spaceId: target.spaceId,
      name: listed?.name,
      parentSpaceId: listed?.parentSpace ?? undefined,
      labels: listed?.labels,
    },
  };
}

/** What sending the plan did: the messages now on the queue, and the calls that sent them. */
export interface SentPlan {
  readonly enqueued: number;
  readonly calls: number;
}

/**
 * Sends what the pass planned to the event queue, in batches. When it cannot (no queue, or SQS
 * refusing), every enqueued decision becomes failed: the next pass plans them again.
 */
export async function sendPlan(
  pass: Pass,
  deps: ReconcilerDeps,
  dryRun: boolean,
): Promise<SentPlan> {
  if (dryRun || pass.messages.length === 0) return { enqueued: 0, calls: 0 };
  let failure: unknown;
  try {
    if (deps.events === undefined) {
      throw new ConfigurationError(
        "EVENT_QUEUE_URL is not set: the reconciler has nowhere to send its plan",
      );
    }
    const { calls } = await deps.events.enqueueBatch(pass.messages);
    return { enqueued: pass.messages.length, calls };
  } catch (error) {
    failure = error;
  }
  for (const [index, decision] of pass.decisions.entries()) {
    if (decision.outcome !== "enqueued") continue;
    pass.decisions[index] = { ...decision, outcome: "failed", error: describeError(failure) };
  }
  return { enqueued: 0, calls: 0 };
}
