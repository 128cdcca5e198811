/**
 * The reconciler's core: makes the vended roles and parameters converge to what Spacelift's
 * own API says exists, whatever webhooks were missed. Shared by the scheduled Lambda and the
 * `npm run reconcile` CLI.
 *
 * One run: read what we manage in AWS (roles under the role path carrying our tags, parameters
 * under `<prefix>/<account>/`), then ask Spacelift which stacks and spaces exist, then
 * - converge every stack and space Spacelift lists (create what is missing, repair drift,
 *   restore the trust of an orphan whose stack came back) through the provisioner's
 *   `convergeStack`/`convergeSpace`;
 * - revoke the trust of roles whose stack or space is gone and tag them `spacelift:orphaned-at`;
 * - delete them once the grace period has passed, at most a few per run.
 * Without Spacelift (no API key, or its API failing) it only checks roles against parameters.
 *
 * A dry run goes through exactly the same code with stores that read but never write, so the
 * plan it prints is the one a real run would carry out.
 */
import * as z from "zod/mini";
import { EVENT_CLOCK_SKEW_MS } from "./audit-event.ts";
import { parseEnv } from "./config.ts";
import { ForeignResourceError, SpaceRoleCapError } from "./errors.ts";
import { isSpaceId, isStackId, type SpaceId, type StackId } from "./identifiers.ts";
import type {
  ObservedRole,
  ParameterStore,
  PolicyDocument,
  ResourceLedger,
  RoleSpec,
  RoleStore,
  SpaceliftDirectory,
  SpaceliftSpace,
  SpaceliftStack,
  SpaceNode,
  SpacePathStore,
  SpaceQuota,
  Tags,
} from "./ports.ts";
import {
  beforeCreatingStackRoles,
  convergeSpace,
  convergeStack,
  type ProvisionOutcome,
  recordListed,
  recordSpace,
  recordStackFacts,
  removeSpace,
  removeStack,
  type SpaceRoleCap,
} from "./provision.ts";
import { reconcileStackEnvironment } from "./reconcile-stack-environment.ts";
import {
  LEGACY_REVOKED_TRUST_POLICY,
  REVOKED_SESSIONS_POLICY,
  revokedSessionsPolicy,
  revokedTrustPolicy,
} from "./revocation.ts";
import { canonicalJson } from "./role-diff.ts";
import {
  assertTrustPolicy,
  boundaryOf,
  isManagedByUs,
  isRoleOf,
  type RoleOwner,
  SPACE_TAG,
  STACK_TAG,
  stackRoleName,
  stackScopes,
  type VendingConfig,
} from "./role-spec.ts";
import type { StackEnvironment } from "./stack-environment.ts";
import { templateUses } from "./subject.ts";
import "./zod-locale.ts";

/** Set on a role whose stack or space Spacelift no longer lists, with the time it was revoked. */
export const ORPHANED_AT_TAG = "spacelift:orphaned-at";

export interface ReconcileSettings {
  /** Hours an orphaned role keeps existing (trust revoked) before it is deleted. */
  readonly orphanGracePeriodHours: number;
  /** Orphans deleted per run (role groups or stray parameters); the rest wait for a later run. */
  readonly maxDeletionsPerRun: number;
  /** Orphans whose trust is revoked per run; the rest wait for a later run. */
  readonly maxRevocationsPerRun: number;
  /** Resources converged at the same time; IAM's control plane throttles bursts. */
  readonly concurrency: number;
  /** Plan only: read everything, write nothing. */
  readonly dryRun: boolean;
}

export interface ReconcilerConfig {
  readonly settings: ReconcileSettings;
  /** SecureString parameter holding the Spacelift API key; undefined: run without Spacelift. */
  readonly apiKeyParameter: string | undefined;
  /** Spacelift's GraphQL endpoint; undefined: `https://<SPACELIFT_HOSTNAME>/graphql`. */
  readonly spaceliftEndpoint: string | undefined;
}

const flag = z.pipe(
  z._default(z.enum(["true", "false", "1", "0"]), "false"),
  z.transform((value) => value === "true" || value === "1"),
);

const Reconciler = z.object({
  ORPHAN_GRACE_PERIOD_HOURS: z._default(z.coerce.number().check(z.minimum(0), z.maximum(8760)), 72),
  MAX_DELETIONS_PER_RUN: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(10_000)),
    20,
  ),
  MAX_REVOCATIONS_PER_RUN: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(10_000)),
    50,
  ),
  RECONCILE_CONCURRENCY: z._default(
    z.coerce.number().check(z.int(), z.minimum(1), z.maximum(32)),
    4,
  ),
  RECONCILE_DRY_RUN: flag,
  SPACELIFT_API_KEY_PARAMETER: z.optional(
    z.string().check(z.regex(/^\/[a-zA-Z0-9_.\-/]+$/, "must be an absolute SSM parameter name")),
  ),
  SPACELIFT_API_ENDPOINT: z.optional(
    z
      .url("must be a URL like https://acme.app.spacelift.io/graphql")
      .check(
        z.refine(
          isSafeApiEndpoint,
          "must be an https:// URL (the API key travels to it); http:// only to 127.0.0.1, [::1] or localhost",
        ),
      ),
  ),
});

/** Hosts that never leave the machine: the only ones the API key may reach over plain HTTP. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** The reconciler sends the Spacelift API key to this endpoint: https, or loopback http. */
function isSafeApiEndpoint(endpoint: string): boolean {
  const url = new URL(endpoint);
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

export function loadReconcilerConfig(env: Readonly<Record<string, string | undefined>>) {
  const raw = parseEnv(Reconciler, env);
  const config: ReconcilerConfig = {
    settings: {
      orphanGracePeriodHours: raw.ORPHAN_GRACE_PERIOD_HOURS,
      maxDeletionsPerRun: raw.MAX_DELETIONS_PER_RUN,
      maxRevocationsPerRun: raw.MAX_REVOCATIONS_PER_RUN,
      concurrency: raw.RECONCILE_CONCURRENCY,
      dryRun: raw.RECONCILE_DRY_RUN,
    },
    apiKeyParameter: raw.SPACELIFT_API_KEY_PARAMETER,
    spaceliftEndpoint: raw.SPACELIFT_API_ENDPOINT,
  };
  return config;
}

/** Spacelift's API, or why it cannot be used this run. */
export type SpaceliftAccess =
  | {
      readonly available: true;
      readonly directory: SpaceliftDirectory;
      /** With STACK_ENVIRONMENT=true: each listed stack's variables are checked and repaired. */
      readonly environment?: StackEnvironment;
    }
  | { readonly available: false; readonly reason: string };

/** What the provisioner's converge needs; new needs of it flow into the reconciler's deps. */
type ConvergeDeps = Parameters<typeof convergeStack>[1];

export type ReconcilerDeps = ConvergeDeps & {
  readonly config: VendingConfig;
  readonly settings: ReconcileSettings;
  readonly roles: RoleStore;
  readonly parameters: ParameterStore;
  /** Opens Spacelift's API (reads the API key); called once per run. */
  readonly spacelift: () => Promise<SpaceliftAccess>;
  readonly now: () => Date;
  /** Injected so tests never sleep. */
  readonly sleep: (ms: number) => Promise<void>;
  /**
   * The provisioner's ledger: what Spacelift lists of a stack (space, labels) is recorded
   * there after each converge, so late or silent webhook events cannot undo a repair.
   */
  readonly ledger?: ResourceLedger;
};

export type ReconcileAction =
  | "create"
  | "update"
  | "restore"
  | "revoke"
  | "delete"
  | "hold"
  | "report";

/**
 * - `planned`: a dry run would do it; `applied`: done;
 * - `deferred`: due, but held back by a per-run cap; a later run does it;
 * - `refused`: a safety rule forbids it (a role that is not ours, an empty Spacelift answer);
 * - `reported`: an inconsistency or a waiting orphan, for a human to read;
 * - `failed`: tried, and AWS said no (see `error`); the next run tries again.
 */
export type DecisionOutcome =
  | "planned"
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
  readonly counts: {
    readonly spaceliftStacks: number;
    readonly spaceliftSpaces: number;
    readonly managedRoles: number;
    readonly parameters: number;
    /** Resources that needed nothing. */
    readonly inSync: number;
  };
}

