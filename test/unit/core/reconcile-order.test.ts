/**
 * Reconcile orders on the event queue, as the provisioner reads them (processQueueMessage): a
 * malformed one is refused and dropped; a webhook body shaped like one never becomes one; an
 * order is checked again against the ledger and IAM before it writes (a resource present as of
 * after the listing is left alone, a delete waits for the grace period, another resource's
 * role is refused). In-memory IAM, SSM and ledger.
 */
import { describe, expect, it } from "vitest";
import { configForAccount } from "../../../functions/core/account-routing.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { processQueueMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import {
  encodeQueueMessage,
  encodeReconcileOrder,
  type ReconcileOrder,
} from "../../../functions/core/queue-message.ts";
import { ORPHANED_AT_TAG } from "../../../functions/core/reconcile/orphans.ts";
import { REVOKED_SESSIONS_POLICY, revokedTrustPolicy } from "../../../functions/core/revocation.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
} from "../../../testkit/fakes/in-memory.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { auditEvent } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const T0 = Date.UTC(2026, 10, 20, 12);
const HOUR = 3_600_000;
const ROLE = "spacelift-stack-gone";
const PARAMETER = "/spacelift/acme/stacks/gone/role-arn";

async function setup(env: Record<string, string> = {}) {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
    ...env,
  });
  let now = T0;
  const { roles, parameters, ledger, deps } = inMemoryProvisionerDeps(config, {
    orphanGracePeriodHours: 72,
    now: () => new Date(now),
  });
  const create = async (stack: string, at: number) =>
    processQueueMessage(
      encodeQueueMessage(
        JSON.stringify(auditEvent("stack.create", { account: "acme", stack, timestamp: at })),
      ),
      deps,
    );
  const order = (fields: Partial<ReconcileOrder> = {}) =>
    processQueueMessage(
      encodeReconcileOrder({
        resource: "stack:gone",
        action: "revoke",
        roles: [ROLE],
        listedAt: T0,
        ...fields,
      }),
      deps,
    );
  const role = () => roles.roles.get(ROLE);
  return {
    config,
    deps,
    roles,
    parameters,
    ledger,
    create,
    order,
    role,
    at: (t: number) => (now = t),
  };
}

describe("a reconcile order off the queue", () => {
  it.each([
    [
      "a resource that is not stack:<id> or space:<id>",
      '{"v":2,"reconcile":{"resource":"role:x","action":"revoke","roles":[],"listedAt":1}}',
    ],
    [
      "a stack ID with a wildcard",
      '{"v":2,"reconcile":{"resource":"stack:*","action":"delete","roles":[],"listedAt":1}}',
    ],
    [
      "an action other than revoke or delete",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"create","roles":[],"listedAt":1}}',
    ],
    [
      "a role name IAM would refuse",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"revoke","roles":["a*"],"listedAt":1}}',
    ],
    [
      "a field it does not know",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"revoke","roles":[],"listedAt":1,"force":true}}',
    ],
    [
      "no listing time",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"revoke","roles":[]}}',
    ],
    [
      "an account that is not a 12-digit AWS account ID",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"revoke","roles":[],"listedAt":1,"account":"*"}}',
    ],
    [
      "a misplaced resource without the account holding it",
      '{"v":2,"reconcile":{"resource":"stack:gone","action":"misplaced","roles":[],"listedAt":1}}',
    ],
    ["not JSON inside", '{"v":2,"reconcile":'],
  ])("is dropped, touching nothing, when it has %s", async (_, message) => {
    const { deps, roles, create } = await setup();
    await create("gone", T0 - HOUR);
    roles.calls.length = 0;

    const outcome = await processQueueMessage(message, deps);

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(roles.writes()).toEqual([]);
  });

  it("is never read from a webhook body shaped like one: the receiver's envelope is an event", async () => {
    const { deps, roles, create, role } = await setup();
    await create("gone", T0 - HOUR);
    const trust = role()?.trustPolicy;
    roles.calls.length = 0;
    const forged = encodeQueueMessage(
      JSON.stringify({
        v: 2,
        reconcile: { resource: "stack:gone", action: "revoke", roles: [ROLE], listedAt: T0 },
      }),
    );

    const outcome = await processQueueMessage(forged, deps);

    expect(outcome).toMatchObject({ result: "dropped", reason: "invalid event" });
    expect(roles.writes()).toEqual([]);
    expect(role()?.trustPolicy).toEqual(trust);
  });

  it("revokes the role: trust no token meets, sessions ended, dated", async () => {
    const { config, create, order, role } = await setup();
    await create("gone", T0 - HOUR);

    const outcome = await order();

    expect(outcome).toMatchObject({
      result: "ordered",
      outcome: { result: "revoked", roles: [ROLE] },
    });
    expect(role()?.trustPolicy).toEqual(revokedTrustPolicy(config));
    expect(Object.keys(role()?.inlinePolicies ?? {})).toContain(REVOKED_SESSIONS_POLICY);
    expect(role()?.tags[ORPHANED_AT_TAG]).toBe(new Date(T0).toISOString());
  });

  it("does nothing when the ledger has the resource present as of after the listing (it came back)", async () => {
    const { roles, create, order, role } = await setup();
    await create("gone", T0 + 1);
    const before = structuredClone(role());
    roles.calls.length = 0;

    const outcome = await order({ listedAt: T0 });

    expect(outcome).toMatchObject({ result: "ordered", outcome: { result: "stale" } });
    expect(roles.writes()).toEqual([]);
    expect(role()).toEqual(before);
  });

  it("refuses to delete a role before it has been revoked for the grace period, then deletes it and its parameter", async () => {
    const { parameters, create, order, role, at } = await setup();
    await create("gone", T0 - HOUR);
    await order({ action: "revoke" });
    at(T0 + 71 * HOUR);

    const early = await order({ action: "delete", listedAt: T0 + 71 * HOUR });
    const keptEarly = role() !== undefined;
    at(T0 + 72 * HOUR);
    const due = await order({ action: "delete", listedAt: T0 + 72 * HOUR });

    expect(early).toMatchObject({ result: "dropped" });
    expect(early.result === "dropped" && early.reason).toMatch(
      /not been revoked for the grace period \(72 h\)/,
    );
    expect(keptEarly).toBe(true);
    expect(due).toMatchObject({ result: "ordered", outcome: { result: "deleted", roles: [ROLE] } });
    expect(role()).toBeUndefined();
    expect(parameters.parameters.has(PARAMETER)).toBe(false);
  });

  it("refuses a delete of a role that was never revoked, whatever the order says", async () => {
    const { create, order, role } = await setup();
    await create("gone", T0 - 1000 * HOUR);

    const outcome = await order({ action: "delete" });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(role()).toBeDefined();
  });

  it("refuses an order naming another stack's role, touching nothing", async () => {
    const { roles, create, order } = await setup();
    await create("kept", T0 - HOUR);
    roles.calls.length = 0;

    const outcome = await order({ roles: ["spacelift-stack-kept"] });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(outcome.result === "dropped" && outcome.reason).toMatch(/belongs to stack kept/);
    expect(roles.writes()).toEqual([]);
  });
});

