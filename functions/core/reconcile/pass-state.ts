/**
 * What one pass (a reconcile or a backfill) carries from step to step: its dependencies, the
 * stores its writes go through, and the decisions taken so far.
 */

import type { VendingConfig } from "../config.ts";
import type { ConvergeDeps } from "../converge.ts";
import type {
  ParameterStore,
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
   * The provisioner's ledger: what Spacelift lists of a stack (space, labels) is recorded
   * there after each converge, so late or silent webhook events cannot undo a repair.
   */
  readonly ledger?: ResourceLedger;
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
}

export function startPass(
  deps: ReconcilerDeps,
  stores: PassStores,
  stackSpaces: Map<string, string>,
): Pass {
  return {
    deps,
    stores,
    spacePaths: deps.spacePaths,
    decisions: [],
    inSync: 0,
    spaceRoleCap: spaceRoleCapFor(deps.spaceRoleCap, deps.settings.dryRun),
    stackSpaces,
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
