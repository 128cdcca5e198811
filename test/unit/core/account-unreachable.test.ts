import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { AccountUnreachableError } from "../../../functions/core/errors.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { fixtureBody, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const TARGET = "222222222222";

describe("a target account that cannot be reached", () => {
  it("fails the event for the queue to retry (never dropped), and nothing counts as applied", async () => {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: "123456789012",
      PERMISSIONS_CONFIG: JSON.stringify({
        permissionsBoundaryArn: "arn:aws:iam::aws:policy/PowerUserAccess",
        accounts: [
          {
            id: TARGET,
            vendingRoleArn: `arn:aws:iam::${TARGET}:role/vending`,
            spaces: ["production-*"],
          },
        ],
      }),
    });
    const { roles, ledger, deps } = inMemoryProvisionerDeps(config, {
      accounts: {
        storesFor: async (accountId) => {
          throw new AccountUnreachableError(
            accountId,
            `cannot assume the vending role of ${accountId}`,
          );
        },
      },
    });

    const applying = processMessage(fixtureBody("stack.create"), deps);

    await expect(applying).rejects.toThrow(AccountUnreachableError);
    expect(roles.calls).toEqual([]);
    // The destination is recorded as possibly holding roles; the event itself is not applied.
    expect(await ledger.get("stack:payments-api")).toEqual({
      resource: "stack:payments-api",
      timestamp: 0,
      state: "deleted",
      formerAccounts: [TARGET],
    });
  });
});