describe("a delete order cannot skip the grace period by naming fewer roles", () => {
  it("refuses a delete naming no role while the stack's live role exists: role and parameter stay", async () => {
    const { parameters, create, order, role } = await setup();
    await create("gone", T0 - 1000 * HOUR);

    const outcome = await order({ action: "delete", roles: [] });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(outcome.result === "dropped" && outcome.reason).toMatch(
      /not been revoked for the grace period/,
    );
    expect(role()).toBeDefined();
    expect(parameters.parameters.has(PARAMETER)).toBe(true);
  });

  it("refuses a delete naming only a role that does not exist while the live role does", async () => {
    const { parameters, create, order, role } = await setup();
    await create("gone", T0 - 1000 * HOUR);

    const outcome = await order({ action: "delete", roles: ["spacelift-stack-gone-read"] });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(role()).toBeDefined();
    expect(parameters.parameters.has(PARAMETER)).toBe(true);
  });

  it("refuses a delete naming a split stack's revoked read role while its write role is live", async () => {
    const { roles, create, order, at } = await setup({
      PERMISSIONS_CONFIG: JSON.stringify({ readWriteSplit: true }),
    });
    await create("gone", T0 - HOUR);
    const names = [...roles.roles.keys()].sort();
    const read = names.find((name) => name.endsWith("read"));
    const write = names.find((name) => name.endsWith("write"));
    await order({ action: "revoke", roles: read === undefined ? [] : [read] });
    at(T0 + 100 * HOUR);

    const outcome = await order({
      action: "delete",
      roles: read === undefined ? [] : [read],
      listedAt: T0 + 100 * HOUR,
    });

    expect(names).toHaveLength(2);
    expect(outcome).toMatchObject({ result: "dropped" });
    expect(outcome.result === "dropped" && outcome.reason).toContain(`role ${write}`);
    expect(roles.roles.has(write ?? "")).toBe(true);
    expect(roles.roles.has(read ?? "")).toBe(true);
  });

  it("still deletes the parameters of a resource that has no role left (nothing to wait for)", async () => {
    const { parameters, roles, create, order, at } = await setup();
    await create("gone", T0 - HOUR);
    roles.roles.delete(ROLE);
    at(T0 + HOUR);

    const outcome = await order({ action: "delete", roles: [], listedAt: T0 + HOUR });

    expect(outcome).toMatchObject({ result: "ordered", outcome: { result: "deleted" } });
    expect(parameters.parameters.has(PARAMETER)).toBe(false);
  });
});

