/**
 * The orphan protocol's decisions, as pure functions: which resources Spacelift no longer lists
 * may be touched at all, and of those which to revoke (trust replaced, sessions ended, tagged
 * with when), hold (grace period running), delete (grace period over) or defer (per-run cap
 * reached). orphan-removal.ts carries them out.
 */

import type { VendingConfig } from "../config.ts";
import type { ObservedRole } from "../ports.ts";
import {
  LEGACY_REVOKED_TRUST_POLICY,
  REVOKED_SESSIONS_POLICY,
  revokedTrustPolicy,
} from "../revocation.ts";
import { canonicalJson } from "../role-diff.ts";
import { SPACE_TAG } from "../role-ownership.ts";
import type { DecisionInput } from "./decisions.ts";
import type { ManagedGroup } from "./inventory.ts";
import { isEmptyListing, type SpaceliftListing } from "./spacelift-listing.ts";

/** Set on a role whose stack or space Spacelift no longer lists, with the time it was revoked. */
export const ORPHANED_AT_TAG = "spacelift:orphaned-at";

/** When the group's roles were revoked, as tagged on the first role that says so. */
export function orphanedAtOf(group: ManagedGroup): string | undefined {
  return group.roles.map((role) => role.tags[ORPHANED_AT_TAG]).find((value) => value !== undefined);
}

/**
 * The refusal to act on any orphan when Spacelift listed nothing at all (see
 * `isEmptyListing`); undefined when the listing is not empty.
 */
export function emptyListingRefusal(
  listing: SpaceliftListing,
  orphans: number,
  account: string,
): DecisionInput | undefined {
  if (!isEmptyListing(listing)) return undefined;
  return {
    action: "report",
    resource: `spacelift:${account}`,
    reason: `Spacelift listed no stacks and no spaces while ${orphans} resources have roles or parameters here; refusing to revoke or delete anything (check the API key)`,
    outcome: "refused",
  };
}

/**
 * The orphans the listing can vouch for. An API key without the root space (read access to
 * some spaces only) lists neither the stacks nor the spaces it cannot see: their roles, which
 * webhooks vend for every space, would look deleted. Without root in the listing, only a stack
 * whose role says a listed space is an orphan; the rest is reported and left alone.
 */
export function orphansVouchedFor(
  orphans: readonly ManagedGroup[],
  listing: Pick<SpaceliftListing, "spaces" | "unusable">,
): { readonly vouched: readonly ManagedGroup[]; readonly leftAlone: readonly DecisionInput[] } {
  const visible = new Set<string>([
    ...listing.spaces.map(({ id }) => id),
    ...listing.unusable.filter(({ kind }) => kind === "space").map(({ id }) => id),
  ]);
  if (visible.has("root")) return { vouched: orphans, leftAlone: [] };
  const vouched: ManagedGroup[] = [];
  const leftAlone: DecisionInput[] = [];
  for (const group of orphans) {
    const space =
      group.kind === "space"
        ? undefined
        : group.roles.map((role) => role.tags[SPACE_TAG]).find((tag) => tag !== undefined);
    if (space !== undefined && visible.has(space)) {
      vouched.push(group);
      continue;
    }
    leftAlone.push({
      action: "report",
      resource: group.key,
      reason: `Spacelift does not list this ${group.kind}, but the API key does not see the root space, so it may only be hidden from the key; left alone (give the key read access to root)`,
      outcome: "reported",
      roles: group.roles.map(({ name }) => name),
    });
  }
  return { vouched, leftAlone };
}

export interface OrphanPlan {
  readonly group: ManagedGroup;
  readonly kind: "revoke" | "delete";
  /** When the grace period started (deletions are done oldest first). */
  readonly since: number;
  readonly reason: string;
}

export interface OrphanPlans {
  /** By resource key. */
  readonly revocations: readonly OrphanPlan[];
  /** Oldest grace period first, then by resource key. */
  readonly deletions: readonly OrphanPlan[];
  /** Holds (grace period running) and parameters left alone: nothing to do this run. */
  readonly waiting: readonly DecisionInput[];
}