/** Roles and parameters of one Spacelift resource, as found in AWS. */
interface ManagedGroup {
  readonly key: string;
  readonly kind: "stack" | "space";
  readonly id: string;
  readonly roles: ObservedRole[];
  readonly parameters: { name: string; value: string }[];
}

interface Inventory {
  readonly groups: Map<string, ManagedGroup>;
  /** Every parameter under `<prefix>/<account>/`, by name (the dry run's view of SSM). */
  readonly parameterValues: Map<string, string>;
  readonly managedRoles: number;
  readonly unrecognisedRoles: readonly ObservedRole[];
  /** Every role listed under the role path (ours or not), as described at the start. */
  readonly snapshot: ReadonlyMap<string, ObservedRole | undefined>;
}

interface Truth {
  readonly stacks: readonly SpaceliftStack[];
  readonly spaces: readonly SpaceliftSpace[];
  /**
   * As of when the lists are true, for the provisioner's ledger (ms): our clock just before
   * asking, less the clock skew allowed between us and Spacelift, so that an event Spacelift
   * dated after the listing is never taken for an older one.
   */
  readonly listedAt: number;
  readonly environment?: StackEnvironment | undefined;
}

/** One reconciliation run; see the module documentation. Never throws for one resource's failure. */
export async function reconcile(deps: ReconcilerDeps): Promise<ReconcileReport> {
  const { config, settings } = deps;
  // Before anything is read: a stack counted in a space after this is never uncounted here.
  const runStart = deps.now().getTime();
  // AWS is read before Spacelift: a role created for a new stack after our listing is simply
  // not seen, whereas reading Spacelift first would make such a role look like an orphan.
  const inventory = await takeInventory(deps);
  const roles = new SnapshotRoleStore(deps.roles, inventory.snapshot);
  const stores = settings.dryRun
    ? dryRunStores({ ...deps, roles }, inventory.parameterValues)
    : {
        roles,
        parameters: new SnapshotParameterStore(deps.parameters, inventory.parameterValues),
      };
  const run: Run = {
    deps,
    stores,
    spacePaths: deps.spacePaths,
    decisions: [],
    inSync: 0,
    spaceRoleCap: spaceRoleCapFor(deps),
    holders: holdersOf(inventory),
  };
  for (const role of inventory.unrecognisedRoles) {
    record(run, {
      action: "report",
      resource: `role:${role.name}`,
      reason: "carries our tags but neither spacelift:stack nor spacelift:space; left untouched",
      outcome: "reported",
      roles: [role.name],
    });
  }

  const truth = await readSpacelift(deps);
  if ("reason" in truth) {
    record(run, {
      action: "report",
      resource: `spacelift:${config.spaceliftAccount}`,
      reason: `Spacelift not consulted (${truth.reason}): roles checked against parameters only; nothing created from Spacelift, revoked or deleted`,
      outcome: truth.failed ? "failed" : "reported",
    });
    await checkRolesAgainstParameters(run, inventory);
  } else {
    await reconcileWithSpacelift(run, inventory, truth);
    await repairSpaceCounts(run, truth, runStart);
  }
  return {
    account: config.spaceliftAccount,
    dryRun: settings.dryRun,
    mode: "reason" in truth ? "parameters-only" : "spacelift",
    // Resources are reconciled concurrently; the report lists them in a stable order.
    decisions: [...run.decisions].sort(byResource),
    counts: {
      spaceliftStacks: "reason" in truth ? 0 : truth.stacks.length,
      spaceliftSpaces: "reason" in truth ? 0 : truth.spaces.length,
      managedRoles: inventory.managedRoles,
      parameters: [...inventory.groups.values()].reduce((n, g) => n + g.parameters.length, 0),
      inSync: run.inSync,
    },
  };
}

interface Run {
  readonly deps: ReconcilerDeps;
  /** The stores converge and removal go through: the real ones, or the dry run's. */
  readonly stores: Pick<ReconcilerDeps, "roles" | "parameters">;
  /** Where converge reads space names and parents for `{spacePath}`: Spacelift's answer when there is one. */
  spacePaths: SpacePathStore | undefined;
  /** The stacks' variables in Spacelift, when they are ours to converge (STACK_ENVIRONMENT). */
  environment?: StackEnvironment | undefined;
  /** When Spacelift's lists were read (Truth.listedAt); undefined without Spacelift. */
  listedAt?: number;
  readonly decisions: Decision[];
  inSync: number;
  /** The per-space role cap converge goes through: the real one, or the dry run's. */
  readonly spaceRoleCap: SpaceRoleCap | undefined;
  /** Each stack with roles, and the space they are in, as the run leaves them. */
  readonly holders: Map<string, string>;
}

type DecisionInput = Omit<Decision, "account" | "roles" | "changes"> &
  Partial<Pick<Decision, "roles" | "changes">>;

function record(run: Run, decision: DecisionInput): void {
  run.decisions.push({
    account: run.deps.config.spaceliftAccount,
    roles: [],
    changes: [],
    ...decision,
  });
}

async function readSpacelift(
  deps: ReconcilerDeps,
): Promise<Truth | { reason: string; failed: boolean }> {
  let access: SpaceliftAccess;
  try {
    access = await deps.spacelift();
  } catch (error) {
    return { reason: `cannot open Spacelift: ${describeError(error)}`, failed: true };
  }
  if (!access.available) return { reason: access.reason, failed: false };
  const listedAt = deps.now().getTime() - EVENT_CLOCK_SKEW_MS;
  try {
    const [stacks, spaces] = await Promise.all([
      access.directory.listStacks(),
      access.directory.listSpaces(),
    ]);
    return { stacks, spaces, listedAt, environment: access.environment };
  } catch (error) {
    return { reason: `Spacelift API failed: ${describeError(error)}`, failed: true };
  }
}

