import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { convergeStack } from "../../../functions/core/converge.ts";
import { ForeignResourceError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import type { ProvisionerDeps } from "../../../functions/core/provision.ts";
import { fitRoleName } from "../../../functions/core/role-names.ts";
import { recordStackFacts } from "../../../functions/core/stack-ledger.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import {
  fixture,
  fixtureBody,
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
  STAGING_SPACE,
} from "../../../testkit/spacelift/fixtures.ts";

const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-boundary";
const PARAMETER = "/spacelift/acme/stacks/payments-api/role-arn";
const ROLE = "spacelift-stack-payments-api";

async function setup(env: Record<string, string> = {}) {
  const sleeps: number[] = [];
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: "123456789012",
    DEFAULT_POLICY_ARNS: READ_ONLY,
    PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
    ...env,
  });
  const { roles, parameters, ledger, deps } = inMemoryProvisionerDeps(config, {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  const process = (body: unknown) =>
    processMessage(typeof body === "string" ? body : JSON.stringify(body), deps);
  return { roles, parameters, ledger, deps, sleeps, process };
}

const subOf = (role: { trustPolicy: Record<string, unknown> } | undefined) => {
  const trust = role?.trustPolicy as
    | { Statement: { Condition: { StringLike: Record<string, string> } }[] }
    | undefined;
  return trust?.Statement[0]?.Condition.StringLike[`${SPACELIFT_HOST}:sub`];
};

describe("processMessage: stack.create", () => {
  it("creates the role the stack's tokens can assume and publishes its ARN", async () => {
    const { roles, parameters, process } = await setup();
    const outcome = await process(fixtureBody("stack.create"));
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    const role = roles.roles.get(ROLE);
    expect(role).toMatchObject({
      path: "/spacelift/",
      maxSessionDuration: 3600,
      permissionsBoundaryArn: BOUNDARY,
      managedPolicyArns: [READ_ONLY],
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": "payments-api",
      },
    });
    expect(role?.trustPolicy).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Federated: `arn:aws:iam::123456789012:oidc-provider/${SPACELIFT_HOST}` },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: {
            StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST },
            StringLike: {
              [`${SPACELIFT_HOST}:sub`]: `space:${PRODUCTION_SPACE}:stack:payments-api:run_type:*:scope:*`,
            },
          },
        },
      ],
    });
    expect(parameters.parameters.get(PARAMETER)).toEqual({
      value: role?.arn,
      tags: role?.tags,
    });
  });

  it("makes no write call when the same event runs twice", async () => {
    const { roles, parameters, process } = await setup();
    await process(fixtureBody("stack.create"));
    const writesBefore = roles.writes().length;
    const putsBefore = parameters.calls.length;
    const outcome = await process(fixtureBody("stack.create"));
    expect(outcome).toMatchObject({ outcome: { result: "unchanged" } });
    expect(roles.writes()).toHaveLength(writesBefore);
    expect(parameters.calls).toHaveLength(putsBefore);
  });

  it("changes nothing for a create whose role already exists correctly", async () => {
    const first = await setup();
    await first.process(fixtureBody("stack.create"));
    // A fresh deployment (empty ledger) meets a role that is already right.
    const second = await setup();
    for (const role of first.roles.roles.values()) second.roles.seed(structuredClone(role));
    for (const [name, parameter] of first.parameters.parameters) {
      second.parameters.parameters.set(name, structuredClone(parameter));
    }
    const outcome = await second.process(fixtureBody("stack.create"));
    expect(outcome).toMatchObject({ outcome: { result: "unchanged" } });
    expect(second.roles.writes()).toEqual(["create"]);
    expect(second.parameters.calls).toEqual([]);
  });

  it("waits for the new role to be readable, backing off, before publishing its ARN", async () => {
    const { roles, parameters, sleeps, process } = await setup();
    let reads = 0;
    roles.isReadable = async (name) => {
      reads++;
      return reads > 3 && roles.roles.has(name);
    };
    await process(fixtureBody("stack.create"));
    expect(sleeps).toEqual([100, 200, 400]);
    expect(parameters.parameters.has(PARAMETER)).toBe(true);
  });

  it("does not publish a parameter when the role never becomes readable, and throws to retry", async () => {
    const { roles, parameters, process } = await setup();
    roles.isReadable = async () => false;
    await expect(process(fixtureBody("stack.create"))).rejects.toThrow("not readable yet");
    expect(parameters.parameters.size).toBe(0);
  });

  it("gives a long stack ID a 64-character name ending in a hash of the full name", async () => {
    const { roles, process } = await setup();
    const longA = `${"a".repeat(100)}-one`;
    const longB = `${"a".repeat(100)}-two`;
    for (const id of [longA, longB]) {
      const event = fixture("stack.create");
      event.data = { ...event.data, ID: id };
      await process(event);
    }
    const names = [...roles.roles.keys()];
    expect(names).toHaveLength(2);
    for (const name of names) {
      expect(name).toHaveLength(64);
      expect(name).toMatch(/^spacelift-stack-a+\.[0-9a-f]{16}$/);
    }
    expect(fitRoleName("short")).toBe("short");
  });
});

