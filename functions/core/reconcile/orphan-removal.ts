/**
 * Plans the orphan protocol (orphans.ts decides): the revocation of the trust of roles whose
 * stack or space Spacelift no longer lists, and their deletion once their grace period is
 * over, within the per-run caps. Each becomes a reconcile order on the event queue, in the
 * resource's own group; the provisioner carries it out with revokeRoles and deleteOrphan.
 */

import type { ProvisionOutcome } from "../converge-contract.ts";
import { ForeignResourceError } from "../errors.ts";
import { resourceKey } from "../identifiers.ts";
import type { ObservedRole } from "../ports.ts";
import { reconcileOrderMessage } from "../queue-message.ts";
import {
  type RemoveDeps,
  removeRoleNamed,
  removeSpace,
  removeStack,
  restoreBoundary,
} from "../remove.ts";
import {
  REVOKED_SESSIONS_POLICY,
  revokedSessionsPolicy,
  revokedTrustPolicy,
} from "../revocation.ts";
import { canonicalJson } from "../role-diff.ts";
import { assertTrustPolicy } from "../trust-policy.ts";
import { type DecisionInput, failedDecision } from "./decisions.ts";
import type { Inventory, ManagedGroup } from "./inventory.ts";
import {
  emptyListingRefusal,
  isOurRoleArn,
  ORPHANED_AT_TAG,
  type OrphanPlan,
  orphansVouchedFor,
  planOrphans,
  withinCap,
} from "./orphans.ts";
import { addDecision, convergeDepsIn, type Pass } from "./pass-state.ts";
import { mapWithConcurrency } from "./pool.ts";
import type { SpaceliftListing } from "./spacelift-listing.ts";

/**
 * Revokes, holds or deletes what one account's inventory holds and Spacelift no longer lists,
 * within the per-run caps, which apply per account (MAX_REVOCATIONS_PER_RUN and
 * MAX_DELETIONS_PER_RUN in each account); nothing at all when the listing is empty (an expired
 * token's answer). The orders carry the account, so the provisioner acts (and checks
 * ownership) there.
 */
export async function settleOrphans(
  pass: Pass,
  scope: { readonly account: string; readonly inventory: Inventory },
  listing: SpaceliftListing,
): Promise<void> {
  const { settings } = pass.deps;
  const { inventory } = scope;
  const { config } = convergeDepsIn(pass, scope.account);
  const inAccount = (decision: DecisionInput): DecisionInput =>
    scope.account === pass.deps.config.awsAccountId
      ? decision
      : { ...decision, reason: `in AWS account ${scope.account}: ${decision.reason}` };
  const listed = new Set([
    ...listing.stacks.map(({ id }) => resourceKey("stack", id)),
    ...listing.spaces.map(({ id }) => resourceKey("space", id)),
    // Listed, though unusable: Spacelift still has it, so its roles are no orphans.
    ...listing.unusable.map(({ kind, id }) => resourceKey(kind, id)),
  ]);
  const orphans = [...inventory.groups.values()].filter(({ key }) => !listed.has(key));
  if (orphans.length === 0) return;
  const refusal = emptyListingRefusal(listing, orphans.length, config.spaceliftAccount);
  if (refusal !== undefined) {
    addDecision(pass, inAccount(refusal));
    return;
  }
  const { vouched, leftAlone } = orphansVouchedFor(orphans, listing);
  for (const decision of leftAlone) addDecision(pass, inAccount(decision));
  const plans = planOrphans(vouched, {
    config,
    now: pass.deps.now().getTime(),
    orphanGracePeriodHours: settings.orphanGracePeriodHours,
  });
  for (const decision of plans.waiting) addDecision(pass, inAccount(decision));
  const account = scope.account;
  await actWithinCap(
    pass,
    plans.revocations,
    settings.maxRevocationsPerRun,
    "MAX_REVOCATIONS_PER_RUN",
    (plan) => revokeGroup(pass, account, inAccountPlan(plan, inAccount)),
    inAccount,
  );
  await actWithinCap(
    pass,
    plans.deletions,
    settings.maxDeletionsPerRun,
    "MAX_DELETIONS_PER_RUN",
    (plan) => deleteGroup(pass, account, inAccountPlan(plan, inAccount)),
    inAccount,
  );
}

