/**
 * The provisioner's ledger as a pass reads and writes it: Spacelift's listing is recorded there
 * (a resource exists, a stack's space and labels) so that late or silent webhook events cannot
 * undo a repair, and a delete the provisioner applied since the listing is not undone by it.
 */
import { EVENT_CLOCK_SKEW_MS } from "../audit-event.ts";
import type { StackId } from "../identifiers.ts";
import type { ObservedRole } from "../ports.ts";
import { stackRoleName, stackScopes } from "../role-spec.ts";
import { beforeCreatingStackRoles, recordListed, recordStackFacts } from "../stack-ledger.ts";
import type { Pass } from "./pass-state.ts";
import type { ConvergeTarget } from "./targets.ts";

/**
 * Whether the provisioner's ledger records the resource as deleted by an event dated at or
 * after Spacelift's listing (less the clock skew): the listing is then out of date for it.
 */
export async function deletedSinceListing(pass: Pass, resource: string): Promise<boolean> {
  return deletedSince(pass, resource, pass.listedAt);
}

/** Whether the provisioner's ledger records the resource as deleted by an event dated at or after `since`. */
export async function deletedSince(
  pass: Pass,
  resource: string,
  since: number | undefined,
): Promise<boolean> {
  const { ledger, settings } = pass.deps;
  if (ledger === undefined || settings.dryRun || since === undefined) return false;
  const last = await ledger.get(resource);
  return last?.state === "deleted" && last.timestamp >= since;
}

/**
 * Before converge may create a stack's roles (a role of the configuration's shape is not among
 * `existing`, the stack's roles in the inventory; undefined: not known), the provisioner's
 * ledger must stop vouching that the stack has only roles of the other shape, or the
 * provisioner would not look for the roles created here should the read/write split be
 * switched back.
 */
export async function beforeCreatingRoles(
  pass: Pass,
  stackId: StackId,
  existing: readonly ObservedRole[] | undefined,
): Promise<void> {
  const { ledger, settings, config } = pass.deps;
  if (ledger === undefined || settings.dryRun) return;
  if (existing !== undefined) {
    const present = new Set(existing.map(({ name }) => name));
    const names = stackScopes(config).map((scope) => stackRoleName(config, stackId, scope));
    if (names.every((name) => present.has(name))) return;
  }
  await beforeCreatingStackRoles(ledger, stackId, config);
}

/**
 * Spacelift's word, as of its listing, for the provisioner's ledger: the resource exists, and a
 * stack's space and labels. An event older than the listing then cannot undo the converge.
 */
export async function rememberStackFacts(pass: Pass, target: ConvergeTarget): Promise<void> {
  const { ledger, settings, now } = pass.deps;
  if (ledger === undefined || settings.dryRun) return;
  const listedAt = pass.listedAt ?? now().getTime() - EVENT_CLOCK_SKEW_MS;
  if (target.kind === "space") {
    await recordListed(ledger, target.key, listedAt, await ledger.get(target.key));
    return;
  }
  const { stackId, spaceId, labels } = target.stack;
  if (spaceId === undefined || labels === undefined) return;
  await recordStackFacts(ledger, { stackId, spaceId, labels }, listedAt);
}
