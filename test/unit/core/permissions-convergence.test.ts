/**
 * Attached and inline policies follow the configuration, the stack's labels and its space:
 * nothing stale stays attached. Core against in-memory IAM/SSM, through the real events.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { convergeStack } from "../../../functions/core/converge.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import type { RoleSpec } from "../../../functions/core/ports.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { removeStack } from "../../../functions/core/remove.ts";
import {
  InMemoryLedger,
  InMemoryParameterStore,
  InMemoryRoleStore,
} from "../../../testkit/fakes/in-memory.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { InMemorySpacePaths } from "../../../testkit/fakes/in-memory-space-paths.ts";
import { auditEvent, type EventOptions } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const DEPLOY_PROD = "arn:aws:iam::123456789012:policy/deploy-production";
const DEPLOY_STAGING = "arn:aws:iam::123456789012:policy/deploy-staging";
const QUEUES = "arn:aws:iam::aws:policy/AmazonSQSFullAccess";
const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-boundary";
const ROLE = "spacelift-stack-payments-api";
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";
const READ_PARAMETER = "/spacelift/acme/stacks/payments-api/read-role-arn";

const inline = (bucket: string) => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${bucket}/*` }],
});

const PERMISSIONS = JSON.stringify({
  default: { managedPolicyArns: [READ_ONLY] },
  spaces: [
    {
      match: "production-*",
      managedPolicyArns: [DEPLOY_PROD],
      inlinePolicies: { "state-production": inline("state-production") },
    },
    {
      match: "staging-*",
      managedPolicyArns: [DEPLOY_STAGING],
      inlinePolicies: { "state-staging": inline("state-staging") },
    },
  ],
  labels: { "aws:queues": { managedPolicyArns: [QUEUES] } },
});

async function setup(permissions: string = PERMISSIONS) {
  const { roles, parameters, deps } = inMemoryProvisionerDeps(await configWith(permissions), {
    spacePaths: new InMemorySpacePaths(),
  });
  let clock = 1_764_000_000_000;
  const send = async (
    action: Parameters<typeof auditEvent>[0],
    options: Omit<EventOptions, "account">,
  ) => {
    const outcome = await processMessage(
      JSON.stringify(auditEvent(action, { account: "acme", timestamp: clock++, ...options })),
      deps,
    );
    if (outcome.result !== "applied") throw new Error(`not applied: ${JSON.stringify(outcome)}`);
    return outcome.outcome;
  };
  return { deps, roles, parameters, send };
}

function configWith(permissions: string, env: Record<string, string> = {}) {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    PERMISSIONS_CONFIG: permissions,
    ...env,
  });
}

const policiesOf = (roles: InMemoryRoleStore, name = ROLE) => {
  const role = roles.roles.get(name);
  return {
    managed: role?.managedPolicyArns,
    inline: role === undefined ? undefined : Object.keys(role.inlinePolicies).sort(),
  };
};

describe("policies converge", () => {
  it("when the stack moves to another space and the update does not repeat its labels", async () => {
    const { roles, send } = await setup();
    await send("stack.create", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });
    expect(policiesOf(roles)).toEqual({
      managed: [DEPLOY_PROD, QUEUES, READ_ONLY],
      inline: ["state-production"],
    });

    const update = auditEvent("stack.update", {
      account: "acme",
      stack: PAYMENTS,
      space: STAGING,
      timestamp: 1_764_000_100_000,
    });
    delete (update.data as { args: { Input: { Labels?: unknown } } }).args.Input.Labels;
    await processMessageApplied(update, await setupDeps(roles));

    // The space's policies follow the move; the label's stay (remembered on the role).
    expect(policiesOf(roles)).toEqual({
      managed: [DEPLOY_STAGING, QUEUES, READ_ONLY],
      inline: ["state-staging"],
    });
  });

  it("when the stack moves and neither the update nor the role knows its labels: the old space's grants go", async () => {
    // Attack: a role from before the labels tag (or one that replaced a role of the previous
    // naming scheme with its policies) kept every policy on a move whose event left the labels
    // unsaid: trusted from the new space, it still held the old space's grants (production's
    // deploy policy on a stack now administered from staging).
    const { roles, send } = await setup();
    await send("stack.create", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });
    const role = roles.roles.get(ROLE);
    if (role !== undefined) {
      const { "spacelift:labels": _labels, ...tags } = role.tags;
      role.tags = tags;
    }

    const update = auditEvent("stack.update", {
      account: "acme",
      stack: PAYMENTS,
      space: STAGING,
      timestamp: 1_764_000_100_000,
    });
    delete (update.data as { args: { Input: { Labels?: unknown } } }).args.Input.Labels;
    await processMessageApplied(update, await setupDeps(roles));

    // The new space's grants only; the label's come back with the next event that says them.
    expect(policiesOf(roles)).toEqual({
      managed: [DEPLOY_STAGING, READ_ONLY],
      inline: ["state-staging"],
    });
    expect(roles.roles.get(ROLE)?.tags["spacelift:space"]).toBe(STAGING);
  });

  it("when the stack's labels change", async () => {
    const { roles, send } = await setup();
    await send("stack.create", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });

    await send("stack.update", { stack: PAYMENTS, space: PROD, labels: ["team:payments"] });

    expect(policiesOf(roles).managed).toEqual([DEPLOY_PROD, READ_ONLY]);
    expect(roles.roles.get(ROLE)?.tags["spacelift:labels"]).toBe("");
  });

  it("when the configuration changes, on the next convergence of the stack", async () => {
    const { deps, roles, send } = await setup();
    await send("stack.create", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });
    const changed = JSON.stringify({
      default: { managedPolicyArns: [DEPLOY_STAGING] },
      labels: {},
    });

    const outcome = await convergeStack(
      { stackId: PAYMENTS, spaceId: undefined, labels: undefined },
      { ...deps, config: await configWith(changed) },
    );

    expect(policiesOf(roles)).toEqual({ managed: [DEPLOY_STAGING], inline: [] });
    expect(outcome.changes).toEqual(
      expect.arrayContaining([
        `detachPolicy ${DEPLOY_PROD}`,
        `detachPolicy ${QUEUES}`,
        `detachPolicy ${READ_ONLY}`,
        "deleteInlinePolicy state-production",
      ]),
    );
  });

  it("but are left alone for a role that predates the labels tag when the event says no labels and the stack stays in its space", async () => {
    const { deps, roles } = await setup();
    roles.seed({
      name: ROLE,
      path: "/spacelift/",
      managedPolicyArns: [QUEUES, READ_ONLY],
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": PAYMENTS,
        "spacelift:space": PROD,
      },
    });

    await convergeStack({ stackId: PAYMENTS, spaceId: PROD, labels: undefined }, deps);

    expect(policiesOf(roles).managed).toEqual([QUEUES, READ_ONLY]);
    expect(roles.roles.get(ROLE)?.tags["spacelift:space"]).toBe(PROD);
  });

  it("and replaced by the new space's grants when such a role moves (the old space's are never kept)", async () => {
    const { deps, roles } = await setup();
    roles.seed({
      name: ROLE,
      path: "/spacelift/",
      managedPolicyArns: [DEPLOY_PROD, QUEUES, READ_ONLY],
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": PAYMENTS,
        "spacelift:space": PROD,
      },
    });

    await convergeStack({ stackId: PAYMENTS, spaceId: STAGING, labels: undefined }, deps);

    expect(policiesOf(roles).managed).toEqual([DEPLOY_STAGING, READ_ONLY]);
    expect(roles.roles.get(ROLE)?.tags["spacelift:space"]).toBe(STAGING);
  });

  it("and a second identical event changes nothing", async () => {
    const { roles, send } = await setup();
    await send("stack.create", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });
    const before = roles.writes().length;

    await send("stack.update", { stack: PAYMENTS, space: PROD, labels: ["aws:queues"] });

    expect(roles.writes().length).toBe(before);
  });
});

describe("the read/write split", () => {
  const split = JSON.stringify({
    readWriteSplit: true,
    default: { managedPolicyArns: [DEPLOY_PROD], read: { managedPolicyArns: [READ_ONLY] } },
  });

  it("gives a new stack a write and a read role, each with its own policies and parameter", async () => {
    const { roles, parameters, send } = await setup(split);

    const outcome = await send("stack.create", { stack: PAYMENTS, space: PROD });

    expect(policiesOf(roles, `${ROLE}.write`).managed).toEqual([DEPLOY_PROD]);
    expect(policiesOf(roles, `${ROLE}.read`).managed).toEqual([READ_ONLY]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe(roles.roles.get(`${ROLE}.write`)?.arn);
    expect(parameters.parameters.get(READ_PARAMETER)?.value).toBe(
      roles.roles.get(`${ROLE}.read`)?.arn,
    );
    expect(outcome).toMatchObject({
      result: "created",
      roleName: `${ROLE}.write`,
      readRoleName: `${ROLE}.read`,
    });
  });

  it("replaces the unsplit role when switched on, and puts it back when switched off", async () => {
    const { deps, roles, parameters, send } = await setup(PERMISSIONS);
    await send("stack.create", { stack: PAYMENTS, space: PROD });
    const splitDeps = { ...deps, config: await configWith(split) };

    await convergeStack({ stackId: PAYMENTS, spaceId: undefined, labels: undefined }, splitDeps);

    expect([...roles.roles.keys()].sort()).toEqual([`${ROLE}.read`, `${ROLE}.write`]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe(roles.roles.get(`${ROLE}.write`)?.arn);

    await convergeStack({ stackId: PAYMENTS, spaceId: undefined, labels: undefined }, deps);

    expect([...roles.roles.keys()]).toEqual([ROLE]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe(roles.roles.get(ROLE)?.arn);
    expect(parameters.parameters.has(READ_PARAMETER)).toBe(false);
  });

  it("deletes every shape of a stack's roles and both parameters, whatever the configuration", async () => {
    const { deps, roles, parameters, send } = await setup(split);
    await send("stack.create", { stack: PAYMENTS, space: PROD });
    // A leftover unsplit role from before the split, too.
    roles.seed({
      name: ROLE,
      path: "/spacelift/",
      managedPolicyArns: [READ_ONLY],
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": PAYMENTS,
      },
    });

    const outcome = await removeStack(PAYMENTS, { ...deps, config: await configWith(PERMISSIONS) });

    expect(outcome.result).toBe("deleted");
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });
});

describe("the permissions boundary", () => {
  it("goes with CreateRole itself, on every role", async () => {
    const roles = new InMemoryRoleStore();
    const created: RoleSpec[] = [];
    const create = roles.create.bind(roles);
    roles.create = async (spec) => {
      created.push(spec);
      return create(spec);
    };
    const deps: ProvisionerDeps = {
      ...(await setupDeps(roles)),
      config: await configWith(JSON.stringify({ readWriteSplit: true }), {
        PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
      }),
    };

    await processMessageApplied(
      auditEvent("stack.create", { account: "acme", stack: PAYMENTS, space: PROD, timestamp: 1 }),
      deps,
    );
    await processMessageApplied(
      auditEvent("space.create", { account: "acme", space: PROD, timestamp: 2 }),
      deps,
    );

    expect(created.map((spec) => [spec.name, spec.permissionsBoundaryArn])).toEqual([
      [`${ROLE}.write`, BOUNDARY],
      [`${ROLE}.read`, BOUNDARY],
      [`spacelift-space-${PROD}`, BOUNDARY],
    ]);
  });

  it("is put back on a role someone took it off", async () => {
    const { deps, roles, send } = await setup();
    const bounded = {
      ...deps,
      config: await configWith(PERMISSIONS, { PERMISSIONS_BOUNDARY_ARN: BOUNDARY }),
    };
    await send("stack.create", { stack: PAYMENTS, space: PROD });
    const role = roles.roles.get(ROLE);
    if (role !== undefined) role.permissionsBoundaryArn = undefined;

    await convergeStack({ stackId: PAYMENTS, spaceId: undefined, labels: undefined }, bounded);

    expect(roles.roles.get(ROLE)?.permissionsBoundaryArn).toBe(BOUNDARY);
  });
});

describe("space events", () => {
  it("record the space's name and parent, and a deletion forgets them", async () => {
    const { deps, send } = await setup();
    const paths = deps.spacePaths as InMemorySpacePaths;

    await send("space.create", { space: PROD, parentSpace: "root" });
    expect(paths.nodes.get(PROD)?.node).toEqual({
      spaceId: PROD,
      name: "production",
      parentSpaceId: "root",
    });

    await send("space.delete", { space: PROD });
    expect(paths.nodes.has(PROD)).toBe(false);
  });
});

async function setupDeps(roles: InMemoryRoleStore): Promise<ProvisionerDeps> {
  return {
    config: await configWith(PERMISSIONS),
    roles,
    parameters: new InMemoryParameterStore(),
    ledger: new InMemoryLedger(),
    spacePaths: new InMemorySpacePaths(),
    sleep: async () => {},
  };
}

async function processMessageApplied(event: Record<string, unknown>, deps: ProvisionerDeps) {
  const outcome = await processMessage(JSON.stringify(event), deps);
  if (outcome.result !== "applied") throw new Error(`not applied: ${JSON.stringify(outcome)}`);
  return outcome.outcome;
}
