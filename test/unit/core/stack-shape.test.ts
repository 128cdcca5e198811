/**
 * The shape of a stack's roles (one unsplit role, or the read/write split's pair) as the ledger
 * vouches for it: once an event has found the other shape absent or removed it, later events
 * look only for the configuration's shape, and whatever switches the split drops the vouching
 * before it creates roles, so the other shape's roles are still found and removed after a
 * switch, a crash half-way, a refusal, or events out of order. Core against in-memory stores.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { ForeignResourceError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import {
  beforeCreatingStackRoles,
  recordStackFacts,
} from "../../../functions/core/stack-ledger.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { auditEvent, type EventOptions } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const DEPLOY = "arn:aws:iam::123456789012:policy/deploy";
const ROLE = "spacelift-stack-payments-api";
const WRITE_ROLE = `${ROLE}.write`;
const READ_ROLE = `${ROLE}.read`;
/** The split's names under the previous naming scheme: looked for until the ledger vouches. */
const LEGACY_ROLES = [`${ROLE}-write`, `${ROLE}-read`];
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";
const READ_PARAMETER = "/spacelift/acme/stacks/payments-api/read-role-arn";
const RESOURCE = `stack:${PAYMENTS}`;

const UNSPLIT = await configWith({ default: { managedPolicyArns: [READ_ONLY] } });
const SPLIT = await configWith({
  readWriteSplit: true,
  default: { managedPolicyArns: [DEPLOY], read: { managedPolicyArns: [READ_ONLY] } },
});

function configWith(permissions: unknown) {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    PERMISSIONS_CONFIG: JSON.stringify(permissions),
  });
}

function setup(config = UNSPLIT) {
  const inMemory = inMemoryProvisionerDeps(config);
  const { roles, parameters, ledger } = inMemory;
  // Mutable, as a deployment changes the configuration between two events.
  const deps: { -readonly [K in keyof ProvisionerDeps]: ProvisionerDeps[K] } = { ...inMemory.deps };
  let clock = 1_764_000_000_000;
  const body = (
    action: Parameters<typeof auditEvent>[0],
    options: Omit<EventOptions, "account" | "stack"> = {},
  ) => {
    clock += 1000;
    return JSON.stringify(
      auditEvent(action, { account: "acme", stack: PAYMENTS, timestamp: clock, ...options }),
    );
  };
  /** Delivers one event; what each store saw is counted from here. */
  const deliver = async (message: string) => {
    roles.described.length = 0;
    parameters.removals.length = 0;
    return processMessage(message, deps);
  };
  const send = async (
    action: Parameters<typeof auditEvent>[0],
    options: Omit<EventOptions, "account" | "stack"> = {},
  ) => {
    const outcome = await deliver(body(action, { space: PROD, ...options }));
    if (outcome.result !== "applied") throw new Error(`not applied: ${JSON.stringify(outcome)}`);
    return outcome.outcome;
  };
  const shape = () => ledger.entries.get(RESOURCE)?.shape;
  return { deps, roles, parameters, ledger, body, deliver, send, shape };
}

/** Created under the split-off configuration, then an update that vouches for the shape. */
async function vouchedUnsplit() {
  const world = setup(UNSPLIT);
  await world.send("stack.create");
  await world.send("stack.update");
  expect(world.shape()).toBe("unsplit");
  return world;
}