describe("a reconcile order for a target account", () => {
  const TARGET = "222222222222";
  const PRODUCTION = "production-01HND497T9JKR76MR3KA2CDJHP";

  async function twoAccounts() {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: "123456789012",
      PERMISSIONS_CONFIG: JSON.stringify({
        permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/spacelift-boundary",
        accounts: [
          {
            id: TARGET,
            vendingRoleArn: `arn:aws:iam::${TARGET}:role/vending`,
            spaces: ["production-*"],
            permissionsBoundaryArn: `arn:aws:iam::${TARGET}:policy/spacelift-boundary`,
          },
        ],
      }),
    });
    const service = { roles: new InMemoryRoleStore(), parameters: new InMemoryParameterStore() };
    const target = { roles: new InMemoryRoleStore(), parameters: new InMemoryParameterStore() };
    const deps: ProvisionerDeps = {
      config,
      ...service,
      ledger: new InMemoryLedger(),
      accounts: { storesFor: async () => target },
      orphanGracePeriodHours: 72,
      now: () => new Date(T0),
      sleep: async () => {},
    };
    const create = (stack: string, space: string) =>
      processQueueMessage(
        encodeQueueMessage(
          JSON.stringify(
            auditEvent("stack.create", { account: "acme", stack, space, timestamp: T0 - HOUR }),
          ),
        ),
        deps,
      );
    const order = (fields: Partial<ReconcileOrder> = {}) =>
      processQueueMessage(
        encodeReconcileOrder({
          resource: "stack:gone",
          action: "revoke",
          roles: [ROLE],
          listedAt: T0,
          account: TARGET,
          ...fields,
        }),
        deps,
      );
    return { config, deps, service, target, create, order };
  }

  it("revokes the role in that account, not the service's", async () => {
    const { config, service, target, create, order } = await twoAccounts();
    await create("gone", PRODUCTION);
    // A role of the same name in the service's account (an older placement), left as it is.
    const vended = target.roles.roles.get(ROLE);
    if (vended === undefined) throw new Error("the create vended no role in the target account");
    await service.roles.create(vended);
    service.roles.calls.length = 0;

    const outcome = await order();

    expect(outcome).toMatchObject({
      result: "ordered",
      outcome: { result: "revoked", roles: [ROLE] },
    });
    expect(target.roles.roles.get(ROLE)?.trustPolicy).toEqual(
      revokedTrustPolicy(configForAccount(config, TARGET)),
    );
    expect(service.roles.writes()).toEqual([]);
  });

  it("deletes the role there after the grace period, with its parameters in both accounts", async () => {
    const { deps, service, target, create, order } = await twoAccounts();
    await create("gone", PRODUCTION);
    expect(service.parameters.parameters.has(PARAMETER)).toBe(true);
    await order();
    const later = T0 + 73 * HOUR;
    const deleting = await processQueueMessage(
      encodeReconcileOrder({
        resource: "stack:gone",
        action: "delete",
        roles: [ROLE],
        listedAt: later,
        account: TARGET,
      }),
      { ...deps, now: () => new Date(later) },
    );

    expect(deleting).toMatchObject({ result: "ordered", outcome: { result: "deleted" } });
    expect(target.roles.roles.has(ROLE)).toBe(false);
    expect(target.parameters.parameters.has(PARAMETER)).toBe(false);
    expect(service.parameters.parameters.has(PARAMETER)).toBe(false);
  });

  it("refuses, in that account, a role that is another stack's, touching nothing", async () => {
    const { target, create, order } = await twoAccounts();
    await create("kept", PRODUCTION);
    target.roles.calls.length = 0;

    const outcome = await order({ roles: ["spacelift-stack-kept"] });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(target.roles.writes()).toEqual([]);
  });

  it("records a misplaced resource's account in the ledger, once, writing nothing in IAM", async () => {
    const { deps, service, target, create, order } = await twoAccounts();
    await create("gone", PRODUCTION);
    target.roles.calls.length = 0;
    service.roles.calls.length = 0;

    const first = await order({ action: "misplaced", account: "123456789012" });
    const second = await order({ action: "misplaced", account: "123456789012" });

    expect(first).toMatchObject({ result: "ordered", outcome: { result: "recorded" } });
    expect(second).toMatchObject({ result: "ordered", outcome: { result: "stale" } });
    expect(await deps.ledger.get("stack:gone")).toMatchObject({
      account: TARGET,
      formerAccounts: ["123456789012"],
    });
    expect([...target.roles.writes(), ...service.roles.writes()]).toEqual([]);
  });

  it("is dropped, touching nothing, when the account is not configured", async () => {
    const { service, target, create, order } = await twoAccounts();
    await create("gone", PRODUCTION);
    target.roles.calls.length = 0;

    const outcome = await order({ account: "333333333333" });

    expect(outcome).toMatchObject({ result: "dropped" });
    expect(outcome.result === "dropped" && outcome.reason).toMatch(
      /333333333333 is not configured/,
    );
    expect(target.roles.writes()).toEqual([]);
    expect(service.roles.writes()).toEqual([]);
  });
});
