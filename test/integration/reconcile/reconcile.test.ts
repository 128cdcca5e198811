/**
 * The reconciler against a real moto_server and the fake Spacelift GraphQL server, composed as
 * the Lambda composes it. Roles are found by their tags (not by guessing names), so these tests
 * hold whatever the role naming is.
 */

import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRolePermissionsBoundaryCommand,
  DetachRolePolicyCommand,
  TagRoleCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { DeleteParameterCommand, PutParameterCommand } from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DynamoDbLedger } from "../../../functions/adapters/dynamodb-ledger.ts";
import { DynamoDbSpacePaths } from "../../../functions/adapters/dynamodb-space-paths.ts";
import { ReconcileIncompleteError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import type { Decision, ReconcileReport } from "../../../functions/core/reconcile/decisions.ts";
import { ORPHANED_AT_TAG } from "../../../functions/core/reconcile/orphans.ts";
import { reconcile } from "../../../functions/core/reconcile/pass.ts";
import { legacyStackRoleNames, stackRoleName } from "../../../functions/core/role-names.ts";
import type { StackFields } from "../../../functions/spacelift/resources.ts";
import { localClientConfig } from "../../../testkit/aws/local-aws.ts";
import { applyQueued } from "../../../testkit/fakes/plan-queue.ts";
import {
  API_KEY_PARAMETER,
  deleteRoleByHand,
  type Harness,
  OIDC_PROVIDER_ARN,
  PRODUCTION,
  READ_ONLY,
  readResource,
  readRole,
  snapshotAws,
  spaceliftRunMayAssume,
  startHarness,
  writeCommands,
} from "../../../testkit/reconcile-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

beforeEach(async () => {
  await h.reset();
});

const T0 = new Date("2026-11-20T12:00:00.000Z");
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);

function listStacks(...stacks: (string | StackFields)[]): void {
  for (const stack of stacks) {
    h.spacelift.state.addStack(
      typeof stack === "string" ? { id: stack, space: "root", labels: [] } : stack,
    );
  }
}

function listProductionSpace(): void {
  h.spacelift.state.addSpace({
    id: PRODUCTION,
    name: "production",
    parentSpace: "root",
    labels: [],
  });
}

/** `action resource outcome`, sorted: the shape of a plan, without the prose. */
function summary(report: ReconcileReport): string[] {
  return report.decisions
    .map(({ action, resource, outcome }) => `${action} ${resource} ${outcome}`)
    .sort();
}

function decisionFor(report: ReconcileReport, resource: string): Decision {
  const decision = report.decisions.find((each) => each.resource === resource);
  if (decision === undefined) throw new Error(`no decision for ${resource}: ${summary(report)}`);
  return decision;
}

async function reconcileAt(
  now: Date,
  options: Omit<NonNullable<Parameters<Harness["deps"]>[0]>, "now"> = {},
): Promise<ReconcileReport> {
  h.commands.length = 0;
  return h.reconcile({ ...options, now });
}

async function rolesOf(stackId: string) {
  return (await readResource(h, "stack", stackId)).roles;
}

