/**
 * Reading a reconcile order off the queue (core/queue-message.ts writes it). The reconciler's
 * role may send to the event queue, so an order is checked as strictly as a webhook: a
 * resource key of a valid stack or space ID, IAM role names, a listing time. Anything else is
 * refused (InvalidReconcileOrderError), which the provisioner logs and drops. Applying one
 * (applyReconcileOrder) checks it again against the ledger and IAM.
 */
import * as z from "zod/mini";
import type { VendingConfig } from "./config.ts";
import { ForeignResourceError, InvalidReconcileOrderError, OrderRefusedError } from "./errors.ts";
import { isSpaceId, isStackId, type SpaceId, type StackId } from "./identifiers.ts";
import type {
  ObservedRole,
  ParameterStore,
  ResourceLedger,
  RoleStore,
  SpaceRoleCap,
} from "./ports.ts";
import type { ReconcileOrder } from "./queue-message.ts";
import { deleteOrphan, revokeRoles } from "./reconcile/orphan-removal.ts";
import { isFullyRevoked, ORPHANED_AT_TAG } from "./reconcile/orphans.ts";
import { everyStackRoleName, legacySpaceRoleName, spaceRoleName } from "./role-names.ts";
import { describeHolder, isRoleOf } from "./role-ownership.ts";
import "./zod-locale.ts";

/** IAM's own pattern for role names (`[\w+=,.@-]+`, at most 64 characters). */
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;

const Order = z.strictObject({
  v: z.literal(2),
  reconcile: z.strictObject({
    resource: z.string().check(z.maxLength(140)),
    action: z.enum(["revoke", "delete", "misplaced"]),
    roles: z.array(z.string().check(z.regex(ROLE_NAME))).check(z.maxLength(8)),
    listedAt: z.number().check(z.int(), z.nonnegative()),
    // A 12-digit AWS account ID; the provisioner applies the order there only if it is configured.
    account: z.optional(z.string().check(z.regex(/^\d{12}$/))),
  }),
});

export type OrderOwner =
  | { readonly kind: "stack"; readonly id: StackId }
  | { readonly kind: "space"; readonly id: SpaceId };

export interface ParsedReconcileOrder extends ReconcileOrder {
  readonly owner: OrderOwner;
}

/** The order a queue message carries; throws InvalidReconcileOrderError when it is not one. */
export function parseReconcileOrder(message: string): ParsedReconcileOrder {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    throw new InvalidReconcileOrderError("reconcile order: not JSON");
  }
  const parsed = Order.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidReconcileOrderError(
      `reconcile order: ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
    );
  }
  const order = parsed.data.reconcile;
  const separator = order.resource.indexOf(":");
  const kind = order.resource.slice(0, separator);
  const id = order.resource.slice(separator + 1);
  let owner: OrderOwner;
  if (kind === "stack" && isStackId(id)) owner = { kind, id };
  else if (kind === "space" && isSpaceId(id)) owner = { kind, id };
  else {
    throw new InvalidReconcileOrderError(
      "reconcile order: resource must be stack:<stack ID> or space:<space ID>",
    );
  }
  if (order.action === "misplaced" && order.account === undefined) {
    throw new InvalidReconcileOrderError("reconcile order: misplaced: account is required");
  }
  const { account, ...rest } = order;
  return { ...rest, ...(account !== undefined && { account }), owner };
}

export interface OrderDeps {
  readonly config: VendingConfig;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  readonly ledger: ResourceLedger;
  readonly spaceRoleCap?: SpaceRoleCap;
  /** Hours a role stays revoked before a delete order may remove it (ORPHAN_GRACE_PERIOD_HOURS). */
  readonly orphanGracePeriodHours: number;
  readonly now: () => Date;
}

export interface OrderOutcome {
  /**
   * `stale`: the ledger says the resource exists as of after the listing; nothing was done.
   * `recorded`: (misplaced) the account is recorded as one that may hold the resource's roles.
   */
  readonly result: "revoked" | "deleted" | "stale" | "recorded";
  readonly roles: readonly string[];
  readonly changes: readonly string[];
}

/**
 * Carries out a reconcile order with the reconciler's own steps (revokeRoles, deleteOrphan),
 * after checking it again against what is true now:
 * - the provisioner's ledger: a resource recorded present by an event dated after the
 *   listing came back (or was created after it): nothing is done;
 * - each named role as IAM describes it now: gone, skipped; not this resource's, refused;
 * - a delete only removes roles revoked (trust and sessions) for at least the grace period, so
 *   an order cannot delete a role that was not first revoked and left to be recovered.
 * The per-run caps are the reconciler's: they cannot be checked here (see docs/security.md).
 */
export async function applyReconcileOrder(
  order: ParsedReconcileOrder,
  deps: OrderDeps,
): Promise<OrderOutcome> {
  if (order.action === "misplaced") {
    throw new InvalidReconcileOrderError("reconcile order: misplaced is recorded, never applied");
  }
  const { config, owner } = { config: deps.config, owner: order.owner };
  const last = await deps.ledger.get(order.resource);
  if (last?.state === "present" && last.timestamp > order.listedAt) {
    return { result: "stale", roles: [], changes: [] };
  }
  const described = await Promise.all(order.roles.map((name) => deps.roles.describe(name)));
  const roles = described.filter((role) => role !== undefined);
  for (const role of roles) {
    if (!isRoleOf(config, role, owner)) {
      throw new ForeignResourceError(`reconcile order: ${describeHolder(config, role, owner)}`);
    }
  }
  const changes: string[] = [];
  const now = deps.now();
  if (order.action === "revoke") {
    await revokeRoles(roles, deps, now, changes);
    return { result: "revoked", roles: roles.map(({ name }) => name), changes };
  }
  const graceMs = deps.orphanGracePeriodHours * 3_600_000;
  // Every role of the resource the removal would touch, not only those the order names: an
  // order naming none (or a name that does not exist) must not delete the parameters of a
  // resource whose live role is still there, nor its other roles along with a revoked one.
  const named = new Set(roles.map(({ name }) => name));
  const others = (
    await Promise.all(
      ownRoleNames(config, owner)
        .filter((name) => !named.has(name))
        .map((name) => deps.roles.describe(name)),
    )
  ).filter((role): role is ObservedRole => role !== undefined && isRoleOf(config, role, owner));
  for (const role of [...roles, ...others]) {
    const since = Date.parse(role.tags[ORPHANED_AT_TAG] ?? "");
    if (!isFullyRevoked(config, role) || Number.isNaN(since) || since + graceMs > now.getTime()) {
      throw new OrderRefusedError(
        `reconcile order: role ${role.name} has not been revoked for the grace period (${deps.orphanGracePeriodHours} h); not deleted`,
      );
    }
  }
  const kindPath = owner.kind === "stack" ? "stacks" : "spaces";
  const base = `${config.parameterPrefix}/${config.spaceliftAccount}/${kindPath}/${owner.id}`;
  const parameters = (await deps.parameters.listByPath(base)).filter(
    ({ name }) => !name.slice(base.length + 1).includes("/"),
  );
  await deleteOrphan({ ...owner, key: order.resource, roles, parameters }, deps, changes);
  return { result: "deleted", roles: roles.map(({ name }) => name), changes };
}

/** Every name the removal of the resource looks at (remove.ts removeStack / removeSpace). */
function ownRoleNames(config: VendingConfig, owner: OrderOwner): readonly string[] {
  return owner.kind === "stack"
    ? everyStackRoleName(config, owner.id)
    : [spaceRoleName(config, owner.id), legacySpaceRoleName(config, owner.id)];
}
