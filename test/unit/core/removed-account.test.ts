/**
 * An operator removes a target account's entry from `accounts` while stacks still have roles
 * there (instead of routing its spaces elsewhere first, docs/deploy.md "Removing an account").
 * The service cannot reach that account any more, so the role stays there, still trusting the
 * stack's runs: a standing door into the account the operator meant to cut off. The ledger must
 * keep naming that account as one that may hold the stack's roles, so that putting the entry
 * back (to clean up) removes the role on the stack's next event instead of having forgotten it.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
} from "../../../testkit/fakes/in-memory.ts";
import { fixture, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const TARGET = "222222222222";
const ROLE = "spacelift-stack-payments-api";
const T = 1764072000000;

async function configWith(accounts: readonly { spaces: string[] }[]) {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: "123456789012",
    PERMISSIONS_CONFIG: JSON.stringify({
      permissionsBoundaryArn: "arn:aws:iam::aws:policy/PowerUserAccess",
      accounts: accounts.map(({ spaces }) => ({
        id: TARGET,
        vendingRoleArn: `arn:aws:iam::${TARGET}:role/vending`,
        permissionsBoundaryArn: `arn:aws:iam::${TARGET}:policy/boundary`,
        spaces,
      })),
    }),
  });
}

describe("a target account removed from the permissions file while it holds roles", () => {
  it("stays recorded as possibly holding the stack's roles, and they are removed once it is configured again", async () => {
    const serviceRoles = new InMemoryRoleStore();
    const targetRoles = new InMemoryRoleStore();
    const ledger = new InMemoryLedger();
    const base: Omit<ProvisionerDeps, "config"> = {
      roles: serviceRoles,
      parameters: new InMemoryParameterStore(),
      ledger,
      accounts: {
        storesFor: async () => ({ roles: targetRoles, parameters: new InMemoryParameterStore() }),
      },
      sleep: async () => {},
    };
    const routed = { ...base, config: await configWith([{ spaces: ["production-*"] }]) };
    const removed = { ...base, config: await configWith([]) };
    const readded = { ...base, config: await configWith([{ spaces: ["nothing-*"] }]) };

    await processMessage(JSON.stringify({ ...fixture("stack.create"), timestamp: T }), routed);
    const inTarget = targetRoles.roles.has(ROLE);
    const afterRemoval = await processMessage(
      JSON.stringify({ ...fixture("stack.create"), timestamp: T + 1000 }),
      removed,
    );
    const standingDoor = targetRoles.roles.has(ROLE);
    const recorded = await ledger.get("stack:payments-api");
    await processMessage(
      JSON.stringify({ ...fixture("stack.create"), timestamp: T + 2000 }),
      readded,
    );

    expect(inTarget).toBe(true);
    expect(afterRemoval).toMatchObject({ result: "applied" });
    expect(afterRemoval.result === "applied" && afterRemoval.outcome.changes).toContain(
      `account ${TARGET}: no longer configured; its roles are left there`,
    );
    expect(serviceRoles.roles.has(ROLE)).toBe(true);
    expect(standingDoor).toBe(true);
    expect(recorded?.formerAccounts).toEqual([TARGET]);
    expect(targetRoles.roles.has(ROLE)).toBe(false);
    expect((await ledger.get("stack:payments-api"))?.formerAccounts).toBeUndefined();
  });
});
