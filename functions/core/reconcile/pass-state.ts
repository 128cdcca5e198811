/**
 * What one pass (a reconcile or a backfill) carries from step to step: its dependencies, the
 * stores its writes go through, and the decisions taken so far.
 */

import type { VendingConfig } from "../config.ts";
import type { ConvergeDeps } from "../converge.ts";
import type {
  AccountAccess,
  AccountUsage,
  ParameterStore,
  PlannedMessage,
  PlanQueue,
  ResourceLedger,
  RoleStore,
  SpacePathStore,
  SpaceRoleCap,
} from "../ports.ts";
import type { StackEnvironment } from "../stack-environment.ts";
import type { Decision, DecisionInput } from "./decisions.ts";
import { spaceRoleCapFor } from "./dry-run-stores.ts";
import type { ReconcileSettings } from "./settings.ts";
import type { SpaceliftAccess } from "./spacelift-listing.ts";

/** What the provisioner's converge needs; new needs of it flow into the reconciler's deps. */
export type { ConvergeDeps };

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
   * The provisioner's ledger. A pass does not read it per resource: the provisioner's
   * applyEvent orders what the pass planned against it. Kept for the parameters-only check.
   */
  readonly ledger?: ResourceLedger;
  /**
   * The event queue the plan goes to (EVENT_QUEUE_URL): each resource that needs a write gets
   * one message in its own group. Undefined: a real pass that has something to enqueue fails
   * that decision (a dry run needs no queue).
   */
  readonly events?: PlanQueue;
  /**
   * The permissions file's target accounts, reached through their vending roles (one
   * AssumeRole per account per credential lifetime); required when it has `accounts`.
   */
  readonly accounts?: AccountAccess;
  /** The service's own account's role count and quota (read once a pass); undefined: not read. */
  readonly usage?: AccountUsage;
};

/** The stores a pass's writes go through: the real ones, or the dry run's. */
export type PassStores = Pick<ReconcilerDeps, "roles" | "parameters">;

export interface Pass {
  readonly deps: ReconcilerDeps;
  /** The stores converge and removal go through: the real ones, or the dry run's. */
  readonly stores: PassStores;
  /** Where converge reads space names and parents for `{spacePath}`: Spacelift's answer when there is one. */
  spacePaths: SpacePathStore | undefined;
  /** The stacks' variables in Spacelift, when they are ours to converge (STACK_ENVIRONMENT). */
  environment?: StackEnvironment | undefined;
  /** When Spacelift's lists were read (SpaceliftListing.listedAt); undefined without Spacelift. */
  listedAt?: number;
  readonly decisions: Decision[];
  inSync: number;
  /** The per-space role cap converge goes through: the real one, or the dry run's. */
  readonly spaceRoleCap: SpaceRoleCap | undefined;
  /** Each stack with roles, and the space they are in, as the pass leaves them. */
  readonly stackSpaces: Map<string, string>;
  /** What the pass planned for the provisioner, sent when planning is over (not in a dry run). */
  readonly messages: PlannedMessage[];
  /**
   * What converge and removal go through in each reachable target account (its configuration
   * and its planning stores); the service's own account is {@link convergeDepsOf}.
   */
  readonly targetAccounts: Map<string, ConvergeDeps>;
}

/**
 * A pass over `stores`. `planning`: its converges only plan (the stores never write), so the
 * per-space cap is read but never changed either; the provisioner admits when it applies.
 */
export function startPass(
  deps: ReconcilerDeps,
  stores: PassStores,
  stackSpaces: Map<string, string>,
  options: { readonly planning: boolean },
): Pass {
  return {
    deps,
    stores,
    spacePaths: deps.spacePaths,
    decisions: [],
    inSync: 0,
    spaceRoleCap: spaceRoleCapFor(deps.spaceRoleCap, options.planning || deps.settings.dryRun),
    stackSpaces,
    messages: [],
    targetAccounts: new Map(),
  };
}

/** Adds a decision to the pass's report, under the pass's Spacelift account. */
export function addDecision(pass: Pass, decision: DecisionInput): void {
  pass.decisions.push({
    account: pass.deps.config.spaceliftAccount,
    roles: [],
    changes: [],
    ...decision,
  });
}

/** The provisioner's deps as this pass converges and removes through them. */
export function convergeDepsOf(pass: Pass): ConvergeDeps {
  const { spacePaths: _persistent, spaceRoleCap: _cap, ...deps } = pass.deps;
  return {
    ...deps,
    roles: pass.stores.roles,
    parameters: pass.stores.parameters,
    ...(pass.spaceRoleCap !== undefined && { spaceRoleCap: pass.spaceRoleCap }),
    ...(pass.spacePaths !== undefined && { spacePaths: pass.spacePaths }),
  };
}

/** The deps converge and removal go through in `account` (reachable, or the service's own). */
export function convergeDepsIn(pass: Pass, account: string): ConvergeDeps {
  if (account === pass.deps.config.awsAccountId) return convergeDepsOf(pass);
  const deps = pass.targetAccounts.get(account);
  // Never the service's stores for another account's resource.
  if (deps === undefined) throw new Error(`AWS account ${account} was not inventoried this pass`);
  return deps;
}