describe("with the split off, the ledger spares the describes of the split's roles", () => {
  it("looks for every shape once, on the first event that reads the stack, then only for its role", async () => {
    const { roles, parameters, send, shape } = setup(UNSPLIT);
    await send("stack.create");
    // A fresh create reads nothing, so it cannot vouch for anything.
    expect(roles.described).toEqual([]);
    expect(shape()).toBeUndefined();

    await send("stack.create"); // delivered again
    expect(roles.described).toEqual([ROLE, WRITE_ROLE, READ_ROLE, ...LEGACY_ROLES]);
    // The read-role parameter is looked for too, even without a read role: vouching covers it.
    expect(parameters.removals).toEqual([READ_PARAMETER]);
    expect(shape()).toBe("unsplit");

    const moved = await send("stack.update", { space: STAGING });
    expect(moved.result).toBe("updated");
    expect(roles.described).toEqual([ROLE]);
    expect(parameters.removals).toEqual([]);
    expect(shape()).toBe("unsplit");

    await send("stack.update", { space: STAGING });
    expect(roles.described).toEqual([ROLE]);
    expect(parameters.removals).toEqual([]);
  });

  it("deletes the role and its one parameter without looking for the split's", async () => {
    const { roles, parameters, send, shape, ledger } = await vouchedUnsplit();

    const outcome = await send("stack.delete");

    expect(outcome).toMatchObject({ result: "deleted", parameter: "deleted" });
    expect(roles.described).toEqual([ROLE]);
    expect(parameters.removals).toEqual([PARAMETER]);
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
    expect(ledger.entries.get(RESOURCE)?.state).toBe("deleted");
    expect(shape()).toBe("unsplit");
  });

  it("keeps vouching through a delete and a re-create, which reads nothing", async () => {
    const { roles, send, shape } = await vouchedUnsplit();
    await send("stack.delete");

    await send("stack.create");
    expect(roles.described).toEqual([]);
    expect(shape()).toBe("unsplit");

    await send("stack.update");
    expect(roles.described).toEqual([ROLE]);
    expect([...roles.roles.keys()]).toEqual([ROLE]);
  });

  it("does the same for the split's pair when the split is on", async () => {
    const { roles, parameters, send, shape } = setup(SPLIT);
    await send("stack.create");
    await send("stack.update");
    expect(roles.described).toEqual([WRITE_ROLE, READ_ROLE, ROLE, ...LEGACY_ROLES]);
    expect(shape()).toBe("split");

    await send("stack.update", { space: STAGING });
    expect(roles.described).toEqual([WRITE_ROLE, READ_ROLE]);
    expect(parameters.removals).toEqual([]);

    await send("stack.delete");
    expect(roles.described).toEqual([WRITE_ROLE, READ_ROLE]);
    expect(parameters.removals).toEqual([PARAMETER, READ_PARAMETER]);
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });
});