/** Decides, for each orphan, to revoke it, hold it, delete it or leave its parameters alone. */
export function planOrphans(
  orphans: readonly ManagedGroup[],
  context: {
    readonly config: VendingConfig;
    readonly now: number;
    readonly orphanGracePeriodHours: number;
  },
): OrphanPlans {
  const { config, now, orphanGracePeriodHours } = context;
  const graceMs = orphanGracePeriodHours * 3_600_000;
  const plans: OrphanPlan[] = [];
  const waiting: DecisionInput[] = [];
  for (const group of orphans) {
    const gone = `Spacelift no longer lists this ${group.kind}`;
    if (group.roles.length === 0) {
      if (!group.parameters.some(({ value }) => isOurRoleArn(config, value))) {
        waiting.push({
          action: "report",
          resource: group.key,
          reason: `${gone}; its parameters do not point at a role of ours, so they are left alone`,
          outcome: "reported",
        });
        continue;
      }
      // Nothing left to recover: this is a removal interrupted after the role went.
      plans.push({
        group,
        kind: "delete",
        since: now,
        reason: `${gone}; only its parameter is left`,
      });
      continue;
    }
    const times = group.roles.map((role) => Date.parse(role.tags[ORPHANED_AT_TAG] ?? ""));
    const unrevoked = group.roles.filter(
      (role, index) => Number.isNaN(times[index]) || !isFullyRevoked(config, role),
    );
    if (unrevoked.length > 0) {
      const dated = times.every((time) => !Number.isNaN(time));
      const due = new Date((dated ? Math.max(...times) : now) + graceMs).toISOString();
      plans.push({
        group,
        kind: "revoke",
        since: now,
        reason: dated
          ? `${gone}: revoked earlier but not completely (or in the legacy form); revocation completed now, role deleted after ${due} unless it comes back`
          : `${gone}: trust revoked now, role deleted after ${due} unless it comes back (sessions issued before now are ended)`,
      });
      continue;
    }
    const since = Math.max(...(times as number[]));
    const due = since + graceMs;
    if (now < due) {
      waiting.push({
        action: "hold",
        resource: group.key,
        reason: `${gone} since ${new Date(since).toISOString()} (trust revoked); deleted after ${new Date(due).toISOString()}`,
        outcome: "reported",
        roles: group.roles.map(({ name }) => name),
      });
      continue;
    }
    plans.push({
      group,
      kind: "delete",
      since,
      reason: `${gone} since ${new Date(since).toISOString()}; the grace period of ${orphanGracePeriodHours} h is over`,
    });
  }
  const revocations = plans
    .filter(({ kind }) => kind === "revoke")
    .sort((a, b) => (a.group.key < b.group.key ? -1 : a.group.key > b.group.key ? 1 : 0));
  const deletions = plans
    .filter(({ kind }) => kind === "delete")
    .sort((a, b) => a.since - b.since || (a.group.key < b.group.key ? -1 : 1));
  return { revocations, deletions, waiting };
}

/**
 * The first `cap` plans are carried out this run; the rest are deferred, each with a decision
 * that names the setting (`MAX_REVOCATIONS_PER_RUN` or `MAX_DELETIONS_PER_RUN`).
 */
export function withinCap(
  plans: readonly OrphanPlan[],
  cap: number,
  setting: string,
): { readonly due: readonly OrphanPlan[]; readonly deferred: readonly DecisionInput[] } {
  return {
    due: plans.slice(0, cap),
    deferred: plans.slice(cap).map(
      (plan): DecisionInput => ({
        action: plan.kind,
        resource: plan.group.key,
        reason: `${plan.reason}; deferred: ${setting}=${cap} reached this run`,
        outcome: "deferred",
        roles: plan.group.roles.map(({ name }) => name),
      }),
    ),
  };
}

/** The role's trust admits nobody, in the current or the legacy (pre-IAM-check) form. */
function isTrustRevoked(config: VendingConfig, role: ObservedRole): boolean {
  const trust = canonicalJson(role.trustPolicy);
  return (
    trust === canonicalJson(revokedTrustPolicy(config)) ||
    trust === canonicalJson(LEGACY_REVOKED_TRUST_POLICY)
  );
}

/** Revoked in the current form: trust admits nobody and the sessions policy is on the role. */
export function isFullyRevoked(config: VendingConfig, role: ObservedRole): boolean {
  return (
    canonicalJson(role.trustPolicy) === canonicalJson(revokedTrustPolicy(config)) &&
    REVOKED_SESSIONS_POLICY in role.inlinePolicies
  );
}

/** Something of a revocation is on the role: its trust, or the sessions policy. */
export function isRevocationUnderway(config: VendingConfig, role: ObservedRole): boolean {
  return isTrustRevoked(config, role) || REVOKED_SESSIONS_POLICY in role.inlinePolicies;
}

/** An ARN of a role under our role path in our account (what our parameters hold). */
export function isOurRoleArn(config: VendingConfig, value: string): boolean {
  const prefix = `:iam::${config.awsAccountId}:role${config.rolePath}`;
  return /^arn:aws[a-z-]*:iam::/.test(value) && value.includes(prefix) && !value.endsWith("/");
}