describe("reconcile against Spacelift", () => {
  it("creates the roles and parameters of every listed stack and space, then finds them in sync without writing", async () => {
    listProductionSpace();
    listStacks({ id: "payments-api", space: PRODUCTION, labels: ["team:payments"] }, "billing");

    const first = await reconcileAt(T0);

    expect(summary(first)).toEqual([
      `create space:${PRODUCTION} enqueued`,
      "create space:root enqueued",
      "create stack:billing enqueued",
      "create stack:payments-api enqueued",
    ]);
    const payments = await readResource(h, "stack", "payments-api");
    expect(payments.roles.length).toBeGreaterThan(0);
    for (const role of payments.roles) {
      expect(role.tags).toMatchObject({
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": "payments-api",
        "spacelift:space": PRODUCTION,
      });
      expect(Object.values(payments.parameters)).toContain(role.arn);
      expect(
        spaceliftRunMayAssume(role.trustPolicy, { stackId: "payments-api", spaceId: PRODUCTION }),
      ).toBe(true);
      expect(spaceliftRunMayAssume(role.trustPolicy, { stackId: "billing", spaceId: "root" })).toBe(
        false,
      );
    }

    const second = await reconcileAt(T0);

    expect(second.decisions).toEqual([]);
    expect(second.counts).toMatchObject({ spaceliftStacks: 2, spaceliftSpaces: 2, inSync: 4 });
    expect(writeCommands(h.commands)).toEqual([]);
  });

  it("plans an in-sync pass without reading any parameter or tag beyond its inventory", async () => {
    listProductionSpace();
    listStacks({ id: "payments-api", space: PRODUCTION, labels: [] }, "billing");
    await reconcileAt(T0);

    const report = await reconcileAt(T0);

    expect(report.counts.inSync).toBe(4);
    expect(report.counts).toMatchObject({ enqueued: 0, queueCalls: 0 });
    expect(writeCommands(h.commands)).toEqual([]);
    // The one GetParameter left is the Spacelift API key's.
    expect(h.commands.filter((name) => name === "GetParameterCommand")).toHaveLength(1);
    expect(h.commands.filter((name) => name === "ListTagsForResourceCommand")).toHaveLength(0);
  });

  it("plans the re-creation of a parameter deleted by hand without reading it, and the provisioner writes it", async () => {
    listStacks("payments-api");
    await reconcileAt(T0);
    const before = await readResource(h, "stack", "payments-api");
    const [parameter] = Object.keys(before.parameters);
    if (parameter === undefined) throw new Error("no parameter was published");
    await h.ssm.send(new DeleteParameterCommand({ Name: parameter }));
    h.commands.length = 0;

    const report = await reconcile(await h.deps({ now: T0 }));
    const planned = [...h.commands];
    h.commands.length = 0;
    await applyQueued(h.queue, await h.provisionerDeps({ now: T0 }));

    expect(summary(report)).toEqual(["update stack:payments-api enqueued"]);
    expect(decisionFor(report, "stack:payments-api").changes).toEqual(["parameter created"]);
    expect(await readResource(h, "stack", "payments-api")).toEqual(before);
    // Planning: the API key only, no write; applying: one write.
    expect(planned.filter((name) => name === "GetParameterCommand")).toHaveLength(1);
    expect(writeCommands(planned)).toEqual([]);
    expect(writeCommands(h.commands)).toEqual(["PutParameterCommand", "PutItemCommand"]);
  });

  it("repairs a drifted trust policy, tags, boundary, detached policy and parameter value, keeping people's own tags", async () => {
    listProductionSpace();
    listStacks({ id: "payments-api", space: PRODUCTION, labels: [] });
    await reconcileAt(T0);
    const before = await readResource(h, "stack", "payments-api");
    const [role] = before.roles;
    if (role === undefined) throw new Error("no role was created");
    const [parameter] = Object.keys(before.parameters);
    await h.iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: role.name,
        PolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Federated: OIDC_PROVIDER_ARN },
              Action: "sts:AssumeRoleWithWebIdentity",
              Condition: { StringLike: { "acme.app.spacelift.io:sub": "*" } },
            },
          ],
        }),
      }),
    );
    await h.iam.send(new UntagRoleCommand({ RoleName: role.name, TagKeys: ["spacelift:account"] }));
    await h.iam.send(
      new TagRoleCommand({
        RoleName: role.name,
        Tags: [
          { Key: "spacelift:space", Value: "root" },
          { Key: "owner", Value: "alice" },
        ],
      }),
    );
    await h.iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: role.name }));
    for (const arn of role.policies) {
      await h.iam.send(new DetachRolePolicyCommand({ RoleName: role.name, PolicyArn: arn }));
    }
    await h.iam.send(
      new AttachRolePolicyCommand({
        RoleName: role.name,
        PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
      }),
    );
    await h.ssm.send(
      new PutParameterCommand({
        Name: parameter,
        Value: "arn:aws:iam::123456789012:role/spacelift/someone-else",
        Type: "String",
        Overwrite: true,
      }),
    );

    const report = await reconcileAt(T0);

    // The account tag went missing, so the role is no longer recognisably ours: it is not
    // repaired in place, and creating it again finds a role of that name it may not touch.
    expect(summary(report)).toEqual(["create stack:payments-api refused"]);

    await h.iam.send(
      new TagRoleCommand({
        RoleName: role.name,
        Tags: [{ Key: "spacelift:account", Value: "acme" }],
      }),
    );
    const repaired = await reconcileAt(T0);

    expect(summary(repaired)).toEqual(["update stack:payments-api enqueued"]);
    expect(decisionFor(repaired, "stack:payments-api").changes).toEqual(
      expect.arrayContaining([
        "updateTrustPolicy",
        "putPermissionsBoundary arn:aws:iam::123456789012:policy/spacelift-boundary",
        "tag",
        `attachPolicy ${READ_ONLY}`,
        "detachPolicy arn:aws:iam::aws:policy/AdministratorAccess",
        "parameter updated",
      ]),
    );
    const after = await readResource(h, "stack", "payments-api");
    expect(after.parameters).toEqual(before.parameters);
    expect(after.roles).toEqual(
      before.roles.map((each) =>
        each.name === role.name ? { ...each, tags: { ...each.tags, owner: "alice" } } : each,
      ),
    );
  });

  it("recreates a role deleted by hand and points its parameter at it", async () => {
    listStacks("payments-api");
    await reconcileAt(T0);
    const before = await readResource(h, "stack", "payments-api");
    for (const role of before.roles) await deleteRoleByHand(h, role.name);

    const report = await reconcileAt(T0);

    expect(summary(report)).toEqual(["create stack:payments-api enqueued"]);
    expect(decisionFor(report, "stack:payments-api").reason).toMatch(/role is gone/);
    const after = await readResource(h, "stack", "payments-api");
    expect(after.roles.map(({ name }) => name)).toEqual(before.roles.map(({ name }) => name));
    for (const role of after.roles) {
      expect(Object.values(after.parameters)).toContain(role.arn);
      expect(
        spaceliftRunMayAssume(role.trustPolicy, { stackId: "payments-api", spaceId: "root" }),
      ).toBe(true);
    }
  });

  it("revokes an orphan's trust and tags it, holds it through the grace period, then deletes it", async () => {
    listStacks("kept", "gone");
    await reconcileAt(T0);
    const kept = await readResource(h, "stack", "kept");
    const gone = await readResource(h, "stack", "gone");
    h.spacelift.state.removeStack("gone");

    const revoked = await reconcileAt(T0);

    expect(summary(revoked)).toEqual(["revoke stack:gone enqueued"]);
    expect(decisionFor(revoked, "stack:gone").reason).toMatch(
      /no longer lists this stack: trust revoked now, role deleted after 2026-11-23T12:00:00.000Z/,
    );
    for (const role of await rolesOf("gone")) {
      expect(role.tags[ORPHANED_AT_TAG]).toBe(T0.toISOString());
      expect(spaceliftRunMayAssume(role.trustPolicy, { stackId: "gone", spaceId: "root" })).toBe(
        false,
      );
    }

    const held = await reconcileAt(at(71));

    expect(summary(held)).toEqual(["hold stack:gone reported"]);
    expect(writeCommands(h.commands)).toEqual([]);
    expect((await rolesOf("gone")).map(({ name }) => name)).toEqual(
      gone.roles.map(({ name }) => name),
    );

    const deleted = await reconcileAt(at(72));

    expect(summary(deleted)).toEqual(["delete stack:gone enqueued"]);
    expect(await readResource(h, "stack", "gone")).toEqual({ roles: [], parameters: {} });
    expect(await readResource(h, "stack", "kept")).toEqual(kept);
    expect((await reconcileAt(at(73))).decisions).toEqual([]);
  });

  it("restores an orphan whose stack reappears within the grace period: trust back, orphan tag gone", async () => {
    listStacks("flaky");
    await reconcileAt(T0);
    const before = await readResource(h, "stack", "flaky");
    h.spacelift.state.removeStack("flaky");
    await reconcileAt(T0);
    listStacks("flaky");

    const report = await reconcileAt(at(10));

    expect(summary(report)).toEqual(["restore stack:flaky enqueued"]);
    expect(decisionFor(report, "stack:flaky").reason).toMatch(
      /lists this stack again; restoring the trust revoked at 2026-11-20T12:00:00.000Z/,
    );
    expect(await readResource(h, "stack", "flaky")).toEqual(before);
  });

  it("never touches a role of the same name, or under the same path, that lacks our tags", async () => {
    listStacks("squatted");
    await reconcileAt(T0);
    const ours = await readResource(h, "stack", "squatted");
    for (const role of ours.roles) {
      await deleteRoleByHand(h, role.name);
      await h.iam.send(
        new CreateRoleCommand({
          RoleName: role.name,
          Path: "/spacelift/",
          AssumeRolePolicyDocument: JSON.stringify(role.trustPolicy),
          Tags: [{ Key: "managed-by", Value: "someone-else" }],
        }),
      );
    }
    await h.iam.send(
      new CreateRoleCommand({
        RoleName: "spacelift-stack-handmade",
        Path: "/spacelift/",
        AssumeRolePolicyDocument: JSON.stringify(ours.roles[0]?.trustPolicy),
      }),
    );
    const before = await snapshotAws(h);

    const report = await reconcileAt(at(100));

    expect(summary(report)).toEqual(["create stack:squatted refused"]);
    expect(decisionFor(report, "stack:squatted").reason).toMatch(
      /not created by spacelift-role-vending/,
    );
    expect(await snapshotAws(h)).toEqual(before);
  });

  it("refuses to revoke or delete anything when Spacelift answers with no stacks and no spaces", async () => {
    listStacks("a", "b");
    await reconcileAt(T0);
    const before = await snapshotAws(h);
    // An expired token answered as an anonymous caller: empty lists, no error (spacectl#79).
    h.spacelift.unauthorizedResponse = "anonymous";
    h.spacelift.tokenLifetimeSeconds = 0;

    const report = await reconcileAt(at(1000));

    expect(summary(report)).toEqual(["report spacelift:acme refused"]);
    expect(report.decisions[0]?.reason).toMatch(/no stacks and no spaces while 3 resources/);
    expect(writeCommands(h.commands)).toEqual([]);
    expect(await snapshotAws(h)).toEqual(before);
  });

  it("reports and skips a listed stack or space whose ID fails validation, names nothing after it, and never takes a role for an orphan because of it", async () => {
    listStacks("payments-api");
    await reconcileAt(T0);
    const before = await snapshotAws(h);
    // Hostile or drifted answers: a new stack whose ID could act as an IAM wildcard, a space
    // with white space and a `/` in its ID, and the existing stack now listed in a space whose
    // ID fails validation (its role must not look orphaned, even long past the grace period).
    h.spacelift.state.addStack({ id: "evil-*", space: "root", labels: [] });
    h.spacelift.state.addSpace({ id: "prod space/x", name: "x", parentSpace: "root", labels: [] });
    h.spacelift.state.addStack({ id: "payments-api", space: "root:*", labels: [] });

    const report = await reconcileAt(at(1000));

    expect(summary(report)).toEqual([
      "report space:prod space/x reported",
      "report stack:evil-* reported",
      "report stack:payments-api reported",
    ]);
    expect(decisionFor(report, "stack:evil-*").reason).toBe(
      "Spacelift lists a stack or space ID this product cannot use in IAM names and conditions; skipped",
    );
    expect(writeCommands(h.commands)).toEqual([]);
    expect(await snapshotAws(h)).toEqual(before);
  });

  it("leaves alone, and reports, a role with our tags whose spacelift:stack is no valid stack ID, and a parameter named after no valid ID", async () => {
    listStacks("kept");
    await reconcileAt(T0);
    const [kept] = await rolesOf("kept");
    if (kept === undefined) throw new Error("kept has no role");
    const tampered = "spacelift-stack-tampered";
    const { Role } = await h.iam.send(
      new CreateRoleCommand({
        RoleName: tampered,
        Path: "/spacelift/",
        AssumeRolePolicyDocument: JSON.stringify(kept.trustPolicy),
        Tags: Object.entries({ ...kept.tags, "spacelift:stack": "evil-*" }).map(([Key, Value]) => ({
          Key,
          Value,
        })),
      }),
    );
    await h.ssm.send(
      new PutParameterCommand({
        Name: "/spacelift/acme/stacks/EVIL/role-arn",
        Value: Role?.Arn ?? "",
        Type: "String",
      }),
    );
    const before = await snapshotAws(h);

    const report = await reconcileAt(at(1000));

    expect(summary(report)).toEqual([`report role:${tampered} reported`]);
    expect(decisionFor(report, `role:${tampered}`).reason).toMatch(/left untouched/);
    expect(writeCommands(h.commands)).toEqual([]);
    expect(await snapshotAws(h)).toEqual(before);
  });

  it("caps revocations and deletions per run, oldest orphan first, and reports the rest as deferred", async () => {
    listStacks("s1", "s2", "s3", "s4");
    await reconcileAt(T0);
    for (const id of ["s1", "s2", "s3"]) h.spacelift.state.removeStack(id);
    const caps = { settings: { maxRevocationsPerRun: 2, maxDeletionsPerRun: 2 } };

    const first = await reconcileAt(T0, caps);
    const second = await reconcileAt(at(1), caps);
    const third = await reconcileAt(at(72.5), caps);

    expect(summary(first)).toEqual([
      "revoke stack:s1 enqueued",
      "revoke stack:s2 enqueued",
      "revoke stack:s3 deferred",
    ]);
    expect(decisionFor(first, "stack:s3").reason).toMatch(/MAX_REVOCATIONS_PER_RUN=2 reached/);
    expect(summary(second)).toEqual([
      "hold stack:s1 reported",
      "hold stack:s2 reported",
      "revoke stack:s3 enqueued",
    ]);
    expect(summary(third)).toEqual([
      "delete stack:s1 enqueued",
      "delete stack:s2 enqueued",
      "hold stack:s3 reported",
    ]);
    const fourth = await reconcileAt(at(80), { settings: { maxDeletionsPerRun: 0 } });
    expect(summary(fourth)).toEqual(["delete stack:s3 deferred"]);
    expect(decisionFor(fourth, "stack:s3").reason).toMatch(/MAX_DELETIONS_PER_RUN=0 reached/);
    expect((await rolesOf("s3")).length).toBeGreaterThan(0);
    expect(await rolesOf("s1")).toEqual([]);
  });

  it("dry run: lists create, update, revoke and delete with reasons, sends no write, and matches what the real run then does", async () => {
    listStacks("drifted", "steady", "old-orphan", "new-orphan");
    await reconcileAt(T0);
    h.spacelift.state.removeStack("old-orphan");
    await reconcileAt(T0);
    h.spacelift.state.removeStack("new-orphan");
    listStacks("newcomer");
    for (const role of await rolesOf("drifted")) {
      await h.iam.send(new DetachRolePolicyCommand({ RoleName: role.name, PolicyArn: READ_ONLY }));
    }
    const before = await snapshotAws(h);

    const plan = await reconcileAt(at(73), { settings: { dryRun: true } });

    expect(plan.dryRun).toBe(true);
    expect(summary(plan)).toEqual([
      "create stack:newcomer planned",
      "delete stack:old-orphan planned",
      "revoke stack:new-orphan planned",
      "update stack:drifted planned",
    ]);
    expect(decisionFor(plan, "stack:newcomer").reason).toBe(
      "Spacelift lists this stack; it has no role",
    );
    expect(decisionFor(plan, "stack:drifted").changes).toContain(`attachPolicy ${READ_ONLY}`);
    expect(decisionFor(plan, "stack:old-orphan").reason).toMatch(/grace period of 72 h is over/);
    expect(decisionFor(plan, "stack:old-orphan").changes).toEqual(
      expect.arrayContaining([expect.stringMatching(/deleteRole/)]),
    );
    expect(decisionFor(plan, "stack:new-orphan").reason).toMatch(/trust revoked now/);
    expect(h.commands.length).toBeGreaterThan(0);
    expect(writeCommands(h.commands)).toEqual([]);
    expect(await snapshotAws(h)).toEqual(before);

    const applied = await reconcileAt(at(73));

    expect(summary(applied)).toEqual(
      summary(plan).map((line) => line.replace("planned", "enqueued")),
    );
    expect(applied.decisions.map(({ changes }) => changes)).toEqual(
      plan.decisions.map(({ changes }) => changes),
    );
  });
});