describe("processMessage: stack.update", () => {
  it("rewrites the trust policy when the stack moves to another space", async () => {
    const { roles, process } = await setup();
    await process(fixtureBody("stack.create"));
    const outcome = await process(fixtureBody("stack.update"));
    expect(outcome).toMatchObject({ outcome: { result: "updated" } });
    const role = roles.roles.get(ROLE);
    expect(subOf(role)).toBe(`space:${STAGING_SPACE}:stack:payments-api:run_type:*:scope:*`);
    expect(role?.tags["spacelift:space"]).toBe(STAGING_SPACE);
  });

  it("keeps the stack's space when the update does not name one", async () => {
    const { roles, process } = await setup();
    await process(fixtureBody("stack.create"));
    const update = fixture("stack.update");
    update.data = { args: { ID: "payments-api", Input: { Description: "new" } } };
    await process(update);
    expect(subOf(roles.roles.get(ROLE))).toContain(`space:${PRODUCTION_SPACE}:stack:payments-api:`);
    expect(roles.roles.get(ROLE)?.managedPolicyArns).toEqual([READ_ONLY]);
  });

  it("converges a role someone changed by hand back to its specification", async () => {
    const { roles, process } = await setup();
    await process(fixtureBody("stack.create"));
    await roles.attachPolicy(ROLE, "arn:aws:iam::aws:policy/AdministratorAccess");
    await roles.putInlinePolicy(ROLE, "extra", { Version: "2012-10-17", Statement: [] });
    await roles.deletePermissionsBoundary(ROLE);
    await roles.untag(ROLE, ["spacelift:stack"]);
    await roles.tag(ROLE, {
      "spacelift:stack": "payments-api",
      "spacelift:stale": "x",
      owner: "me",
    });
    await process(fixtureBody("stack.update"));
    const role = roles.roles.get(ROLE);
    expect(role?.managedPolicyArns).toEqual([READ_ONLY]);
    expect(role?.inlinePolicies).toEqual({});
    expect(role?.permissionsBoundaryArn).toBe(BOUNDARY);
    expect(role?.tags).not.toHaveProperty("spacelift:stale");
    expect(role?.tags.owner).toBe("me");
  });
});