describe("switching the split still removes the other shape", () => {
  it("on: the next event removes the unsplit role; off again: the next removes the pair and the read parameter", async () => {
    const { deps, roles, parameters, send, shape } = await vouchedUnsplit();

    deps.config = SPLIT;
    await send("stack.update");

    expect(roles.described).toEqual([WRITE_ROLE, READ_ROLE, ROLE, ...LEGACY_ROLES]);
    expect([...roles.roles.keys()].sort()).toEqual([READ_ROLE, WRITE_ROLE]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe(roles.roles.get(WRITE_ROLE)?.arn);
    expect(parameters.parameters.get(READ_PARAMETER)?.value).toBe(roles.roles.get(READ_ROLE)?.arn);
    expect(parameters.parameters.get(PARAMETER)?.tags).toEqual(roles.roles.get(WRITE_ROLE)?.tags);
    expect(parameters.parameters.get(PARAMETER)?.tags).toHaveProperty(["spacelift:scope"]);
    expect(shape()).toBe("split");
    // Someone's own tag on the parameter, which no switch may take away.
    const published = parameters.parameters.get(PARAMETER);
    if (published) published.tags.team = "payments";

    deps.config = UNSPLIT;
    await send("stack.update");

    expect(roles.described).toEqual([ROLE, WRITE_ROLE, READ_ROLE, ...LEGACY_ROLES]);
    expect([...roles.roles.keys()]).toEqual([ROLE]);
    expect([...parameters.parameters.keys()]).toEqual([PARAMETER]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe(roles.roles.get(ROLE)?.arn);
    // The write role's scope tag goes with the split; the parameter is tagged like the role.
    expect(parameters.parameters.get(PARAMETER)?.tags).toEqual({
      ...roles.roles.get(ROLE)?.tags,
      team: "payments",
    });
    expect(parameters.parameters.get(PARAMETER)?.tags).not.toHaveProperty(["spacelift:scope"]);
    expect(shape()).toBe("unsplit");
  });

  it("a delete after the switch removes every shape", async () => {
    const { deps, roles, parameters, send } = setup(SPLIT);
    await send("stack.create");
    await send("stack.update");
    deps.config = UNSPLIT;

    await send("stack.delete");

    expect(roles.described).toEqual([ROLE, WRITE_ROLE, READ_ROLE, ...LEGACY_ROLES]);
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });

  it("a crash half-way through the switch, then a switch back, still removes the new shape", async () => {
    const { deps, roles, parameters, body, deliver, shape } = await vouchedUnsplit();
    deps.config = SPLIT;
    // The split's roles get created, then removing the unsplit role fails (Lambda timeout).
    const remove = roles.delete.bind(roles);
    roles.delete = async () => {
      throw new Error("Task timed out");
    };
    const update = body("stack.update", { space: PROD });
    await expect(deliver(update)).rejects.toThrow("Task timed out");
    expect([...roles.roles.keys()].sort()).toEqual([ROLE, READ_ROLE, WRITE_ROLE]);
    // The ledger stopped vouching before anything was created.
    expect(shape()).toBeUndefined();

    // Rolled back before the message was retried.
    roles.delete = remove;
    deps.config = UNSPLIT;
    expect(await deliver(update)).toMatchObject({ result: "applied" });

    expect(roles.described).toEqual([ROLE, WRITE_ROLE, READ_ROLE, ...LEGACY_ROLES]);
    expect([...roles.roles.keys()]).toEqual([ROLE]);
    expect([...parameters.parameters.keys()]).toEqual([PARAMETER]);
    expect(shape()).toBe("unsplit");
  });

  it("a refusal half-way through the switch does not vouch for the new shape", async () => {
    const { deps, roles, parameters, body, deliver, send, shape } = await vouchedUnsplit();
    deps.config = SPLIT;
    // Someone else's parameter holds the read role's name: the pair is created, then refused.
    const publish = parameters.publish.bind(parameters);
    parameters.publish = async (name, value, tags) => {
      if (name === READ_PARAMETER) throw new ForeignResourceError("not ours");
      return publish(name, value, tags);
    };
    expect(await deliver(body("stack.update", { space: PROD }))).toMatchObject({
      result: "dropped",
    });
    expect(shape()).toBeUndefined();

    parameters.publish = publish;
    deps.config = UNSPLIT;
    await send("stack.update");

    expect([...roles.roles.keys()]).toEqual([ROLE]);
    expect(shape()).toBe("unsplit");
  });

  it("a late event that converges the stack after the switch removes the other shape", async () => {
    const { deps, roles, body, deliver, shape } = setup(UNSPLIT);
    await deliver(body("stack.create", { space: PROD }));
    const late = body("stack.update", { space: STAGING }); // made now, delivered last
    await deliver(body("stack.update", { space: null })); // newer, names no space
    await deliver(body("stack.update", { space: null }));
    expect(shape()).toBe("unsplit");
    deps.config = SPLIT;

    // Older than the last event applied, but the newest to name the space: it converges.
    expect(await deliver(late)).toMatchObject({ outcome: { result: "created" } });

    expect(roles.described).toEqual([WRITE_ROLE, READ_ROLE, ROLE, ...LEGACY_ROLES]);
    expect([...roles.roles.keys()].sort()).toEqual([READ_ROLE, WRITE_ROLE]);
    expect(roles.roles.get(WRITE_ROLE)?.tags["spacelift:space"]).toBe(STAGING);
    expect(shape()).toBe("split");
  });
});

describe("writers other than the provisioner's events", () => {
  it("never vouch: the reconciler's facts drop the vouching", async () => {
    const { ledger, shape } = await vouchedUnsplit();

    await recordStackFacts(ledger, { stackId: PAYMENTS, spaceId: STAGING, labels: [] }, 9e12);

    expect(ledger.entries.get(RESOURCE)?.facts?.spaceId?.value).toBe(STAGING);
    expect(shape()).toBeUndefined();
  });

  it("make the ledger stop vouching for the other shape before they create roles", async () => {
    const { ledger, shape } = await vouchedUnsplit();

    await beforeCreatingStackRoles(ledger, PAYMENTS, UNSPLIT);
    expect(shape()).toBe("unsplit");

    await beforeCreatingStackRoles(ledger, PAYMENTS, SPLIT);
    expect(shape()).toBeUndefined();
    expect(ledger.entries.get(RESOURCE)).toMatchObject({ state: "present" });
  });
});
