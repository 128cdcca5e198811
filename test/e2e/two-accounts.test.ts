/**
 * End to end with two AWS accounts: `npm start`'s program in a child process (its own
 * moto_server, receiver on HTTP, queue poller, provisioner) with a permissions file that routes
 * the production spaces to 222222222222; driven only through signed HTTP webhooks, asserted by
 * reading both accounts through the SDK (moto keeps per-account state; AssumeRole into an
 * account's role returns credentials acting there).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountClients,
  clientsInAccount,
  eventually,
  readParameter,
  readRole,
  testClients,
} from "../../testkit/aws/clients.ts";
import { type LocalRun, startLocalRun } from "../../testkit/e2e-harness.ts";
import { auditEvent } from "../../testkit/spacelift/events.ts";
import {
  PRODUCTION_SPACE,
  SPACELIFT_HOST,
  STAGING_SPACE,
} from "../../testkit/spacelift/fixtures.ts";

const TARGET = "222222222222";
const TARGET_BOUNDARY = `arn:aws:iam::${TARGET}:policy/spacelift-boundary`;
const STACK = "two-accounts";
const ROLE = `spacelift-stack-${STACK}`;
const PARAMETER = `/spacelift/acme/stacks/${STACK}/role-arn`;

let run: LocalRun;
let service: ReturnType<typeof testClients>;
let target: AccountClients;

beforeAll(async () => {
  run = await startLocalRun({
    env: {
      PERMISSIONS_CONFIG: JSON.stringify({
        accounts: [
          {
            id: TARGET,
            vendingRoleArn: `arn:aws:iam::${TARGET}:role/spacelift-vending`,
            spaces: ["production-*"],
            permissionsBoundaryArn: TARGET_BOUNDARY,
          },
        ],
        default: { managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] },
      }),
    },
  });
  service = testClients(run.endpoint);
  target = await clientsInAccount(run.endpoint, TARGET);
});

afterAll(async () => {
  target?.close();
  await run?.close();
});

const send = (action: "stack.create" | "stack.update" | "stack.delete", space?: string) =>
  run.send(
    auditEvent(action, {
      account: "acme",
      stack: STACK,
      ...(space !== undefined && { space }),
      timestamp: Date.now(),
    }),
  );

/** Both accounts' role and parameter, read at once. */
const accountsState = async () => ({
  targetRole: await readRole(target.iam, ROLE),
  serviceRole: await readRole(service.iam, ROLE),
  serviceParameter: (await readParameter(service.ssm, PARAMETER))?.value,
  targetParameter: (await readParameter(target.ssm, PARAMETER))?.value,
});

describe("npm start with two AWS accounts, over HTTP", () => {
  it("creates, moves between accounts and deletes a stack's role from signed webhooks", async () => {
    // Create in a production space: the role appears in 222222222222, trusted by its provider.
    // Each step waits for its last write (the provisioner works on after the role appears).
    expect((await send("stack.create", PRODUCTION_SPACE)).status).toBe(202);
    const afterCreate = await eventually(accountsState, (state) =>
      [state.serviceParameter, state.targetParameter].every(
        (value) => value !== undefined && value === state.targetRole?.arn,
      ),
    );
    const created = afterCreate.targetRole;
    expect(created?.arn).toBe(`arn:aws:iam::${TARGET}:role/spacelift/${ROLE}`);
    expect(created?.boundary).toBe(TARGET_BOUNDARY);
    expect(created?.trust.Statement[0].Principal.Federated).toBe(
      `arn:aws:iam::${TARGET}:oidc-provider/${SPACELIFT_HOST}`,
    );
    expect(afterCreate.serviceParameter).toBe(created?.arn);
    expect(afterCreate.targetParameter).toBe(created?.arn);
    expect(afterCreate.serviceRole).toBeUndefined();

    // Move to staging: the role moves to the service's account, the target's copy goes.
    expect((await send("stack.update", STAGING_SPACE)).status).toBe(202);
    const afterMove = await eventually(
      accountsState,
      (state) =>
        state.targetRole === undefined &&
        state.targetParameter === undefined &&
        state.serviceRole !== undefined &&
        state.serviceParameter === state.serviceRole.arn,
    );
    expect(afterMove.serviceRole?.arn).toBe(`arn:aws:iam::123456789012:role/spacelift/${ROLE}`);
    expect(afterMove.serviceParameter).toBe(afterMove.serviceRole?.arn);

    // Delete: nothing left in either account.
    expect((await send("stack.delete")).status).toBe(202);
    expect(
      await eventually(accountsState, (state) =>
        Object.values(state).every((value) => value === undefined),
      ),
    ).toEqual({
      targetRole: undefined,
      serviceRole: undefined,
      serviceParameter: undefined,
      targetParameter: undefined,
    });
  });
});
