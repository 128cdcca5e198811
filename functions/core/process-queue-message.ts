/**
 * One message off the provisioner's queue, dispatched: a webhook event (the receiver's or a
 * synthesized one) goes to the event use case (applyEvent), a reconcile order is parsed,
 * re-checked and carried out. What can never succeed is reported as dropped; anything else
 * throws, so the queue redelivers it.
 */

import { depsIn, placed, placementOf } from "./account-placement.ts";
import { targetAccount } from "./account-routing.ts";
import {
  type AuditEvent,
  EVENT_CLOCK_SKEW_MS,
  parseAuditEvent,
  type ResourceEvent,
} from "./audit-event.ts";
import type { ConvergeDeps } from "./converge.ts";
import type { ProvisionOutcome } from "./converge-contract.ts";
import {
  EventOutsideWindowError,
  HttpError,
  InvalidReconcileOrderError,
  OrderRefusedError,
  PermanentEventError,
} from "./errors.ts";
import { applyEvent, type ProvisionerDeps } from "./provision.ts";
import { decodeQueueMessage, isReconcileEnvelope } from "./queue-message.ts";
import {
  applyReconcileOrder,
  type OrderOutcome,
  type ParsedReconcileOrder,
  parseReconcileOrder,
} from "./reconcile-order.ts";

/** ORPHAN_GRACE_PERIOD_HOURS's default, the reconciler's and the provisioner's. */
export const DEFAULT_ORPHAN_GRACE_PERIOD_HOURS = 72;

export type MessageOutcome =
  | {
      readonly result: "applied";
      readonly event: ResourceEvent;
      readonly outcome: ProvisionOutcome;
    }
  | {
      readonly result: "dropped";
      readonly reason: string;
      readonly error: Error;
      readonly event?: ResourceEvent;
    }
  | { readonly result: "ignored"; readonly reason: string };

/** What became of a message off the queue: an event's outcome, or a reconcile order's. */
export type QueueMessageOutcome =
  | MessageOutcome
  | {
      readonly result: "ordered";
      readonly order: ParsedReconcileOrder;
      readonly outcome: OrderOutcome;
    };

/**
 * One message off the event queue: a reconcile order (its own envelope, which the receiver
 * never writes) or a webhook event, the receiver's or a synthesized one (processMessage).
 * A malformed order, or one that what is true now forbids, is reported as dropped.
 */
export async function processQueueMessage(
  message: string,
  deps: ProvisionerDeps,
): Promise<QueueMessageOutcome> {
  if (!isReconcileEnvelope(message)) return processMessage(decodeQueueMessage(message), deps);
  let order: ParsedReconcileOrder;
  try {
    order = parseReconcileOrder(message);
  } catch (error) {
    if (error instanceof InvalidReconcileOrderError) {
      return { result: "dropped", reason: error.message, error };
    }
    throw error;
  }
  try {
    if (order.action === "misplaced") {
      return { result: "ordered", order, outcome: await recordMisplaced(order, deps) };
    }
    const outcome = await applyReconcileOrder(order, {
      ...(await orderDepsIn(order, deps)),
      ledger: deps.ledger,
      orphanGracePeriodHours: deps.orphanGracePeriodHours ?? DEFAULT_ORPHAN_GRACE_PERIOD_HOURS,
      now: deps.now ?? (() => new Date()),
    });
    return { result: "ordered", order, outcome };
  } catch (error) {
    if (error instanceof PermanentEventError) {
      return { result: "dropped", reason: error.message, error };
    }
    throw error;
  }
}

/**
 * Where an order is carried out: in the account whose inventory found the roles (that account's
 * configuration, so the ownership checks are that account's, its roles, and the role's
 * parameters in the service's account and the target's), or the service's own. An account that
 * is not configured (any more) refuses the order.
 */
async function orderDepsIn(
  order: ParsedReconcileOrder,
  deps: ProvisionerDeps,
): Promise<ConvergeDeps> {
  if (order.account === undefined || order.account === deps.config.awsAccountId) return deps;
  if (targetAccount(deps.config, order.account) === undefined) {
    throw new OrderRefusedError(
      `reconcile order: AWS account ${order.account} is not configured under accounts; nothing done`,
    );
  }
  return depsIn(deps, order.account, order.resource, "vend");
}

/**
 * A resource's roles were found in an account its space is not routed to (a move webhooks
 * missed, or a ledger that lost its record): that account is recorded as one that may hold
 * them. Always safe (a former account is only cleared after converging in the destination,
 * with the ownership checks there); the reconciler's event for the resource, right behind in
 * its group, converges it where it is routed and then removes them there.
 */
async function recordMisplaced(
  order: ParsedReconcileOrder,
  deps: ProvisionerDeps,
): Promise<OrderOutcome> {
  const account = order.account ?? deps.config.awsAccountId;
  if (account !== deps.config.awsAccountId && targetAccount(deps.config, account) === undefined) {
    throw new OrderRefusedError(
      `reconcile order: AWS account ${account} is not configured under accounts; nothing recorded`,
    );
  }
  const last = await deps.ledger.get(order.resource);
  const placement = placementOf(deps, last);
  if ([placement.account, ...placement.formerAccounts].includes(account)) {
    return { result: "stale", roles: [], changes: [] };
  }
  // No entry yet: a tombstone dated 0, older than any event, so nothing counts as applied.
  const entry = last ?? { resource: order.resource, timestamp: 0, state: "deleted" as const };
  await deps.ledger.record(
    placed(entry, { ...placement, formerAccounts: [...placement.formerAccounts, account] }, deps),
  );
  return {
    result: "recorded",
    roles: order.roles,
    changes: [`account ${account}: recorded as holding roles of ${order.resource}`],
  };
}

/**
 * One queued message. What can never succeed (an invalid event, a role we must not touch) is
 * reported as dropped; anything else throws, so the queue redelivers it (and, after the
 * configured number of receives, moves it to the dead-letter queue).
 */
export async function processMessage(body: string, deps: ProvisionerDeps): Promise<MessageOutcome> {
  let event: AuditEvent;
  try {
    event = parseAuditEvent(body, {
      account: deps.config.spaceliftAccount,
      defaultSpaceId: deps.config.defaultSpaceId,
    });
  } catch (error) {
    if (error instanceof HttpError) return { result: "dropped", reason: "invalid event", error };
    throw error;
  }
  if (event.type === "ignored") return { result: "ignored", reason: event.reason };
  // The receiver refuses a webhook dated ahead of its clock, but synthesized events (and
  // anything else a queue sender writes) are not checked there: one dated far ahead would be
  // recorded as the resource's latest and make every genuine event after it stale for ever.
  const now = (deps.now ?? (() => new Date()))().getTime();
  if (event.timestamp > now + EVENT_CLOCK_SKEW_MS) {
    const error = new EventOutsideWindowError(
      `event timestamp ${event.timestamp} is more than ${EVENT_CLOCK_SKEW_MS / 1000} s ahead of the provisioner's clock; refused`,
    );
    return { result: "dropped", reason: "event dated in the future", error, event };
  }
  try {
    return { result: "applied", event, outcome: await applyEvent(event, deps) };
  } catch (error) {
    if (error instanceof PermanentEventError) {
      return { result: "dropped", reason: error.message, error, event };
    }
    throw error;
  }
}
