/**
 * The provisioner's ledger as a pass still reads and writes it. Planning does not: what a pass
 * enqueues is ordered against the ledger by the provisioner (synthesized events dated at the
 * listing). What is left: the count repair's check for deletes applied since the inventory,
 * and the parameters-only check's converge (no listing to date an event with).
 */
import type { StackId } from "../identifiers.ts";
import type { ObservedRole } from "../ports.ts";
import { stackRoleName } from "../role-names.ts";
import { stackScopes } from "../role-spec.ts";
import { beforeCreatingStackRoles } from "../stack-ledger.ts";
import type { Pass } from "./pass-state.ts";

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
