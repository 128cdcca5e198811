/**
 * The audit-trail catch-up: every few minutes, the stack and space changes Spacelift's audit
 * trail records since the last run are put on the event queue as synthesized webhook events, so
 * that an event the webhook never delivered (Spacelift's `retry_on_failure` defaults to off)
 * is applied within one catch-up period instead of at the next full reconcile.
 *
 * Each change carries the resource's state as Spacelift's API gives it now, stamped with the
 * audit entry's own time: the provisioner's ledger then skips it when a webhook dated later was
 * already applied, so a catch-up never undoes a newer event. A change read twice (the overlap)
 * is harmless: the second is stale or unchanged at the provisioner.
 */
import { EVENT_CLOCK_SKEW_MS } from "./audit-event.ts";
import { CatchUpIncompleteError } from "./errors.ts";
import { resourceKey, type SpaceId, type StackId } from "./identifiers.ts";
import type {
  AuditTrailEntry,
  CatchUpCheckpoint,
  EventQueue,
  SpaceliftAuditTrail,
} from "./ports.ts";
import { type SynthesizedChange, synthesizedMessage } from "./synthesized-event.ts";

export interface CatchUpSettings {
  /** With no checkpoint yet, how far back the first run reads, in ms. */
  readonly initialWindowMs: number;
  /** How far before the checkpoint each run reads again, in ms: entries may land late. */
  readonly overlapMs: number;
  /** Resources enqueued per run at most; the checkpoint stops before the rest (next run). */
  readonly maxResourcesPerRun: number;
  /**
   * A checkpoint older than this (ms before now) is not read from: the run starts at now minus
   * this, and says so. Older changes are the full reconcile's to converge.
   */
  readonly maxLookbackMs: number;
}

export const DEFAULT_CATCH_UP_SETTINGS: CatchUpSettings = {
  initialWindowMs: 60 * 60_000,
  overlapMs: 2 * 60_000,
  maxResourcesPerRun: 500,
  maxLookbackMs: 7 * 86_400_000,
};

export interface CatchUpDeps {
  /** The Spacelift account name the synthesized events carry (as webhooks do). */
  readonly account: string;
  readonly auditTrail: SpaceliftAuditTrail;
  readonly queue: EventQueue;
  readonly checkpoint: CatchUpCheckpoint;
  readonly settings: CatchUpSettings;
  /** ms since the epoch (injected: the core never reads the clock). */
  readonly now: () => number;
}

export interface CatchUpEnqueued {
  /** `stack:<id>` / `space:<id>`. */
  readonly resource: string;
  readonly change: SynthesizedChange["kind"];
  /** The newest audit entry's action for that resource, and its time (the event's timestamp). */
  readonly action: string;
  readonly timestamp: number;
}

export interface CatchUpSkipped {
  readonly entryId: string;
  readonly action: string;
  readonly reason: string;
}

export interface CatchUpReport {
  /** Where this run started reading (ms). */
  readonly since: number;
  /** Set when the checkpoint was older than maxLookbackMs: what it was. */
  readonly lookbackCappedFrom: number | undefined;
  /**
   * Set when the checkpoint was more than the clock skew ahead of now (no run writes one: only
   * someone writing the ledger table): what it was. It is read as no checkpoint and replaced.
   */
  readonly futureCheckpointFrom?: number;
  readonly entriesRead: number;
  readonly enqueued: readonly CatchUpEnqueued[];
  /** Entries about a stack or space that could not be acted on, with why (for the log). */
  readonly skipped: readonly CatchUpSkipped[];
  /** Resources left for the next run (maxResourcesPerRun). */
  readonly deferred: number;
  /** The checkpoint after the run; undefined when there still is none. */
  readonly checkpoint: number | undefined;
}

/** What the audit entries read say of one resource. */
type ResourceEntries = (
  | { readonly kind: "stack"; readonly id: StackId }
  | { readonly kind: "space"; readonly id: SpaceId }
) & {
  /** The newest entry's time (ms) and action. */
  newest: number;
  newestAction: string;
  /** Whether one of the entries is a delete of it. */
  deleted: boolean;
};

