/**
 * The provisioner's dependencies over fresh in-memory stores, as the core's unit tests wire them.
 */
import type { VendingConfig } from "../../functions/core/config.ts";
import type { ProvisionerDeps } from "../../functions/core/provision.ts";
import { InMemoryLedger, InMemoryParameterStore, InMemoryRoleStore } from "./in-memory.ts";

/** What the in-memory stores are replaced by: none of the three stores themselves. */
export type ProvisionerDepsOverrides = Partial<
  Omit<ProvisionerDeps, "config" | "roles" | "parameters" | "ledger">
>;

/** The stores behind {@link ProvisionerDeps}, for a test to seed and assert on, and the deps. */
export interface InMemoryProvisioner {
  readonly roles: InMemoryRoleStore;
  readonly parameters: InMemoryParameterStore;
  readonly ledger: InMemoryLedger;
  readonly deps: ProvisionerDeps;
}

/**
 * Fresh in-memory role, parameter and ledger stores and the deps over them, with a `sleep` that
 * returns at once; `overrides` add or replace the other deps (a clock, space paths, a space's
 * role cap, the account role quota, target accounts, a recording `sleep`).
 */
export function inMemoryProvisionerDeps(
  config: VendingConfig,
  overrides: ProvisionerDepsOverrides = {},
): InMemoryProvisioner {
  const roles = new InMemoryRoleStore();
  const parameters = new InMemoryParameterStore();
  const ledger = new InMemoryLedger();
  const deps: ProvisionerDeps = {
    config,
    roles,
    parameters,
    ledger,
    sleep: async () => {},
    ...overrides,
  };
  return { roles, parameters, ledger, deps };
}
