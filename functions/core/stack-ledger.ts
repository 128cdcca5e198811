/**
 * What the ledger vouches for about a stack: the order of its events (an older event never
 * undoes a newer one), its space and labels as last said, and the shape of its roles (under
 * which naming scheme), which lets an event skip looking for roles of the other shape.
 */
import type { ResourceEvent } from "./audit-event.ts";
import type { VendingConfig } from "./config.ts";
import type { OtherShapeRoles, StackFacts } from "./converge-contract.ts";
import { isSpaceId, resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import type {
  LedgerEntry,
  ResourceLedger,
  StackFactsRecord,
  StackShape,
  TimedFact,
} from "./ports.ts";
import { ROLE_NAMING } from "./role-names.ts";
import { stackShape } from "./role-spec.ts";

/**
 * Whether the last applied event (or the reconciler's listing) supersedes this one. Older: yes.
 * At the same millisecond the order is unknown: the same event delivered again (or one with
 * the same effect) is applied again, which converges to what it did before; but an event that
 * would bring back a resource deleted at that millisecond is not, so a tie never leaves a role
 * behind its stack. (Deletion wins a tie; if the stack does exist, the reconciler re-creates
 * its role from Spacelift's listing.)
 */
export function isSuperseded(event: ResourceEvent, last: LedgerEntry): boolean {
  if (event.timestamp !== last.timestamp) return event.timestamp < last.timestamp;
  return last.state === "deleted" && !event.type.endsWith(".deleted");
}

/**
 * What the ledger vouches for of a stack's roles of the other shape than the configuration's,
 * made safe for a converge that may create roles of the configuration's shape: if the ledger
 * vouches for the other shape (the read/write split was switched since), it stops vouching
 * first (a ledger write). Otherwise a crash before the old shape's roles are removed, then a switch back, would
 * leave the ledger vouching for a shape while roles of both exist.
 */
export async function stopVouchingForOtherShape(
  last: LedgerEntry | undefined,
  deps: { readonly config: VendingConfig; readonly ledger: ResourceLedger },
): Promise<OtherShapeRoles> {
  const shape = vouchedShape(last);
  if (last === undefined || shape === undefined) return "remove-then-vouch";
  if (shape === stackShape(deps.config)) return "vouched-absent";
  await deps.ledger.record(withoutShape(last));
  return "remove-then-vouch";
}

/**
 * For whatever may create a stack's roles outside an event (the reconciler, a backfill): makes
 * the ledger stop vouching that the stack has only roles of another shape than the
 * configuration's. A GetItem; a PutItem only when the ledger vouched for the other shape.
 */
export async function beforeCreatingStackRoles(
  ledger: ResourceLedger,
  stackId: StackId,
  config: VendingConfig,
): Promise<void> {
  const last = await ledger.get(resourceKey("stack", stackId));
  if (last?.shape !== undefined && last.shape !== stackShape(config)) {
    await ledger.record(withoutShape(last));
  }
}

export function withoutShape(entry: LedgerEntry): LedgerEntry {
  const { shape: _vouched, naming: _scheme, ...rest } = entry;
  return rest;
}

/**
 * The shape the ledger vouches for, if it vouched under this role naming scheme: under the one
 * before, the stack's roles may still carry the names that scheme gave them.
 */
export function vouchedShape(entry: LedgerEntry | undefined): StackShape | undefined {
  return entry?.naming === ROLE_NAMING ? entry.shape : undefined;
}

export function vouching(shape: StackShape | undefined): Pick<LedgerEntry, "shape" | "naming"> {
  return shape === undefined ? {} : { shape, naming: ROLE_NAMING };
}

/**
 * Records what Spacelift's API said of a stack (the reconciler's truth at `listedAt`) as the
 * stack's known space and labels, so that a later event that leaves them unsaid, or an older
 * event delivered late, does not undo what the reconciler repaired; and records that the stack
 * exists as of `listedAt` (see recordListed).
 */
export async function recordStackFacts(
  ledger: ResourceLedger,
  stack: {
    readonly stackId: StackId;
    readonly spaceId: SpaceId;
    readonly labels: readonly string[];
  },
  listedAt: number,
): Promise<void> {
  const resource = resourceKey("stack", stack.stackId);
  const last = await ledger.get(resource);
  await recordListed(ledger, resource, listedAt, last, mergeFacts(last?.facts, stack, listedAt));
}

/**
 * Records that Spacelift's API listed a resource at `listedAt` (ms; the time the listing was
 * requested, so an event Spacelift dated after it still applies). Without this, a resource the
 * reconciler created had no ledger entry, so any old event — a `stack.delete` from years ago —
 * counted as newer and deleted a live role. A newer entry keeps its timestamp and state.
 */
export async function recordListed(
  ledger: ResourceLedger,
  resource: string,
  listedAt: number,
  last: LedgerEntry | undefined,
  facts: StackFactsRecord | undefined = last?.facts,
): Promise<void> {
  if (last !== undefined && last.timestamp >= listedAt && facts === last.facts) return;
  // This write may land between the provisioner's own read and write of the entry: it never
  // vouches for a shape, so it cannot bring back a vouching the provisioner just dropped.
  await ledger.record({
    ...(last === undefined || last.timestamp < listedAt
      ? { resource, timestamp: listedAt, state: "present" as const, ...placementIn(last) }
      : withoutShape(last)),
    ...(facts && { facts }),
  });
}

/** Which accounts hold the resource's roles, as the entry says (kept by every rewrite). */
function placementIn(
  entry: LedgerEntry | undefined,
): Pick<LedgerEntry, "account" | "formerAccounts"> {
  return {
    ...(entry?.account !== undefined && { account: entry.account }),
    ...(entry?.formerAccounts !== undefined && { formerAccounts: entry.formerAccounts }),
  };
}

/** Merges what a stack event says of its space and labels into what is known, newest wins. */
export function learnFacts(
  known: StackFactsRecord | undefined,
  event: ResourceEvent,
): StackFactsRecord | undefined {
  if (event.type !== "stack.upserted") return known;
  return mergeFacts(known, event, event.timestamp);
}

function mergeFacts(
  known: StackFactsRecord | undefined,
  said: { readonly spaceId: string | undefined; readonly labels: readonly string[] | undefined },
  timestamp: number,
): StackFactsRecord | undefined {
  const newer = <T>(fact: TimedFact<T> | undefined, value: T | undefined) =>
    value !== undefined && (fact === undefined || fact.timestamp < timestamp)
      ? { value, timestamp }
      : undefined;
  const spaceId = newer(known?.spaceId, said.spaceId);
  const labels = newer(known?.labels, said.labels);
  if (spaceId === undefined && labels === undefined) return known;
  return {
    ...known,
    ...(spaceId && { spaceId }),
    ...(labels && { labels }),
  };
}

export function factsOf(stackId: StackId, facts: StackFactsRecord | undefined): StackFacts {
  const spaceId = facts?.spaceId?.value;
  return {
    stackId,
    spaceId: isSpaceId(spaceId) ? spaceId : undefined,
    labels: facts?.labels?.value,
  };
}