describe("processMessage: deletion", () => {
  it("removes attached and inline policies, the role and the parameter", async () => {
    const { roles, parameters, process } = await setup();
    await process(fixtureBody("stack.create"));
    await roles.putInlinePolicy(ROLE, "extra", { Version: "2012-10-17", Statement: [] });
    const outcome = await process(fixtureBody("stack.delete"));
    expect(outcome).toMatchObject({ outcome: { result: "deleted", parameter: "deleted" } });
    expect(roles.roles.has(ROLE)).toBe(false);
    expect(parameters.parameters.has(PARAMETER)).toBe(false);
  });

  it("is convergent: deleting what is already gone succeeds", async () => {
    const { process } = await setup();
    const outcome = await process(fixtureBody("stack.delete"));
    expect(outcome).toMatchObject({ outcome: { result: "absent", parameter: "absent" } });
  });

  it("refuses to delete a role of that name that we did not create, and leaves it and the parameter alone", async () => {
    const { roles, parameters, process } = await setup();
    roles.seed({ name: ROLE, path: "/spacelift/", tags: { team: "payments" } });
    parameters.parameters.set(PARAMETER, { value: "theirs", tags: {} });
    const outcome = await process(fixtureBody("stack.delete"));
    expect(outcome).toMatchObject({ result: "dropped" });
    expect(roles.roles.has(ROLE)).toBe(true);
    expect(roles.writes()).toEqual([]);
    expect(parameters.parameters.get(PARAMETER)?.value).toBe("theirs");
  });

  it.each([
    [
      "outside our path",
      {
        path: "/",
        tags: {
          "managed-by": "spacelift-role-vending",
          "spacelift:account": "acme",
          "spacelift:stack": "payments-api",
        },
      },
    ],
    [
      "of another Spacelift account",
      {
        path: "/spacelift/",
        tags: {
          "managed-by": "spacelift-role-vending",
          "spacelift:account": "other",
          "spacelift:stack": "payments-api",
        },
      },
    ],
    [
      "tagged for another stack",
      {
        path: "/spacelift/",
        tags: {
          "managed-by": "spacelift-role-vending",
          "spacelift:account": "acme",
          "spacelift:stack": "other",
        },
      },
    ],
  ])("refuses to touch a same-named role %s", async (_label, role) => {
    const { roles, process } = await setup();
    roles.seed({ name: ROLE, ...role });
    expect(await process(fixtureBody("stack.create"))).toMatchObject({ result: "dropped" });
    // A role of ours that another stack holds is that stack's: the delete leaves it alone and
    // says so (the previous naming scheme gave stack `foo`'s read role stack `foo-read`'s name);
    // any other role at the name is refused, as it may be someone's by hand.
    const ours = role.tags["spacelift:account"] === "acme" && role.path === "/spacelift/";
    expect(await process(fixtureBody("stack.delete"))).toMatchObject(
      ours
        ? {
            result: "applied",
            outcome: {
              result: "absent",
              skipped: [
                "role spacelift-stack-payments-api belongs to stack other, not to stack payments-api; leaving it untouched",
              ],
            },
          }
        : { result: "dropped" },
    );
    expect(roles.writes().filter((call) => call !== "create")).toEqual([]);
    expect(roles.roles.get(ROLE)?.tags).toEqual(role.tags);
  });

  it("refuses to take over a same-named role on create", async () => {
    const { roles, parameters, process } = await setup();
    roles.seed({ name: ROLE, path: "/spacelift/", tags: {} });
    const outcome = await process(fixtureBody("stack.create"));
    expect(outcome).toMatchObject({ result: "dropped" });
    expect(roles.roles.get(ROLE)?.trustPolicy).toEqual({});
    expect(parameters.parameters.size).toBe(0);
  });
});

describe("processMessage: ordering", () => {
  it("does not let a create delivered after the stack's delete bring the role back", async () => {
    const { roles, parameters, process } = await setup();
    await process(fixtureBody("stack.create")); // t = 1764072000000
    await process(fixtureBody("stack.delete")); // t = 1764074000000
    const late = { ...fixture("stack.create"), timestamp: 1764073000000 };
    const outcome = await process(late);
    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "stale" } });
    expect(roles.roles.has(ROLE)).toBe(false);
    expect(parameters.parameters.has(PARAMETER)).toBe(false);
  });

  it("applies a create newer than the delete (the stack was recreated)", async () => {
    const { roles, process } = await setup();
    await process(fixtureBody("stack.delete"));
    await process({ ...fixture("stack.create"), timestamp: 1764075000000 });
    expect(roles.roles.has(ROLE)).toBe(true);
  });

  it("does not let an older update undo a newer move", async () => {
    const { roles, process } = await setup();
    await process(fixtureBody("stack.create"));
    await process(fixtureBody("stack.update")); // moves to staging
    const older = fixture("stack.update");
    (older.data.args as { Input: { Space: string } }).Input.Space = PRODUCTION_SPACE;
    await process({ ...older, timestamp: 1764072500000 });
    expect(subOf(roles.roles.get(ROLE))).toContain(STAGING_SPACE);
  });
});