/** The plan with its reason said of its account. */
function inAccountPlan(
  plan: OrphanPlan,
  inAccount: (decision: DecisionInput) => DecisionInput,
): OrphanPlan {
  const { reason } = inAccount({
    action: "report",
    resource: plan.group.key,
    reason: plan.reason,
    outcome: "reported",
  });
  return { ...plan, reason };
}

async function actWithinCap(
  pass: Pass,
  plans: readonly OrphanPlan[],
  cap: number,
  setting: string,
  act: (plan: OrphanPlan) => Promise<void>,
  inAccount: (decision: DecisionInput) => DecisionInput,
): Promise<void> {
  const { due, deferred } = withinCap(plans, cap, setting);
  await mapWithConcurrency(due, pass.deps.settings.concurrency, act);
  for (const decision of deferred) addDecision(pass, inAccount(decision));
}

/**
 * Plans the revocation of an orphan's roles: the changes it makes (found by running the steps
 * over the pass's stores, which never write), and the reconcile order the provisioner carries
 * out.
 */
async function revokeGroup(pass: Pass, account: string, plan: OrphanPlan): Promise<void> {
  const changes: string[] = [];
  const base = { action: "revoke" as const, resource: plan.group.key, reason: plan.reason };
  try {
    await revokeRoles(plan.group.roles, convergeDepsIn(pass, account), pass.deps.now(), changes);
  } catch (error) {
    addDecision(pass, {
      ...failedDecision("revoke", base, error, pass.deps.settings.dryRun),
      changes,
    });
    return;
  }
  planOrder(pass, account, { ...base, roles: plan.group.roles.map(({ name }) => name), changes });
}

/**
 * Revokes each role: its trust is replaced with one no token meets, then an inline policy ends
 * the sessions issued before `now`, then the role is tagged with when. A role revoked with the
 * legacy document is brought to the current form; its tag (the grace period) stays. Each
 * change is pushed onto `changes` as it is made, so a failure still says what was done.
 */
export async function revokeRoles(
  observed: readonly ObservedRole[],
  deps: Pick<RemoveDeps, "config" | "roles">,
  now: Date,
  changes: string[],
): Promise<void> {
  const { config, roles } = deps;
  const stamp = now.toISOString();
  const trust = revokedTrustPolicy(config);
  // What IAM would refuse, and our own rules (the provider, aud, a sub without wildcard).
  assertTrustPolicy(config, trust, []);
  for (const role of observed) {
    changes.push(...perRole(role.name, await restoreBoundary(role, deps)));
    // Trust first, sessions second, tag last: if a step fails, the next run finds the role
    // not fully revoked and finishes; never a dated role that can still be assumed.
    const trustChanged = canonicalJson(role.trustPolicy) !== canonicalJson(trust);
    if (trustChanged) {
      await roles.updateTrustPolicy(role.name, trust);
      changes.push(`updateTrustPolicy ${role.name} (revoked)`);
    }
    // Sessions issued while the old trust held must end too; written after the trust, with
    // a cut-off after it, so no session slips in between.
    if (trustChanged || !(REVOKED_SESSIONS_POLICY in role.inlinePolicies)) {
      await roles.putInlinePolicy(role.name, REVOKED_SESSIONS_POLICY, revokedSessionsPolicy(now));
      changes.push(`putInlinePolicy ${role.name} ${REVOKED_SESSIONS_POLICY}`);
    }
    if (Number.isNaN(Date.parse(role.tags[ORPHANED_AT_TAG] ?? ""))) {
      await roles.tag(role.name, { [ORPHANED_AT_TAG]: stamp });
      changes.push(`tag ${role.name} ${ORPHANED_AT_TAG}=${stamp}`);
    }
  }
}

