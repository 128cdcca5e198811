/**
 * Events with the same timestamp as the last one applied to a resource. The same event
 * delivered again is applied again and changes nothing; an event of that millisecond that
 * would bring back a resource deleted at it is skipped, so a tie never leaves a role behind
 * its stack. In-memory IAM, SSM and ledger, through processMessage.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { processMessage } from "../../../functions/core/process-queue-message.ts";
import { inMemoryProvisionerDeps } from "../../../testkit/fakes/in-memory-provisioner.ts";
import { auditEvent, type ResourceAction } from "../../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";
const T = Date.UTC(2026, 11, 6, 9, 0, 0);
const ROLE = "spacelift-stack-payments-api";

async function setup() {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
    AWS_ACCOUNT_ID: "123456789012",
  });
  const { roles, ledger, deps } = inMemoryProvisionerDeps(config);
  const body = (action: ResourceAction, space: string | undefined, at: number) =>
    JSON.stringify(
      auditEvent(action, {
        account: "acme",
        stack: "payments-api",
        ...(space !== undefined && { space }),
        timestamp: at,
      }),
    );
  const send = (text: string) => processMessage(text, deps);
  return { roles, ledger, body, send };
}

describe("an event with the timestamp of the last one applied", () => {
  it("does not bring back a stack deleted at that millisecond", async () => {
    const { roles, ledger, body, send } = await setup();
    const create = body("stack.create", PROD, T);
    await send(create);
    await send(body("stack.delete", undefined, T));
    expect(roles.roles.has(ROLE)).toBe(false);

    const redelivered = await send(create);
    const update = await send(body("stack.update", PROD, T));

    expect(redelivered).toMatchObject({ result: "applied", outcome: { result: "stale" } });
    expect(update).toMatchObject({ outcome: { result: "stale" } });
    expect(roles.roles.has(ROLE)).toBe(false);
    expect(ledger.entries.get("stack:payments-api")).toMatchObject({
      timestamp: T,
      state: "deleted",
    });
  });

  it("is applied again when it is the same event: nothing changes, nothing is written", async () => {
    const { roles, body, send } = await setup();
    const create = body("stack.create", PROD, T);
    await send(create);
    const writes = roles.writes().length;

    const again = await send(create);

    expect(again).toMatchObject({ result: "applied", outcome: { result: "unchanged" } });
    expect(roles.writes()).toHaveLength(writes);
    expect(roles.roles.has(ROLE)).toBe(true);
  });

  it("deletes when it is a stack.delete of the same millisecond as the create (deletion wins a tie)", async () => {
    const { roles, body, send } = await setup();
    await send(body("stack.create", PROD, T));

    const deleted = await send(body("stack.delete", undefined, T));
    const again = await send(body("stack.delete", undefined, T));

    expect(deleted).toMatchObject({ outcome: { result: "deleted" } });
    expect(again).toMatchObject({ outcome: { result: "absent" } });
    expect(roles.roles.has(ROLE)).toBe(false);
  });

  it("does not move a stack to the space another update of that millisecond named", async () => {
    // The first update applied names production; a different one of the same ms names staging.
    const { roles, body, send } = await setup();
    await send(body("stack.create", PROD, T - 1));
    await send(body("stack.update", PROD, T));

    await send(body("stack.update", STAGING, T));

    expect(roles.roles.get(ROLE)?.tags["spacelift:space"]).toBe(PROD);
  });
});