describe("reconcile without the Spacelift API key", () => {
  async function breakConsistency() {
    listStacks("unpublished", "roleless", "fine");
    await reconcileAt(T0);
    const unpublished = await readResource(h, "stack", "unpublished");
    for (const name of Object.keys(unpublished.parameters)) {
      await h.ssm.send(new DeleteParameterCommand({ Name: name }));
    }
    const roleless = await readResource(h, "stack", "roleless");
    for (const role of roleless.roles) await deleteRoleByHand(h, role.name);
    // Spacelift would say all three are gone; without the key the reconciler must not know it.
    h.spacelift.state.stacks = [];
    h.spacelift.requests.length = 0;
    return { unpublished, roleless };
  }

  it("republishes a role's missing parameter and reports a parameter without role, without calling Spacelift or deleting", async () => {
    const { unpublished, roleless } = await breakConsistency();

    const report = await reconcileAt(at(1000), { env: { SPACELIFT_API_KEY_PARAMETER: undefined } });

    expect(report.mode).toBe("parameters-only");
    const [rolelessParameter] = Object.keys(roleless.parameters);
    expect(summary(report)).toEqual([
      `report parameter:${rolelessParameter} reported`,
      "report spacelift:acme reported",
      "update stack:unpublished applied",
    ]);
    expect(decisionFor(report, "spacelift:acme").reason).toMatch(
      /SPACELIFT_API_KEY_PARAMETER is not set/,
    );
    expect(decisionFor(report, "stack:unpublished").reason).toMatch(/no parameter holds the ARN/);
    expect(decisionFor(report, `parameter:${rolelessParameter}`).reason).toMatch(
      /parameter without role/,
    );
    expect(h.spacelift.requests).toEqual([]);
    expect(
      h.commands.filter((name) => /^Delete|UpdateAssumeRolePolicy|CreateRole/.test(name)),
    ).toEqual([]);
    expect(await readResource(h, "stack", "unpublished")).toEqual(unpublished);
    expect(await readResource(h, "stack", "roleless")).toEqual({
      roles: [],
      parameters: roleless.parameters,
    });
  });

  it("runs the same check when the API key parameter is configured but does not exist", async () => {
    await breakConsistency();

    const report = await reconcileAt(at(1000), {
      env: { SPACELIFT_API_KEY_PARAMETER: "/spacelift/acme/missing-api-key" },
    });

    expect(report.mode).toBe("parameters-only");
    expect(decisionFor(report, "spacelift:acme")).toMatchObject({
      outcome: "reported",
      reason: expect.stringMatching(/\/spacelift\/acme\/missing-api-key does not exist/),
    });
    expect(decisionFor(report, "stack:unpublished").outcome).toBe("applied");
    expect(h.spacelift.requests).toEqual([]);
  });

  it("reports a malformed API key parameter as a failure, without echoing its value, and still checks parameters", async () => {
    await breakConsistency();
    const secret = "this-is-the-secret-value";
    await h.ssm.send(
      new PutParameterCommand({
        Name: API_KEY_PARAMETER,
        Type: "SecureString",
        Value: `id=foo secret=${secret}`,
        Overwrite: true,
      }),
    );

    const report = await reconcileAt(at(1000));

    expect(report.mode).toBe("parameters-only");
    const failure = decisionFor(report, "spacelift:acme");
    expect(failure.outcome).toBe("failed");
    expect(failure.reason).toMatch(/must hold \{"id"/);
    expect(JSON.stringify(report)).not.toContain(secret);
    expect(decisionFor(report, "stack:unpublished").outcome).toBe("applied");
  });
});

describe("the scheduled handler", () => {
  it("reconciles with the environment it is deployed with, and fails the invocation when a safety rule refused", async () => {
    listStacks("from-handler");
    Object.assign(process.env, h.env);
    const { handler } = await import("../../../functions/reconciler.ts");
    const context = { functionName: "reconciler", awsRequestId: "test" } as Context;

    const summaryOfRun = await handler({}, context);
    await applyQueued(h.queue, await h.provisionerDeps());

    expect(summaryOfRun).toMatchObject({
      account: "acme",
      mode: "spacelift",
      dryRun: false,
      decisions: { "create:enqueued": 2 },
      failed: 0,
      refused: 0,
    });
    expect((await rolesOf("from-handler")).length).toBeGreaterThan(0);

    h.spacelift.unauthorizedResponse = "anonymous";
    h.spacelift.tokenLifetimeSeconds = 0;
    await expect(handler({}, context)).rejects.toBeInstanceOf(ReconcileIncompleteError);
    expect((await rolesOf("from-handler")).length).toBeGreaterThan(0);
  });
});

describe("reconcile with the account's role shapes", () => {
  it("revokes, holds and deletes a stack's read and write roles (read/write split) together", async () => {
    const env = {
      DEFAULT_POLICY_ARNS: undefined,
      PERMISSIONS_CONFIG: JSON.stringify({
        readWriteSplit: true,
        default: {
          managedPolicyArns: ["arn:aws:iam::aws:policy/PowerUserAccess"],
          read: { managedPolicyArns: [READ_ONLY] },
        },
      }),
    };
    listStacks("split");
    await reconcileAt(T0, { env });
    const created = await readResource(h, "stack", "split");
    expect(created.roles).toHaveLength(2);
    expect(Object.values(created.parameters).sort()).toEqual(
      created.roles.map(({ arn }) => arn).sort(),
    );
    h.spacelift.state.removeStack("split");

    const revoked = await reconcileAt(T0, { env });
    const held = await reconcileAt(at(24), { env });
    const roles = await rolesOf("split");
    const deleted = await reconcileAt(at(72), { env });

    expect(summary(revoked)).toEqual(["revoke stack:split enqueued"]);
    expect(summary(held)).toEqual(["hold stack:split reported"]);
    expect(roles).toHaveLength(2);
    for (const role of roles) {
      expect(role.tags[ORPHANED_AT_TAG]).toBe(T0.toISOString());
      expect(spaceliftRunMayAssume(role.trustPolicy, { stackId: "split", spaceId: "root" })).toBe(
        false,
      );
    }
    expect(summary(deleted)).toEqual(["delete stack:split enqueued"]);
    expect(await readResource(h, "stack", "split")).toEqual({ roles: [], parameters: {} });
  });

  it("makes the provisioner's ledger stop vouching for the other shape before it creates a stack's roles of a switched shape", async () => {
    const table = "shape-ledger";
    await createLedgerTable(table);
    const unsplit = { LEDGER_TABLE: table };
    const split = {
      ...unsplit,
      DEFAULT_POLICY_ARNS: undefined,
      PERMISSIONS_CONFIG: JSON.stringify({
        readWriteSplit: true,
        default: {
          managedPolicyArns: ["arn:aws:iam::aws:policy/PowerUserAccess"],
          read: { managedPolicyArns: [READ_ONLY] },
        },
      }),
    };
    listStacks("payments-api");
    await reconcileAt(T0, { env: unsplit });
    const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
    const ledger = new DynamoDbLedger(dynamodb, table);
    const entry = await ledger.get("stack:payments-api");
    if (entry === undefined) throw new Error("the reconciler recorded no facts");
    // The provisioner's next event found nothing of the split and vouched for it.
    await ledger.record({ ...entry, shape: "unsplit" });

    const inSync = await reconcileAt(T0, { env: unsplit });
    const stillVouched = await ledger.get("stack:payments-api");
    const switched = await reconcileAt(T0, { env: split });
    const after = await ledger.get("stack:payments-api");
    dynamodb.destroy();

    expect(inSync.decisions).toEqual([]);
    expect(stillVouched?.shape).toBe("unsplit");
    expect(summary(switched)).toContain("create stack:payments-api enqueued");
    expect(
      (await rolesOf("payments-api")).map(({ tags }) => tags["spacelift:scope"]).sort(),
    ).toEqual(["read", "write"]);
    // The provisioner applied the plan: it removed the unsplit role, then vouched for the split.
    expect(after).toEqual({ ...entry, shape: "split" });
  });

  it("renders {spacePath} trust from the space names and parents Spacelift lists, and records them for the provisioner", async () => {
    const table = "reconciler-ledger";
    await createLedgerTable(table);
    const env = {
      SUBJECT_TEMPLATE:
        "space:{spaceId}:path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
      LEDGER_TABLE: table,
    };
    listProductionSpace();
    listStacks({ id: "payments-api", space: PRODUCTION, labels: [] });

    const plan = await reconcileAt(T0, { env, settings: { dryRun: true } });
    const planWrites = writeCommands(h.commands);
    const report = await reconcileAt(T0, { env });

    expect(summary(plan)).toContain("create stack:payments-api planned");
    expect(planWrites).toEqual([]);
    expect(summary(report)).toContain("create stack:payments-api enqueued");
    const [role] = await rolesOf("payments-api");
    if (role === undefined) throw new Error("no role was created");
    expect(
      // The helper renders the default template, so its `spaceId` carries the ID and the path.
      spaceliftRunMayAssume(role.trustPolicy, {
        stackId: "payments-api",
        spaceId: `${PRODUCTION}:path:/root/production`,
      }),
    ).toBe(true);
    expect(
      spaceliftRunMayAssume(role.trustPolicy, {
        stackId: "payments-api",
        spaceId: `${PRODUCTION}:path:/root`,
      }),
    ).toBe(false);
    const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
    expect(await new DynamoDbSpacePaths(dynamodb, table).get(PRODUCTION as SpaceId)).toEqual({
      spaceId: PRODUCTION,
      name: "production",
      parentSpaceId: "root",
    });
    dynamodb.destroy();
  });
});

async function createLedgerTable(name: string): Promise<void> {
  const dynamodb = new DynamoDBClient(localClientConfig(h.moto.endpoint));
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "resource", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "resource", KeyType: "HASH" }],
    }),
  );
  dynamodb.destroy();
}