/** Plans the deletion of an orphan (see deleteOrphan), as a decision and a reconcile order. */
async function deleteGroup(pass: Pass, account: string, plan: OrphanPlan): Promise<void> {
  const { group } = plan;
  const changes: string[] = [];
  const base = { action: "delete" as const, resource: group.key, reason: plan.reason };
  const roles = group.roles.map(({ name }) => name);
  try {
    await deleteOrphan(group, convergeDepsIn(pass, account), changes);
    if (group.kind === "stack") pass.stackSpaces.delete(group.id);
  } catch (error) {
    addDecision(pass, {
      ...failedDecision("delete", base, error, pass.deps.settings.dryRun),
      changes,
    });
    // A role at the resource's name is someone else's: the resource's own roles still go (the
    // provisioner deletes them, then refuses the rest, as deleteOrphan does here).
    if (error instanceof ForeignResourceError) enqueueOrder(pass, account, { ...base, roles });
    return;
  }
  planOrder(pass, account, { ...base, roles, changes });
}

/** A planned revocation or deletion: the report's decision, and (unless a dry run) its order. */
function planOrder(
  pass: Pass,
  account: string,
  decision: Omit<DecisionInput, "outcome"> & {
    readonly action: "revoke" | "delete";
    readonly roles: string[];
  },
): void {
  addDecision(pass, { ...decision, outcome: pass.deps.settings.dryRun ? "planned" : "enqueued" });
  enqueueOrder(pass, account, decision);
}

/** The reconcile order of a planned revocation or deletion, unless a dry run. */
function enqueueOrder(
  pass: Pass,
  account: string,
  decision: Pick<DecisionInput, "resource"> & {
    readonly action: "revoke" | "delete";
    readonly roles: string[];
  },
): void {
  if (pass.deps.settings.dryRun) return;
  pass.messages.push(
    reconcileOrderMessage({
      resource: decision.resource,
      action: decision.action,
      roles: decision.roles,
      listedAt: pass.listedAt ?? pass.deps.now().getTime(),
      ...(account !== pass.deps.config.awsAccountId && { account }),
    }),
  );
}

/**
 * Deletes an orphan through the provisioner's own removal, then whatever of it that removal
 * did not name (a role or parameter named under an older naming configuration). Each change is
 * pushed onto `changes` as it is made.
 */
export async function deleteOrphan(
  group: ManagedGroup,
  removalDeps: RemoveDeps,
  changes: string[],
): Promise<void> {
  const { config } = removalDeps;
  let refusal: ForeignResourceError | undefined;
  if (group.roles.length > 0) {
    let outcome: ProvisionOutcome | undefined;
    try {
      outcome =
        group.kind === "stack"
          ? await removeStack(group.id, removalDeps)
          : await removeSpace(group.id, removalDeps);
    } catch (error) {
      // A role of the resource's name is someone else's: the resource's own roles (found by
      // their tags below) still go; the refusal is recorded once they have.
      if (!(error instanceof ForeignResourceError)) throw error;
      refusal = error;
    }
    if (outcome !== undefined) {
      changes.push(...outcome.changes.map((change) => `${outcome.roleName}: ${change}`));
      if (outcome.parameter === "deleted") changes.push("parameter deleted");
    }
    for (const role of group.roles) {
      if (role.name === outcome?.roleName) continue;
      changes.push(...perRole(role.name, await removeRoleNamed(role.name, removalDeps, group)));
    }
  }
  if (refusal !== undefined) throw refusal;
  for (const parameter of group.parameters) {
    // Only what points at one of our roles: the namespace is ours, but be sure.
    if (!isOurRoleArn(config, parameter.value)) continue;
    if ((await removalDeps.parameters.remove(parameter.name)) === "deleted") {
      changes.push(`deleteParameter ${parameter.name}`);
    }
  }
}

/** A role's changes in a decision that covers several roles. */
function perRole(name: string, changes: readonly string[]): string[] {
  return changes.map((change) => `${name}: ${change}`);
}
