import type { Context } from "aws-lambda";
import { describe, expect, it, vi } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { AccountRoleQuotaError } from "../../../functions/core/errors.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import {
  AccountRoleQuota,
  ROLE_QUOTA_READ_TTL_MS,
  type RoleQuotaObservation,
} from "../../../functions/core/role-quota.ts";
import { createHandler } from "../../../functions/handlers/provisioner.ts";
import { metrics } from "../../../functions/observability.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { sqsEvent } from "../../../testkit/lambda/sqs-event.ts";
import { fixtureBody, SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const ACCOUNT = "222222222222";

function gate(usage: { roles: number; quota: number } | Error) {
  let now = 0;
  const reads: number[] = [];
  const observed: RoleQuotaObservation[] = [];
  const unreadable: unknown[] = [];
  const quota = new AccountRoleQuota(
    ACCOUNT,
    {
      roleUsage: async () => {
        reads.push(now);
        if (usage instanceof Error) throw usage;
        return usage;
      },
    },
    {
      now: () => now,
      observe: (observation) => observed.push(observation),
      unreadable: (_account, error) => unreadable.push(error),
    },
  );
  return {
    quota,
    reads,
    observed,
    unreadable,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("AccountRoleQuota", () => {
  it("reads the usage once a minute, counts its own creates, and refuses the create that would exceed the quota", async () => {
    const { quota, reads } = gate({ roles: 8, quota: 10 });

    await quota.admitCreate("a");
    quota.recordCreated();
    await quota.admitCreate("b");
    quota.recordCreated();
    const third = quota.admitCreate("c");

    await expect(third).rejects.toThrow(AccountRoleQuotaError);
    await expect(third).rejects.toThrow(
      `AWS account ${ACCOUNT} holds 10 roles, its IAM quota (RolesQuota) is 10: role c is not created`,
    );
    expect(reads).toEqual([0]);
  });

  it("reads again after a minute, forgetting the creates the new read includes", async () => {
    const { quota, reads, advance } = gate({ roles: 9, quota: 10 });
    await quota.admitCreate("a");
    quota.recordCreated();

    advance(ROLE_QUOTA_READ_TTL_MS);
    await quota.admitCreate("b");

    expect(reads).toEqual([0, ROLE_QUOTA_READ_TTL_MS]);
  });

  it.each([
    [799, false],
    [800, true],
  ])("with %i of 1,000 roles reports nearQuota=%s (warn from 80%)", async (roles, near) => {
    const { quota, observed } = gate({ roles, quota: 1000 });

    await quota.admitCreate("a");

    expect(observed).toEqual([{ account: ACCOUNT, roles, quota: 1000, nearQuota: near }]);
  });

  it("lets creates through, reported once a minute, when the usage cannot be read", async () => {
    const denied = new Error("AccessDenied");
    const { quota, reads, unreadable } = gate(denied);

    await quota.admitCreate("a");
    await quota.admitCreate("b");

    expect(unreadable).toEqual([denied]);
    expect(reads).toHaveLength(1);
  });
});

describe("the role quota in the provisioner", () => {
  async function setup(usage: { roles: number; quota: number }) {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: "123456789012",
      PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/boundary",
    });
    const { roles, deps } = inMemoryProvisionerDeps(config, {
      roleQuota: new AccountRoleQuota(
        "123456789012",
        { roleUsage: async () => usage },
        {
          now: () => 0,
          observe: () => {},
        },
      ),
    });
    return { roles, deps };
  }

  it("drops a create in a full account before calling CreateRole", async () => {
    const { roles, deps } = await setup({ roles: 1000, quota: 1000 });

    const outcome = await processMessage(fixtureBody("stack.create"), deps);

    expect(outcome).toMatchObject({ result: "dropped" });
    expect((outcome as { error: Error }).error).toBeInstanceOf(AccountRoleQuotaError);
    expect(roles.calls).not.toContain("create");
  });

  it("creates the role when the account has room", async () => {
    const { roles, deps } = await setup({ roles: 999, quota: 1000 });

    await processMessage(fixtureBody("stack.create"), deps);

    expect(roles.calls).toContain("create");
  });

  it("counts the refusal in its own metric through the handler", async () => {
    const { deps } = await setup({ roles: 1000, quota: 1000 });
    const handler = createHandler({ provisioner: deps });
    const added = vi.spyOn(metrics, "addMetric");
    let names: string[] = [];
    try {
      await handler(
        sqsEvent([{ body: fixtureBody("stack.create"), group: "stack:payments-api" }]),
        { getRemainingTimeInMillis: () => 60_000 } as Context,
      );
    } finally {
      names = added.mock.calls.map(([name]) => name);
      added.mockRestore();
    }

    expect(names).toEqual(["EventsDropped", "AccountRoleQuotaReached"]);
  });
});