/** Our roles (path and tags) and parameters (`<prefix>/<account>/stacks|spaces/<id>/…`). */
async function takeInventory(deps: ReconcilerDeps): Promise<Inventory> {
  const { config } = deps;
  const groups = new Map<string, ManagedGroup>();
  const groupOf = (kind: "stack" | "space", id: string): ManagedGroup => {
    const key = `${kind}:${id}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { key, kind, id, roles: [], parameters: [] };
      groups.set(key, group);
    }
    return group;
  };

  const listed = await deps.roles.listByPath(config.rolePath);
  const described = await mapWithConcurrency(listed, deps.settings.concurrency, ({ name }) =>
    deps.roles.describe(name),
  );
  const unrecognisedRoles: ObservedRole[] = [];
  let managedRoles = 0;
  for (const role of described) {
    // Gone since the listing, or someone else's role under our path: never ours to touch.
    if (role === undefined || !isManagedByUs(config, role.tags, role.path)) continue;
    managedRoles += 1;
    const stackId = role.tags[STACK_TAG];
    const spaceId = role.tags[SPACE_TAG];
    if (stackId !== undefined) groupOf("stack", stackId).roles.push(role);
    else if (spaceId !== undefined) groupOf("space", spaceId).roles.push(role);
    else unrecognisedRoles.push(role);
  }

  const base = `${config.parameterPrefix}/${config.spaceliftAccount}`;
  const parameterValues = new Map<string, string>();
  for (const parameter of await deps.parameters.listByPath(base)) {
    parameterValues.set(parameter.name, parameter.value);
    const match = /^\/(stacks|spaces)\/([^/]+)\/[^/]+$/.exec(parameter.name.slice(base.length));
    if (match?.[1] === undefined || match[2] === undefined) continue;
    groupOf(match[1] === "stacks" ? "stack" : "space", match[2]).parameters.push(parameter);
  }
  const snapshot = new Map(listed.map(({ name }, index) => [name, described[index]]));
  return { groups, parameterValues, managedRoles, unrecognisedRoles, snapshot };
}

async function reconcileWithSpacelift(run: Run, inventory: Inventory, truth: Truth): Promise<void> {
  const { deps } = run;
  run.listedAt = truth.listedAt;
  run.environment = truth.environment;
  await useSpaceliftSpaces(run, truth.spaces);
  const listed = new Set([
    ...truth.stacks.map(({ id }) => `stack:${id}`),
    ...truth.spaces.map(({ id }) => `space:${id}`),
  ]);

  const targets: ConvergeTarget[] = [];
  for (const space of truth.spaces) {
    if (!isSpaceId(space.id)) {
      record(run, invalidIdentifier(`space:${space.id}`, "space ID"));
      continue;
    }
    targets.push({ key: `space:${space.id}`, kind: "space", spaceId: space.id });
  }
  for (const stack of truth.stacks) {
    if (!isStackId(stack.id) || !isSpaceId(stack.space)) {
      record(run, invalidIdentifier(`stack:${stack.id}`, "stack or space ID"));
      continue;
    }
    targets.push({
      key: `stack:${stack.id}`,
      kind: "stack",
      stack: { stackId: stack.id, spaceId: stack.space, labels: stack.labels },
    });
  }
  await mapWithConcurrency(targets, deps.settings.concurrency, (target) =>
    convergeTarget(run, target, inventory.groups.get(target.key)),
  );

  const orphans = [...inventory.groups.values()].filter(({ key }) => !listed.has(key));
  if (orphans.length === 0) return;
  if (truth.stacks.length === 0 && truth.spaces.length === 0) {
    // Every Spacelift account has at least its root space: an answer with nothing at all is
    // what an expired or unauthorised token looks like (spacelift-io/spacectl#79), not truth.
    record(run, {
      action: "report",
      resource: `spacelift:${deps.config.spaceliftAccount}`,
      reason: `Spacelift listed no stacks and no spaces while ${orphans.length} resources have roles or parameters here; refusing to revoke or delete anything (check the API key)`,
      outcome: "refused",
    });
    return;
  }
  await handleOrphans(run, visibleOrphans(run, orphans, truth));
}

/**
 * The orphans the listing can vouch for. An API key without the root space (read access to
 * some spaces only) lists neither the stacks nor the spaces it cannot see: their roles, which
 * webhooks vend for every space, would look deleted. Without root in the listing, only a stack
 * whose role says a listed space is an orphan; the rest is reported and left alone.
 */
function visibleOrphans(
  run: Run,
  orphans: readonly ManagedGroup[],
  truth: Truth,
): readonly ManagedGroup[] {
  const visible = new Set(truth.spaces.map(({ id }) => id));
  if (visible.has("root")) return orphans;
  return orphans.filter((group) => {
    const space =
      group.kind === "space"
        ? undefined
        : group.roles.map((role) => role.tags[SPACE_TAG]).find((tag) => tag !== undefined);
    if (space !== undefined && visible.has(space)) return true;
    record(run, {
      action: "report",
      resource: group.key,
      reason: `Spacelift does not list this ${group.kind}, but the API key does not see the root space, so it may only be hidden from the key; left alone (give the key read access to root)`,
      outcome: "reported",
      roles: group.roles.map(({ name }) => name),
    });
    return false;
  });
}

type ConvergeTarget =
  | {
      readonly key: string;
      readonly kind: "stack";
      readonly stack: Parameters<typeof convergeStack>[0];
    }
  | { readonly key: string; readonly kind: "space"; readonly spaceId: SpaceId };

function invalidIdentifier(resource: string, what: string): DecisionInput {
  return {
    action: "report",
    resource,
    reason: `Spacelift lists a ${what} this product cannot use in IAM names and conditions; skipped`,
    outcome: "reported",
  };
}

/** Converges one resource Spacelift lists; records a decision when something was (or would be) done. */
async function convergeTarget(
  run: Run,
  target: ConvergeTarget,
  group: ManagedGroup | undefined,
): Promise<void> {
  const convergeDeps = convergeDepsOf(run);
  const fresh = group === undefined || group.roles.length === 0;
  const orphanedAt = group?.roles
    .map((role) => role.tags[ORPHANED_AT_TAG])
    .find((value) => value !== undefined);
  const base: Pick<DecisionInput, "resource" | "reason"> = {
    resource: target.key,
    reason: describeFindings(target.kind, group, orphanedAt),
  };
  try {
    // A resource with no role here that Spacelift deleted after listing it (the provisioner
    // applied its delete already) must not get its role back from the listing.
    if (fresh && (await deletedSinceListing(run, target.key))) {
      record(run, {
        ...base,
        action: "report",
        reason: `${base.reason}; but it was deleted after Spacelift listed it (the provisioner applied the delete): not created`,
        outcome: "reported",
      });
      return;
    }
    if (target.kind === "stack") {
      await beforeCreatingRoles(run, target.stack.stackId, group?.roles ?? []);
    }
    const outcome =
      target.kind === "stack"
        ? await convergeStack(target.stack, convergeDeps, { fresh })
        : await convergeSpace({ spaceId: target.spaceId }, convergeDeps, { fresh });
    // The delete may have been applied while the role was being created (it found nothing to
    // remove then): look again once the role exists, and remove what this run created.
    if (outcome.result === "created" && (await deletedSinceListing(run, target.key))) {
      const removed =
        target.kind === "stack"
          ? await removeStack(target.stack.stackId, convergeDeps)
          : await removeSpace(target.spaceId, convergeDeps);
      record(run, {
        ...base,
        action: "delete",
        reason: `${base.reason}; but it was deleted after Spacelift listed it (the provisioner applied the delete while this run created its role): removed again`,
        outcome: "applied",
        roles: [outcome.roleName],
        changes: [...outcome.changes, ...removed.changes],
      });
      return;
    }
    await rememberStackFacts(run, target);
    if (target.kind === "stack" && target.stack.spaceId !== undefined) {
      run.holders.set(target.stack.stackId, target.stack.spaceId);
    }
    const decision = decisionFromOutcome(run, outcome, base, orphanedAt !== undefined);
    if (decision === undefined) run.inSync += 1;
    else record(run, decision);
    if (target.kind === "stack" && run.environment !== undefined) {
      const { stackId } = target.stack;
      const plan = run.deps.settings.dryRun;
      for (const found of await reconcileStackEnvironment(
        run.environment,
        stackId,
        outcome,
        plan,
      )) {
        record(run, { resource: target.key, ...found });
      }
    }
  } catch (error) {
    record(run, failure(run, fresh ? "create" : "update", base, error));
  }
}

/**
 * Whether the provisioner's ledger records the resource as deleted by an event dated at or
 * after Spacelift's listing (less the clock skew): the listing is then out of date for it.
 */
async function deletedSinceListing(run: Run, resource: string): Promise<boolean> {
  return deletedSince(run, resource, run.listedAt);
}

/** Whether the provisioner's ledger records the resource as deleted by an event dated at or after `since`. */
async function deletedSince(
  run: Run,
  resource: string,
  since: number | undefined,
): Promise<boolean> {
  const { ledger, settings } = run.deps;
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
async function beforeCreatingRoles(
  run: Run,
  stackId: StackId,
  existing: readonly ObservedRole[] | undefined,
): Promise<void> {
  const { ledger, settings, config } = run.deps;
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
async function rememberStackFacts(run: Run, target: ConvergeTarget): Promise<void> {
  const { ledger, settings, now } = run.deps;
  if (ledger === undefined || settings.dryRun) return;
  const listedAt = run.listedAt ?? now().getTime() - EVENT_CLOCK_SKEW_MS;
  if (target.kind === "space") {
    await recordListed(ledger, target.key, listedAt, await ledger.get(target.key));
    return;
  }
  const { stackId, spaceId, labels } = target.stack;
  if (spaceId === undefined || labels === undefined) return;
  await recordStackFacts(ledger, { stackId, spaceId, labels }, listedAt);
}

function convergeDepsOf(run: Run): ConvergeDeps {
  const { spacePaths: _persistent, spaceRoleCap: _cap, ...deps } = run.deps;
  return {
    ...deps,
    roles: run.stores.roles,
    parameters: run.stores.parameters,
    ...(run.spaceRoleCap !== undefined && { spaceRoleCap: run.spaceRoleCap }),
    ...(run.spacePaths !== undefined && { spacePaths: run.spacePaths }),
  };
}

/**
 * Spacelift's own list of spaces as the source of `{spacePath}` for this run (converge only
 * reads it), falling back to what space events recorded. When not a dry run, the recorded
 * names and parents are brought up to date too, so the provisioner renders the same paths.
 */
async function useSpaceliftSpaces(run: Run, spaces: readonly SpaceliftSpace[]): Promise<void> {
  const persistent = run.deps.spacePaths;
  const nodes = new Map<string, SpaceNode>();
  for (const space of spaces) {
    if (!isSpaceId(space.id)) continue;
    nodes.set(space.id, {
      spaceId: space.id,
      name: space.name,
      parentSpaceId: isSpaceId(space.parentSpace) ? space.parentSpace : undefined,
    });
  }
  run.spacePaths = {
    get: async (spaceId) => nodes.get(spaceId) ?? persistent?.get(spaceId),
    put: async () => {},
    remove: async () => {},
  };
  // Only a template with {spacePath} reads the recorded paths; otherwise leave them to events.
  const needed = templateUses(run.deps.config.subjectTemplate, "spacePath");
  if (persistent === undefined || !needed || run.deps.settings.dryRun) return;
  // As of the listing (like the ledger's entries): a space event applied since, dated after it,
  // keeps what it recorded instead of getting the listed name back.
  const timestamp = run.listedAt ?? run.deps.now().getTime() - EVENT_CLOCK_SKEW_MS;
  await mapWithConcurrency([...nodes.values()], run.deps.settings.concurrency, async (node) => {
    try {
      await recordSpace(node, { spacePaths: persistent }, timestamp);
    } catch (error) {
      record(run, {
        ...failure(
          run,
          "update",
          {
            resource: `space:${node.spaceId}`,
            reason: "recording the space's name and parent (for {spacePath}) failed",
          },
          error,
        ),
      });
    }
  });
}

/** What the inventory says about a resource Spacelift lists, as the reason of its decision. */
function describeFindings(
  kind: "stack" | "space",
  group: ManagedGroup | undefined,
  orphanedAt: string | undefined,
): string {
  if (group === undefined) return `Spacelift lists this ${kind}; it has no role`;
  if (group.roles.length === 0) {
    return `Spacelift lists this ${kind}; its role is gone (deleted outside this product?) while its parameter remains`;
  }
  if (orphanedAt !== undefined) {
    return `Spacelift lists this ${kind} again; restoring the trust revoked at ${orphanedAt}`;
  }
  const unpublished = unpublishedRoles(group);
  if (unpublished.length > 0) {
    return `no parameter holds the ARN of ${unpublished.map(({ name }) => name).join(", ")}`;
  }
  return "drift from the configured role";
}

function unpublishedRoles(group: ManagedGroup): ObservedRole[] {
  const published = new Set(group.parameters.map(({ value }) => value));
  return group.roles.filter(({ arn }) => !published.has(arn));
}

function decisionFromOutcome(
  run: Run,
  outcome: ProvisionOutcome,
  base: Pick<DecisionInput, "resource" | "reason">,
  restoring: boolean,
): DecisionInput | undefined {
  const parameterChanged = outcome.parameter === "created" || outcome.parameter === "updated";
  if (outcome.result === "unchanged" && !parameterChanged) return undefined;
  const changes = [...outcome.changes];
  if (parameterChanged) changes.push(`parameter ${outcome.parameter}`);
  return {
    ...base,
    action: outcome.result === "created" ? "create" : restoring ? "restore" : "update",
    outcome: run.deps.settings.dryRun ? "planned" : "applied",
    roles: [outcome.roleName],
    changes,
  };
}

function failure(
  run: Run,
  action: ReconcileAction,
  base: Pick<DecisionInput, "resource" | "reason">,
  error: unknown,
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
    ...(run.deps.settings.dryRun && { reason: `${base.reason} (while planning)` }),
  };
}

interface OrphanPlan {
  readonly group: ManagedGroup;
  readonly kind: "revoke" | "delete";
  /** When the grace period started (deletions are done oldest first). */
  readonly since: number;
  readonly reason: string;
}

/** Revokes, holds or deletes what Spacelift no longer lists, within the per-run caps. */
async function handleOrphans(run: Run, orphans: readonly ManagedGroup[]): Promise<void> {
  const { settings } = run.deps;
  const now = run.deps.now().getTime();
  const graceMs = settings.orphanGracePeriodHours * 3_600_000;
  const plans: OrphanPlan[] = [];
  for (const group of orphans) {
    const gone = `Spacelift no longer lists this ${group.kind}`;
    if (group.roles.length === 0) {
      if (!group.parameters.some(({ value }) => isOurRoleArn(run.deps.config, value))) {
        record(run, {
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
      (role, index) => Number.isNaN(times[index]) || !isFullyRevoked(run.deps.config, role),
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
      record(run, {
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
      reason: `${gone} since ${new Date(since).toISOString()}; the grace period of ${settings.orphanGracePeriodHours} h is over`,
    });
  }

  const revocations = plans
    .filter(({ kind }) => kind === "revoke")
    .sort((a, b) => (a.group.key < b.group.key ? -1 : a.group.key > b.group.key ? 1 : 0));
  const deletions = plans
    .filter(({ kind }) => kind === "delete")
    .sort((a, b) => a.since - b.since || (a.group.key < b.group.key ? -1 : 1));
  await runCapped(
    run,
    revocations,
    settings.maxRevocationsPerRun,
    "MAX_REVOCATIONS_PER_RUN",
    (plan) => revokeGroup(run, plan),
  );
  await runCapped(run, deletions, settings.maxDeletionsPerRun, "MAX_DELETIONS_PER_RUN", (plan) =>
    deleteGroup(run, plan),
  );
}

async function runCapped(
  run: Run,
  plans: readonly OrphanPlan[],
  cap: number,
  setting: string,
  act: (plan: OrphanPlan) => Promise<void>,
): Promise<void> {
  await mapWithConcurrency(plans.slice(0, cap), run.deps.settings.concurrency, act);
  for (const plan of plans.slice(cap)) {
    record(run, {
      action: plan.kind,
      resource: plan.group.key,
      reason: `${plan.reason}; deferred: ${setting}=${cap} reached this run`,
      outcome: "deferred",
      roles: plan.group.roles.map(({ name }) => name),
    });
  }
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
function isFullyRevoked(config: VendingConfig, role: ObservedRole): boolean {
  return (
    canonicalJson(role.trustPolicy) === canonicalJson(revokedTrustPolicy(config)) &&
    REVOKED_SESSIONS_POLICY in role.inlinePolicies
  );
}

/** Something of a revocation is on the role: its trust, or the sessions policy. */
function isRevocationUnderway(config: VendingConfig, role: ObservedRole): boolean {
  return isTrustRevoked(config, role) || REVOKED_SESSIONS_POLICY in role.inlinePolicies;
}

/**
 * Revokes each role of an orphan: its trust is replaced with one no token meets, then an inline
 * policy ends the sessions issued before now, then the role is tagged with when. A role revoked
 * with the legacy document is brought to the current form; its tag (the grace period) stays.
 */
async function revokeGroup(run: Run, plan: OrphanPlan): Promise<void> {
  const { roles } = run.stores;
  const { config } = run.deps;
  const now = run.deps.now();
  const stamp = now.toISOString();
  const changes: string[] = [];
  const base = { action: "revoke" as const, resource: plan.group.key, reason: plan.reason };
  try {
    const trust = revokedTrustPolicy(config);
    // What IAM would refuse, and our own rules (the provider, aud, a sub without wildcard).
    assertTrustPolicy(config, trust, []);
    for (const role of plan.group.roles) {
      changes.push(...(await restoreBoundary(run, role)));
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
  } catch (error) {
    record(run, { ...failure(run, "revoke", base, error), changes });
    return;
  }
  record(run, {
    ...base,
    outcome: run.deps.settings.dryRun ? "planned" : "applied",
    roles: plan.group.roles.map(({ name }) => name),
    changes,
  });
}

/**
 * Deletes an orphan through the provisioner's own removal, then whatever of it that removal
 * did not name (a role or parameter named under an older naming configuration).
 */
async function deleteGroup(run: Run, plan: OrphanPlan): Promise<void> {
  const { group } = plan;
  const { config } = run.deps;
  const removalDeps = convergeDepsOf(run);
  const changes: string[] = [];
  const base = { action: "delete" as const, resource: group.key, reason: plan.reason };
  try {
    let refusal: ForeignResourceError | undefined;
    if (group.roles.length > 0) {
      let outcome: ProvisionOutcome | undefined;
      try {
        if (group.kind === "stack" && isStackId(group.id)) {
          outcome = await removeStack(group.id, removalDeps);
          run.holders.delete(group.id);
        } else if (group.kind === "space" && isSpaceId(group.id)) {
          outcome = await removeSpace(group.id, removalDeps);
        }
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
        changes.push(...(await removeRoleByName(run, role.name, group)));
      }
    }
    if (refusal !== undefined) throw refusal;
    for (const parameter of group.parameters) {
      // Only what points at one of our roles: the namespace is ours, but be sure.
      if (!isOurRoleArn(config, parameter.value)) continue;
      if ((await run.stores.parameters.remove(parameter.name)) === "deleted") {
        changes.push(`deleteParameter ${parameter.name}`);
      }
    }
  } catch (error) {
    record(run, { ...failure(run, "delete", base, error), changes });
    return;
  }
  record(run, {
    ...base,
    outcome: run.deps.settings.dryRun ? "planned" : "applied",
    roles: group.roles.map(({ name }) => name),
    changes,
  });
}

/** Deletes one of our roles by name (policies first: IAM refuses to delete a role that has any). */
/**
 * The provisioner's and reconciler's IAM policy allows writes (trust, policies, deletion) only
 * on a role that carries the configured boundary: put it back first if someone took it off.
 */
async function restoreBoundary(run: Run, role: ObservedRole): Promise<string[]> {
  const boundary = boundaryOf(run.deps.config);
  if (boundary === undefined || role.permissionsBoundaryArn === boundary) return [];
  await run.stores.roles.putPermissionsBoundary(role.name, boundary);
  return [`putPermissionsBoundary ${role.name} ${boundary}`];
}

async function removeRoleByName(run: Run, name: string, group: ManagedGroup): Promise<string[]> {
  const { roles } = run.stores;
  const observed = await roles.describe(name);
  if (observed === undefined) return [];
  if (!isRoleOf(run.deps.config, observed, ownerOf(group))) {
    throw new ForeignResourceError(`role ${name} is no longer ours; leaving it untouched`);
  }
  const changes: string[] = await restoreBoundary(run, observed);
  for (const arn of observed.managedPolicyArns) {
    await roles.detachPolicy(name, arn);
    changes.push(`${name}: detachPolicy ${arn}`);
  }
  for (const policyName of Object.keys(observed.inlinePolicies)) {
    await roles.deleteInlinePolicy(name, policyName);
    changes.push(`${name}: deleteInlinePolicy ${policyName}`);
  }
  if ((await roles.delete(name)) === "deleted") changes.push(`${name}: deleteRole`);
  return changes;
}

/** The resource a group's roles belong to (their tags name it; the ID is only compared). */
function ownerOf(group: ManagedGroup): RoleOwner {
  return group.kind === "stack"
    ? { kind: "stack", id: group.id as StackId }
    : { kind: "space", id: group.id as SpaceId };
}

function isOurRoleArn(config: VendingConfig, value: string): boolean {
  const prefix = `:iam::${config.awsAccountId}:role${config.rolePath}`;
  return /^arn:aws[a-z-]*:iam::/.test(value) && value.includes(prefix) && !value.endsWith("/");
}

/**
 * Without Spacelift: every role must be published in its resource's parameter and every
 * parameter must point at one of our roles. A role whose parameter is missing or stale is
 * converged with what its own tags say (its policies are kept); everything else is reported.
 */
async function checkRolesAgainstParameters(run: Run, inventory: Inventory): Promise<void> {
  const repairs: ManagedGroup[] = [];
  for (const group of inventory.groups.values()) {
    const roleArns = new Set(group.roles.map(({ arn }) => arn));
    const orphanedAt = group.roles
      .map((role) => role.tags[ORPHANED_AT_TAG])
      .find((value) => value !== undefined);
    // A revocation cut short before its tag is still a revocation: converging would restore it.
    const revoking = group.roles.some((role) => isRevocationUnderway(run.deps.config, role));
    if (orphanedAt !== undefined || revoking) {
      record(run, {
        action: "hold",
        resource: group.key,
        reason: `orphaned since ${orphanedAt ?? "a revocation cut short"} (trust revoked); whether to restore or delete it needs Spacelift`,
        outcome: "reported",
        roles: group.roles.map(({ name }) => name),
      });
      continue;
    }
    if (group.roles.length > 0 && unpublishedRoles(group).length > 0) {
      repairs.push(group);
      continue;
    }
    for (const parameter of group.parameters) {
      if (roleArns.has(parameter.value)) continue;
      record(run, {
        action: "report",
        resource: `parameter:${parameter.name}`,
        reason:
          group.roles.length === 0
            ? `parameter without role: ${parameter.value} is not a role this product manages; without Spacelift it cannot tell whether ${group.key} still exists`
            : `parameter points at ${parameter.value}, not at a role of ${group.key}`,
        outcome: "reported",
      });
    }
    if (group.roles.length > 0 && group.parameters.every(({ value }) => roleArns.has(value))) {
      run.inSync += 1;
    }
  }
  await mapWithConcurrency(repairs, run.deps.settings.concurrency, async (group) => {
    const base = { resource: group.key, reason: describeFindings(group.kind, group, undefined) };
    const convergeDeps = convergeDepsOf(run);
    try {
      let outcome: ProvisionOutcome | undefined;
      // Labels unknown without Spacelift: converge keeps the role's policies as they are.
      if (group.kind === "stack" && isStackId(group.id)) {
        await beforeCreatingRoles(run, group.id, group.roles);
        outcome = await convergeStack(
          { stackId: group.id, spaceId: undefined, labels: undefined },
          convergeDeps,
        );
      } else if (group.kind === "space" && isSpaceId(group.id)) {
        outcome = await convergeSpace({ spaceId: group.id }, convergeDeps);
      }
      if (outcome === undefined) {
        record(run, { ...base, action: "report", outcome: "reported" });
        return;
      }
      const decision = decisionFromOutcome(run, outcome, base, false);
      if (decision === undefined) run.inSync += 1;
      else record(run, decision);
    } catch (error) {
      record(run, failure(run, "update", base, error));
    }
  });
}

/** The stacks whose roles the inventory found, with the space their roles are in. */
function holdersOf(inventory: Inventory): Map<string, string> {
  const holders = new Map<string, string>();
  for (const group of inventory.groups.values()) {
    const space = group.roles.map((role) => role.tags[SPACE_TAG]).find((tag) => tag !== undefined);
    if (group.kind === "stack" && space !== undefined) holders.set(group.id, space);
  }
  return holders;
}

/** Clock difference allowed between the provisioner that admitted a stack and the reconciler. */
const COUNT_CLOCK_SKEW_MS = 60_000;

/**
 * Makes each space's count of stacks (MAX_ROLES_PER_SPACE) match the roles that exist, so a
 * count left wrong (a crash between counting and creating, a missed delete, roles from before
 * the cap) heals: a stack whose roles are in the space is counted; a counted stack with no role
 * there that Spacelift does not list there either stops being counted, but only if it was
 * counted before this run started (so before Spacelift was listed): a stack admitted since, its
 * role not yet visible to this run, stays counted.
 */
async function repairSpaceCounts(run: Run, truth: Truth, runStart: number): Promise<void> {
  const cap = run.deps.spaceRoleCap;
  if (cap === undefined || run.deps.settings.dryRun) return;
  // The empty answer of an expired token is not the truth (see reconcileWithSpacelift).
  if (truth.stacks.length === 0 && truth.spaces.length === 0) return;
  const listedIn = new Map(truth.stacks.map((stack) => [stack.id, stack.space]));
  const spaces = new Set([...truth.spaces.map(({ id }) => id), ...run.holders.values()]);
  const before = runStart - COUNT_CLOCK_SKEW_MS;
  await mapWithConcurrency([...spaces].sort(), run.deps.settings.concurrency, async (spaceId) => {
    const changes: string[] = [];
    const base = {
      resource: `space:${spaceId}`,
      reason:
        "the space's count of stacks with roles (MAX_ROLES_PER_SPACE) differed from the roles that exist",
    };
    try {
      const members = await cap.quota.members(spaceId);
      for (const [stackId, space] of run.holders) {
        if (space !== spaceId || members.has(stackId)) continue;
        // Deleted since this run read its inventory (the provisioner released its count then).
        if (await deletedSince(run, `stack:${stackId}`, before)) continue;
        await cap.quota.include(spaceId, stackId);
        changes.push(`count stack ${stackId} (its roles are in this space)`);
      }
      for (const [stackId, since] of members) {
        if (run.holders.get(stackId) === spaceId || listedIn.get(stackId) === spaceId) continue;
        if (since >= before) continue;
        await cap.quota.release(spaceId, stackId, { admittedBefore: before });
        changes.push(`uncount stack ${stackId} (no role in this space)`);
      }
    } catch (error) {
      record(run, { ...failure(run, "update", base, error), changes });
      return;
    }
    if (changes.length > 0) record(run, { ...base, action: "update", outcome: "applied", changes });
  });
}

/** The role cap converge goes through: a dry run reads the counts but never changes them. */
function spaceRoleCapFor(deps: ReconcilerDeps): SpaceRoleCap | undefined {
  const cap = deps.spaceRoleCap;
  if (cap === undefined || !deps.settings.dryRun) return cap;
  return { ...cap, quota: new DryRunSpaceQuota(cap.quota) };
}

/** Answers admissions from the counts as they are, plus what this dry run admitted; writes nothing. */
class DryRunSpaceQuota implements SpaceQuota {
  readonly #planned = new Map<string, Set<string>>();

  constructor(private readonly inner: SpaceQuota) {}

  async admit(spaceId: string, stackId: string, cap: number): Promise<"admitted" | "full"> {
    const members = await this.inner.members(spaceId);
    const planned = this.#planned.get(spaceId) ?? new Set<string>();
    if (members.has(stackId) || planned.has(stackId)) return "admitted";
    if (members.size + planned.size >= cap) return "full";
    this.#planned.set(spaceId, planned.add(stackId));
    return "admitted";
  }

  async include(): Promise<void> {}
  async release(): Promise<void> {}

  members(spaceId: string): Promise<ReadonlyMap<string, number>> {
    return this.inner.members(spaceId);
  }
}

// ---------------------------------------------------------------------------------------------
// Backfill

export interface BackfillProgress {
  readonly total: number;
  /** Converged this run (whatever the result), plus skipped. */
  readonly done: number;
  /** Already completed according to the checkpoint. */
  readonly skipped: number;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly failed: number;
}

export interface BackfillOptions {
  /** Resources (`stack:<id>`, `space:<id>`) a previous, interrupted run completed. */
  readonly completed?: ReadonlySet<string>;
  /** Called after each resource converged, before the next is reported as progress. */
  readonly onCompleted?: (resource: string) => void | Promise<void>;
  readonly onProgress?: (progress: BackfillProgress) => void;
  /** Stops handing out new resources; those in flight finish. */
  readonly signal?: AbortSignal;
}

export interface BackfillReport {
  readonly account: string;
  readonly dryRun: boolean;
  readonly progress: BackfillProgress;
  readonly decisions: readonly Decision[];
  /** True when the signal stopped the run before every resource was handled. */
  readonly interrupted: boolean;
}

/** Spacelift could not be read, so there is nothing to backfill from. */
export class SpaceliftUnavailableError extends Error {
  override readonly name = "SpaceliftUnavailableError";
}

/**
 * Adoption: converges every stack and space Spacelift lists (creating most of them), with
 * bounded concurrency and a resumable record of what is done. Never revokes or deletes.
 */
export async function backfill(
  deps: ReconcilerDeps,
  options: BackfillOptions = {},
): Promise<BackfillReport> {
  const { config, settings } = deps;
  const truth = await readSpacelift(deps);
  if ("reason" in truth)
    throw new SpaceliftUnavailableError(`backfill needs Spacelift: ${truth.reason}`);
  let stores: Pick<ReconcilerDeps, "roles" | "parameters"> = deps;
  if (settings.dryRun) {
    const base = `${config.parameterPrefix}/${config.spaceliftAccount}`;
    const known = new Map(
      (await deps.parameters.listByPath(base)).map(({ name, value }) => [name, value]),
    );
    stores = dryRunStores(deps, known);
  }
  const run: Run = {
    deps,
    stores,
    spacePaths: deps.spacePaths,
    decisions: [],
    inSync: 0,
    spaceRoleCap: spaceRoleCapFor(deps),
    holders: new Map(),
  };
  run.listedAt = truth.listedAt;
  await useSpaceliftSpaces(run, truth.spaces);

  const targets: ConvergeTarget[] = [];
  for (const space of truth.spaces) {
    if (isSpaceId(space.id))
      targets.push({ key: `space:${space.id}`, kind: "space", spaceId: space.id });
    else record(run, invalidIdentifier(`space:${space.id}`, "space ID"));
  }
  for (const stack of truth.stacks) {
    if (isStackId(stack.id) && isSpaceId(stack.space)) {
      targets.push({
        key: `stack:${stack.id}`,
        kind: "stack",
        stack: { stackId: stack.id, spaceId: stack.space, labels: stack.labels },
      });
    } else record(run, invalidIdentifier(`stack:${stack.id}`, "stack or space ID"));
  }
  const completed = options.completed ?? new Set<string>();
  const pending = targets.filter(({ key }) => !completed.has(key));
  const progress = {
    total: targets.length,
    done: targets.length - pending.length,
    skipped: targets.length - pending.length,
    created: 0,
    updated: 0,
    unchanged: 0,
    failed: 0,
  };
  options.onProgress?.({ ...progress });

  const convergeDeps = convergeDepsOf(run);
  const handled = await runPool(
    pending,
    settings.concurrency,
    async (target) => {
      const base = { resource: target.key, reason: `Spacelift lists this ${target.kind}` };
      try {
        // Most resources have no role yet when adopting: try CreateRole first, read only if
        // it already exists.
        if (target.kind === "stack") {
          await beforeCreatingRoles(run, target.stack.stackId, undefined);
        }
        const outcome =
          target.kind === "stack"
            ? await convergeStack(target.stack, convergeDeps, { fresh: true })
            : await convergeSpace({ spaceId: target.spaceId }, convergeDeps, { fresh: true });
        await rememberStackFacts(run, target);
        const decision = decisionFromOutcome(run, outcome, base, false);
        if (decision === undefined) progress.unchanged += 1;
        else {
          record(run, decision);
          if (decision.action === "create") progress.created += 1;
          else progress.updated += 1;
        }
        if (!settings.dryRun) await options.onCompleted?.(target.key);
      } catch (error) {
        progress.failed += 1;
        record(run, failure(run, "create", base, error));
      }
      progress.done += 1;
      options.onProgress?.({ ...progress });
    },
    options.signal,
  );
  return {
    account: config.spaceliftAccount,
    dryRun: settings.dryRun,
    progress: { ...progress },
    decisions: run.decisions,
    interrupted: handled < pending.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/**
 * Answers `describe` from the inventory taken at the start of the run, until the run writes to
 * that role: converge then needs no second round of reads per resource (IAM's read quota is
 * shared with every Terraform run in the account). A name not listed under the role path was
 * not there a moment ago; if it has appeared since, CreateRole says so and converge reads it.
 */
class SnapshotRoleStore implements RoleStore {
  readonly #touched = new Set<string>();

  constructor(
    private readonly inner: RoleStore,
    private readonly snapshot: ReadonlyMap<string, ObservedRole | undefined>,
  ) {}

  async describe(name: string): Promise<ObservedRole | undefined> {
    if (this.#touched.has(name)) return this.inner.describe(name);
    return this.snapshot.get(name);
  }

  isReadable(name: string): Promise<boolean> {
    return this.inner.isReadable(name);
  }

  listByPath(path: string): Promise<readonly { name: string; arn: string }[]> {
    return this.inner.listByPath(path);
  }

  create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    return this.#write(spec.name, () => this.inner.create(spec));
  }

  delete(name: string): Promise<"deleted" | "absent"> {
    return this.#write(name, () => this.inner.delete(name));
  }

  updateTrustPolicy(name: string, document: PolicyDocument): Promise<void> {
    return this.#write(name, () => this.inner.updateTrustPolicy(name, document));
  }

  updateSettings(
    name: string,
    settings: { description: string; maxSessionDuration: number },
  ): Promise<void> {
    return this.#write(name, () => this.inner.updateSettings(name, settings));
  }

  putPermissionsBoundary(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.putPermissionsBoundary(name, arn));
  }

  deletePermissionsBoundary(name: string): Promise<void> {
    return this.#write(name, () => this.inner.deletePermissionsBoundary(name));
  }

  tag(name: string, tags: Tags): Promise<void> {
    return this.#write(name, () => this.inner.tag(name, tags));
  }

  untag(name: string, keys: readonly string[]): Promise<void> {
    return this.#write(name, () => this.inner.untag(name, keys));
  }

  attachPolicy(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.attachPolicy(name, arn));
  }

  detachPolicy(name: string, arn: string): Promise<void> {
    return this.#write(name, () => this.inner.detachPolicy(name, arn));
  }

  putInlinePolicy(name: string, policyName: string, document: PolicyDocument): Promise<void> {
    return this.#write(name, () => this.inner.putInlinePolicy(name, policyName, document));
  }

  deleteInlinePolicy(name: string, policyName: string): Promise<void> {
    return this.#write(name, () => this.inner.deleteInlinePolicy(name, policyName));
  }

  #write<T>(name: string, write: () => Promise<T>): Promise<T> {
    this.#touched.add(name);
    return write();
  }
}

/**
 * Does for parameters what {@link SnapshotRoleStore} does for roles: the inventory listed every
 * parameter under `<prefix>/<account>/` with its value, so `publish` is handed that value
 * instead of reading it again (the store still reads the parameter's tags, which say whose it
 * is; the listing does not return them). A name not listed was not there a moment ago: it is
 * created straight away, and if it has appeared since, PutParameter says so and the store reads
 * it. Once the run writes or removes a parameter, it is read afresh.
 */
export class SnapshotParameterStore implements ParameterStore {
  readonly #touched = new Set<string>();

  constructor(
    private readonly inner: ParameterStore,
    private readonly values: ReadonlyMap<string, string>,
  ) {}

  publish(
    name: string,
    value: string,
    tags: Tags,
    options: { fresh?: boolean; current?: string } = {},
  ): Promise<"created" | "updated" | "unchanged"> {
    const listed = this.values.get(name);
    const known = this.#touched.has(name)
      ? options
      : listed === undefined
        ? { ...options, fresh: true }
        : { ...options, current: listed };
    this.#touched.add(name);
    return this.inner.publish(name, value, tags, known);
  }

  remove(name: string): Promise<"deleted" | "absent"> {
    this.#touched.add(name);
    return this.inner.remove(name);
  }

  listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return this.inner.listByPath(path);
  }
}

// ---------------------------------------------------------------------------------------------
// Dry run

/**
 * Stores for a dry run: reads go to AWS, writes are answered as AWS would answer them and
 * never sent. Every method of the ports is spelt out, so a new write method on a port fails
 * to compile here instead of slipping through to AWS.
 */
function dryRunStores(
  deps: Pick<ReconcilerDeps, "config" | "roles">,
  parameterValues: ReadonlyMap<string, string>,
): Pick<ReconcilerDeps, "roles" | "parameters"> {
  return {
    roles: new DryRunRoleStore(deps.roles, deps.config.awsAccountId),
    parameters: new DryRunParameterStore(parameterValues),
  };
}

class DryRunRoleStore implements RoleStore {
  readonly #created = new Map<string, ObservedRole>();
  readonly #deleted = new Set<string>();

  constructor(
    private readonly inner: RoleStore,
    private readonly accountId: string,
  ) {}

  async describe(name: string): Promise<ObservedRole | undefined> {
    if (this.#deleted.has(name)) return undefined;
    return this.#created.get(name) ?? this.inner.describe(name);
  }

  async create(spec: RoleSpec): Promise<{ arn: string } | "exists"> {
    if (await this.isReadable(spec.name)) return "exists";
    const arn = `arn:aws:iam::${this.accountId}:role${spec.path}${spec.name}`;
    this.#deleted.delete(spec.name);
    this.#created.set(spec.name, { ...spec, arn });
    return { arn };
  }

  async isReadable(name: string): Promise<boolean> {
    if (this.#deleted.has(name)) return false;
    return this.#created.has(name) || this.inner.isReadable(name);
  }

  async delete(name: string): Promise<"deleted" | "absent"> {
    const existed = await this.isReadable(name);
    this.#created.delete(name);
    this.#deleted.add(name);
    return existed ? "deleted" : "absent";
  }

  listByPath(path: string): Promise<readonly { name: string; arn: string }[]> {
    return this.inner.listByPath(path);
  }

  async updateTrustPolicy(): Promise<void> {}
  async updateSettings(): Promise<void> {}
  async putPermissionsBoundary(): Promise<void> {}
  async deletePermissionsBoundary(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
  async attachPolicy(): Promise<void> {}
  async detachPolicy(): Promise<void> {}
  async putInlinePolicy(): Promise<void> {}
  async deleteInlinePolicy(): Promise<void> {}
}

/** Answers from the values listed at the start of the run (parameter tags are not compared). */
class DryRunParameterStore implements ParameterStore {
  readonly #values: Map<string, string>;

  constructor(values: ReadonlyMap<string, string>) {
    this.#values = new Map(values);
  }

  async publish(
    name: string,
    value: string,
    _tags: Tags,
  ): Promise<"created" | "updated" | "unchanged"> {
    const current = this.#values.get(name);
    this.#values.set(name, value);
    if (current === undefined) return "created";
    return current === value ? "unchanged" : "updated";
  }

  async remove(name: string): Promise<"deleted" | "absent"> {
    return this.#values.delete(name) ? "deleted" : "absent";
  }

  async listByPath(path: string): Promise<readonly { name: string; value: string }[]> {
    return [...this.#values]
      .filter(([name]) => name.startsWith(`${path}/`))
      .map(([name, value]) => ({ name, value }));
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs `act` over `items`, at most `limit` at a time. The first error is rethrown once the
 * others in flight settle; `act` is expected to record its own failures.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  act: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  await runPool(items, limit, async (item, index) => {
    results[index] = await act(item);
  });
  return results;
}

/** Like {@link mapWithConcurrency}, but stops handing out items once `signal` aborts; returns how many were handed out. */
async function runPool<T>(
  items: readonly T[],
  limit: number,
  act: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && signal?.aborted !== true && firstError === undefined) {
      const index = next++;
      try {
        await act(items[index] as T, index);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError !== undefined) throw firstError.error;
  return next;
}

/** An error's message with its causes, which is where the AWS or Spacelift detail lives. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 4; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

function byResource(a: Decision, b: Decision): number {
  return a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0;
}