describe("processMessage: spaces and bad messages", () => {
  it("gives a space a role every stack of the space can assume", async () => {
    const { roles, parameters, process } = await setup();
    await process(fixtureBody("space.create"));
    const name = "spacelift-space-data-platform-01HPE6H08F8HR8PJR78DPYR3TC";
    expect(subOf(roles.roles.get(name))).toBe("space:data-platform-01HPE6H08F8HR8PJR78DPYR3TC:*");
    expect(roles.roles.get(name)?.tags["spacelift:space"]).toBe(
      "data-platform-01HPE6H08F8HR8PJR78DPYR3TC",
    );
    expect(
      parameters.parameters.has(
        "/spacelift/acme/spaces/data-platform-01HPE6H08F8HR8PJR78DPYR3TC/role-arn",
      ),
    ).toBe(true);
    await process(fixtureBody("space.delete"));
    expect(roles.roles.size).toBe(0);
    expect(parameters.parameters.size).toBe(0);
  });

  it("drops an invalid message without touching AWS", async () => {
    const { roles, process } = await setup();
    const event = fixture("stack.create");
    event.data = { ...event.data, ID: "*" };
    expect(await process(event)).toMatchObject({ result: "dropped", reason: "invalid event" });
    expect(await process("garbage")).toMatchObject({ result: "dropped" });
    expect(roles.calls).toEqual([]);
  });

  it("throws on a transient failure so that only this message is retried", async () => {
    const { roles, process } = await setup();
    roles.create = async () => {
      throw new Error("Throttling: Rate exceeded");
    };
    await expect(process(fixtureBody("stack.create"))).rejects.toThrow("Throttling");
  });

  it("completes a half-done create on retry (role created, attachment failed)", async () => {
    const { roles, parameters, process } = await setup();
    const attach = roles.attachPolicy.bind(roles);
    roles.attachPolicy = async () => {
      throw new Error("ServiceFailure");
    };
    await expect(process(fixtureBody("stack.create"))).rejects.toThrow("ServiceFailure");
    roles.attachPolicy = attach;
    expect(await process(fixtureBody("stack.create"))).toMatchObject({
      outcome: { result: "updated" },
    });
    expect(roles.roles.get(ROLE)?.managedPolicyArns).toEqual([READ_ONLY]);
    expect(parameters.parameters.has(PARAMETER)).toBe(true);
  });
});

describe("processMessage: what out-of-order events know", () => {
  const at = (timestamp: number, event: Record<string, unknown>) => ({ ...event, timestamp });
  const createIn = (space: string) => {
    const event = fixture("stack.create");
    (event.data.args as { Input: { Space: string } }).Input.Space = space;
    return event;
  };
  const updateWithoutSpace = () => {
    const event = fixture("stack.update");
    event.data = { args: { ID: "payments-api", Input: { Description: "no space said" } } };
    return event;
  };
  const moveTo = (space: string) => {
    const event = fixture("stack.update");
    (event.data.args as { Input: { Space: string } }).Input.Space = space;
    return event;
  };

  it("follows a move delivered after a later update that left the space unsaid", async () => {
    const { roles, process } = await setup();
    await process(at(1000, createIn(PRODUCTION_SPACE)));
    await process(at(3000, updateWithoutSpace()));
    const late = await process(at(2000, moveTo(STAGING_SPACE)));
    expect(late).toMatchObject({ outcome: { result: "updated" } });
    expect(subOf(roles.roles.get(ROLE))).toContain(`space:${STAGING_SPACE}:stack:payments-api:`);
  });

  it("puts a recreated stack in the space its (late) create named, not the default", async () => {
    const { roles, process } = await setup();
    await process(at(1000, createIn(PRODUCTION_SPACE)));
    await process(at(2000, fixture("stack.delete")));
    await process(at(4000, updateWithoutSpace()));
    await process(at(3000, createIn(STAGING_SPACE)));
    expect(subOf(roles.roles.get(ROLE))).toContain(`space:${STAGING_SPACE}:stack:payments-api:`);
  });

  it("does not let an older move undo a newer one", async () => {
    const { roles, process } = await setup();
    await process(at(1000, createIn(PRODUCTION_SPACE)));
    await process(at(3000, moveTo(STAGING_SPACE)));
    expect(await process(at(2000, moveTo(PRODUCTION_SPACE)))).toMatchObject({
      outcome: { result: "stale" },
    });
    expect(subOf(roles.roles.get(ROLE))).toContain(`space:${STAGING_SPACE}:`);
  });

  it("keeps ordering after a refusal that came once AWS was changed", async () => {
    const { roles, parameters, process } = await setup();
    // Someone else's parameter squats the stack's name: the create writes the role, then
    // the parameter is refused. A delete older than that create must still not apply.
    parameters.publish = async () => {
      throw new ForeignResourceError("parameter is not ours");
    };
    expect(await process(at(5000, createIn(PRODUCTION_SPACE)))).toMatchObject({
      result: "dropped",
    });
    expect(await process(at(4000, fixture("stack.delete")))).toMatchObject({
      outcome: { result: "stale" },
    });
    expect(roles.roles.has(ROLE)).toBe(true);
  });
});