export async function catchUp(deps: CatchUpDeps): Promise<CatchUpReport> {
  const { settings } = deps;
  const now = deps.now();
  const read = await deps.checkpoint.read();
  // A checkpoint ahead of the clock would make every run read nothing after it, for ever.
  const futureCheckpointFrom =
    read !== undefined && read > now + EVENT_CLOCK_SKEW_MS ? read : undefined;
  const stored = futureCheckpointFrom === undefined ? read : undefined;
  const earliest = now - settings.maxLookbackMs;
  const wanted =
    stored === undefined ? now - settings.initialWindowMs : stored - settings.overlapMs;
  const since = Math.max(wanted, earliest);
  const lookbackCappedFrom = stored !== undefined && wanted < earliest ? stored : undefined;

  const entries = await deps.auditTrail.entriesSince(since);
  const skipped: CatchUpSkipped[] = [];
  const resources = new Map<string, ResourceEntries>();
  let newestRead: number | undefined;
  for (const entry of entries) {
    if (entry.createdAt < since) continue;
    newestRead = Math.max(newestRead ?? entry.createdAt, entry.createdAt);
    const target = targetOf(entry);
    if (target === undefined) continue;
    if ("reason" in target) {
      skipped.push({ entryId: entry.id, action: entry.action, reason: target.reason });
      continue;
    }
    const key = resourceKey(target.kind, target.id);
    const known = resources.get(key);
    const deleted = entry.action === `${target.kind}.delete`;
    if (known === undefined) {
      resources.set(key, {
        ...target,
        newest: entry.createdAt,
        newestAction: entry.action,
        deleted,
      });
      continue;
    }
    known.deleted ||= deleted;
    if (entry.createdAt >= known.newest) {
      known.newest = entry.createdAt;
      known.newestAction = entry.action;
    }
  }

  // Oldest newest-entry first: whatever fails or is deferred, every resource before the
  // checkpoint has been enqueued, and the rest is read again by the next run.
  const ordered = [...resources.entries()].sort(
    ([keyA, a], [keyB, b]) => a.newest - b.newest || (keyA < keyB ? -1 : 1),
  );
  const due = ordered.slice(0, settings.maxResourcesPerRun);
  const deferred = ordered.length - due.length;
  const enqueued: CatchUpEnqueued[] = [];
  let handledUpTo: number | undefined;
  const report = (checkpoint: number | undefined): CatchUpReport => ({
    since,
    lookbackCappedFrom,
    ...(futureCheckpointFrom !== undefined && { futureCheckpointFrom }),
    entriesRead: entries.length,
    enqueued,
    skipped,
    deferred,
    checkpoint,
  });

  try {
    for (const [resource, entriesOf] of due) {
      const change = await currentChange(entriesOf, deps.auditTrail);
      if ("reason" in change) {
        skipped.push({ entryId: resource, action: entriesOf.newestAction, reason: change.reason });
      } else {
        await deps.queue.enqueue(
          synthesizedMessage(change, {
            account: deps.account,
            timestamp: entriesOf.newest,
            source: "catch-up",
          }),
        );
        enqueued.push({
          resource,
          change: change.kind,
          action: entriesOf.newestAction,
          timestamp: entriesOf.newest,
        });
      }
      handledUpTo = entriesOf.newest;
    }
  } catch (error) {
    const checkpoint = await advance(deps.checkpoint, stored, handledUpTo, futureCheckpointFrom);
    throw new CatchUpIncompleteError(
      `catch-up failed after ${enqueued.length} of ${due.length} resources; the checkpoint stays after the last one enqueued`,
      report(checkpoint),
      { cause: error },
    );
  }

  // Every entry read is handled (resources enqueued or skipped, other actions not ours), unless
  // resources were deferred: then the checkpoint stops at the last one handled. With nothing
  // read and no checkpoint yet, the window's start is kept, so the window does not slide.
  const upTo =
    deferred > 0 ? handledUpTo : (newestRead ?? (stored === undefined ? since : undefined));
  return report(await advance(deps.checkpoint, stored, upTo, futureCheckpointFrom));
}

/**
 * Advances the checkpoint when there is somewhere to go; returns where it now is. A checkpoint
 * found in the future (`replacing`) is replaced, backwards, if it still holds that value.
 */
async function advance(
  checkpoint: CatchUpCheckpoint,
  stored: number | undefined,
  to: number | undefined,
  replacing: number | undefined,
): Promise<number | undefined> {
  if (to === undefined || (stored !== undefined && to <= stored)) {
    return replacing === undefined ? stored : replacing;
  }
  await checkpoint.advance(to, replacing);
  return to;
}

/** The stack or space an entry is about; undefined for actions that are not ours. */
function targetOf(
  entry: AuditTrailEntry,
):
  | { readonly kind: "stack"; readonly id: StackId }
  | { readonly kind: "space"; readonly id: SpaceId }
  | { readonly reason: string }
  | undefined {
  const kind = entry.action.startsWith("stack.")
    ? "stack"
    : entry.action.startsWith("space.")
      ? "space"
      : undefined;
  if (kind === undefined) return undefined;
  const expectedType = kind === "stack" ? "STACK" : "SPACE";
  if (entry.resourceType !== expectedType) {
    return { reason: `affected resource type ${entry.resourceType}, not ${expectedType}` };
  }
  // The adapter parsed the ID by the resource type, which was just checked to be the kind's.
  const { resource } = entry;
  if (resource.kind === "stack" && kind === "stack") return resource;
  if (resource.kind === "space" && kind === "space") return resource;
  return { reason: `resource ID is not a valid ${kind} ID` };
}

/**
 * The change that brings the provisioner to what Spacelift has now. A resource Spacelift no
 * longer has becomes a delete only when the audit trail says it was deleted: a lookup that finds
 * nothing is weaker evidence (an API key that cannot see the space), and absence alone is the
 * full reconcile's to judge, with its grace period.
 */
async function currentChange(
  entries: ResourceEntries,
  auditTrail: SpaceliftAuditTrail,
): Promise<SynthesizedChange | { readonly reason: string }> {
  if (entries.kind === "stack") {
    const stackId = entries.id;
    const stack = await auditTrail.stack(stackId);
    if (stack === undefined) {
      return entries.deleted
        ? { kind: "stack.delete", stackId }
        : {
            reason:
              "Spacelift has no such stack, but no stack.delete was read: left to the reconciler",
          };
    }
    if ("reason" in stack) return { reason: stack.reason };
    return { kind: "stack.update", stack: { stackId, spaceId: stack.space, labels: stack.labels } };
  }
  const spaceId = entries.id;
  const space = await auditTrail.space(spaceId);
  if (space === undefined) {
    return entries.deleted
      ? { kind: "space.delete", spaceId }
      : {
          reason:
            "Spacelift has no such space, but no space.delete was read: left to the reconciler",
        };
  }
  if ("reason" in space) return { reason: space.reason };
  const parent = space.parentSpace;
  return {
    kind: "space.update",
    space: {
      spaceId,
      name: space.name,
      ...(parent !== null && { parentSpaceId: parent }),
      labels: space.labels,
    },
  };
}