describe("reconcile with roles named under the previous scheme, or held by another resource", () => {
  const LONG = `${"payments-platform-".repeat(5)}api`;
  /** A role of ours for a stack in the root space, as an earlier version created (and published) it. */
  async function createOurStackRole(
    name: string,
    stackId: string,
    options = { publish: true },
  ): Promise<string> {
    const created = await h.iam.send(
      new CreateRoleCommand({
        RoleName: name,
        Path: "/spacelift/",
        AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
        Tags: [
          { Key: "managed-by", Value: "spacelift-role-vending" },
          { Key: "spacelift:account", Value: "acme" },
          { Key: "spacelift:stack", Value: stackId },
          { Key: "spacelift:space", Value: "root" },
        ],
      }),
    );
    await h.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: READ_ONLY }));
    const arn = created.Role?.Arn ?? "";
    if (!options.publish) return arn;
    await h.ssm.send(
      new PutParameterCommand({
        Name: `/spacelift/acme/stacks/${stackId}/role-arn`,
        Type: "String",
        Value: arn,
        Tags: [{ Key: "managed-by", Value: "spacelift-role-vending" }],
      }),
    );
    return arn;
  }

  it("replaces a listed stack's role named under the previous scheme, and deletes an orphan's after the grace period", async () => {
    const config = (await h.deps()).config;
    const [legacyName = ""] = legacyStackRoleNames(config, LONG as StackId);
    const [orphanName = ""] = legacyStackRoleNames(config, `${LONG}-gone` as StackId);
    await createOurStackRole(legacyName, LONG);
    await createOurStackRole(orphanName, `${LONG}-gone`);
    listStacks(LONG);

    const report = await reconcileAt(T0);

    expect(summary(report)).toEqual([
      "create space:root enqueued",
      `create stack:${LONG} enqueued`,
      `revoke stack:${LONG}-gone enqueued`,
    ]);
    const migrated = await readResource(h, "stack", LONG);
    expect(migrated.roles.map(({ name }) => name)).toEqual([
      stackRoleName(config, LONG as StackId),
    ]);
    expect(migrated.parameters).toEqual({
      [`/spacelift/acme/stacks/${LONG}/role-arn`]: migrated.roles[0]?.arn,
    });
    expect(decisionFor(report, `stack:${LONG}`).changes).toContain(`${legacyName}: deleteRole`);
    expect((await reconcileAt(T0)).decisions.map(({ action }) => action)).toEqual(["hold"]);

    await reconcileAt(at(72));
    expect(await readResource(h, "stack", `${LONG}-gone`)).toEqual({ roles: [], parameters: {} });
  });

  it("refuses a stack whose name another stack's old role holds, renames that role, and creates the stack's on the next pass", async () => {
    const config = (await h.deps()).config;
    const [legacyName = ""] = legacyStackRoleNames(config, LONG as StackId);
    const squatter = legacyName.slice("spacelift-stack-".length);
    await createOurStackRole(legacyName, LONG);
    listStacks(squatter, LONG);

    const first = await reconcileAt(T0, { settings: { concurrency: 1 } });

    expect(summary(first)).toEqual([
      "create space:root enqueued",
      `create stack:${squatter} refused`,
      `create stack:${LONG} enqueued`,
    ]);
    expect(decisionFor(first, `stack:${squatter}`).reason).toMatch(
      `role ${legacyName} belongs to stack ${LONG}, not to stack ${squatter}`,
    );
    const second = await reconcileAt(T0, { settings: { concurrency: 1 } });
    expect(summary(second)).toEqual([`create stack:${squatter} enqueued`]);
    expect((await rolesOf(squatter)).map(({ name }) => name)).toEqual([legacyName]);
    expect((await rolesOf(LONG)).map(({ name }) => name)).toEqual([
      stackRoleName(config, LONG as StackId),
    ]);
  });

  it("deletes an orphan's roles found by their tags even when a role at its name is someone else's", async () => {
    const config = (await h.deps()).config;
    // Its roles under the earlier scheme's name and under a name no scheme gives (found by their
    // tags only), and a hand-made role at its name today.
    await createOurStackRole("spacelift-stack-gone-write", "gone");
    await createOurStackRole("spacelift-stack-gone-2024", "gone", { publish: false });
    await h.iam.send(
      new CreateRoleCommand({
        RoleName: stackRoleName(config, "gone" as StackId),
        Path: "/spacelift/",
        AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
        Tags: [{ Key: "team", Value: "platform" }],
      }),
    );
    listStacks("kept");

    await reconcileAt(T0);
    const report = await reconcileAt(at(72));

    expect(summary(report)).toEqual(["delete stack:gone refused"]);
    expect(await rolesOf("gone")).toEqual([]);
    expect(await readRole(h, stackRoleName(config, "gone" as StackId))).toMatchObject({
      tags: { team: "platform" },
    });
  });
});