describe("processMessage after the reconciler repaired a stack", () => {
  it("does not let a late or silent event undo the space Spacelift's API reported", async () => {
    const { deps, roles, ledger, process } = await setup();
    const create = fixture("stack.create");
    await process({ ...create, timestamp: 1000 });
    // The reconciler finds the stack in staging (a move whose webhook was lost) at t=5000.
    const stackId = "payments-api" as StackId;
    const spaceId = STAGING_SPACE as SpaceId;
    await convergeStack({ stackId, spaceId, labels: [] }, deps);
    await recordStackFacts(ledger, { stackId, spaceId, labels: [] }, 5000);
    // A move to production made at t=2000 arrives late; an update at t=6000 names no space.
    const lateMove = fixture("stack.update");
    (lateMove.data.args as { Input: { Space: string } }).Input.Space = PRODUCTION_SPACE;
    await process({ ...lateMove, timestamp: 2000 });
    const silent = fixture("stack.update");
    silent.data = { args: { ID: "payments-api", Input: { Description: "x" } } };
    await process({ ...silent, timestamp: 6000 });
    expect(subOf(roles.roles.get(ROLE))).toContain(`space:${STAGING_SPACE}:stack:payments-api:`);
    expect(ledger.entries.get("stack:payments-api")?.facts?.spaceId).toEqual({
      value: STAGING_SPACE,
      timestamp: 5000,
    });
  });
});

describe("processMessage: an event dated in the future (only a queue sender can write one)", () => {
  // The receiver refuses a signed body dated more than 5 minutes ahead; a synthesized event
  // (reconciler, catch-up) or any other queue sender is not checked there. A tombstone dated
  // year 2100 would make every later event of the stack stale: frozen until someone edits the
  // ledger by hand.
  const NOW = 1764080000000;
  const YEAR_2100 = Date.UTC(2100, 0, 1);

  it("is dropped, and does not freeze the stack: a genuine create later still applies", async () => {
    const { roles, ledger, deps } = await setup();
    const clocked: ProvisionerDeps = { ...deps, now: () => new Date(NOW) };
    const delete2100 = await processMessage(
      JSON.stringify({ ...fixture("stack.delete"), timestamp: YEAR_2100 }),
      clocked,
    );
    const create = await processMessage(
      JSON.stringify({ ...fixture("stack.create"), timestamp: NOW - 1000 }),
      clocked,
    );

    expect(delete2100).toMatchObject({ result: "dropped", reason: "event dated in the future" });
    expect(create).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(roles.roles.has(ROLE)).toBe(true);
    expect((await ledger.get("stack:payments-api"))?.timestamp).toBe(NOW - 1000);
  });

  it("is accepted within the receiver's clock skew (5 minutes ahead)", async () => {
    const { roles, deps } = await setup();
    const clocked: ProvisionerDeps = { ...deps, now: () => new Date(NOW) };

    const outcome = await processMessage(
      JSON.stringify({ ...fixture("stack.create"), timestamp: NOW + 5 * 60_000 }),
      clocked,
    );

    expect(outcome).toMatchObject({ result: "applied", outcome: { result: "created" } });
    expect(roles.roles.has(ROLE)).toBe(true);
  });
});
