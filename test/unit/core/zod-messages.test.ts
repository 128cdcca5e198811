/**
 * zod/mini writes its own messages ("Invalid input: expected …") only in a locale it is given;
 * functions/core/zod-locale.ts gives it English. Those messages reach operators (configuration
 * errors, permissions files) and webhook senders (a 400's reason), so they are pinned here,
 * through each module that declares a schema and lets zod's words out.
 */
import { describe, expect, it } from "vitest";
import { parseAuditEvent } from "../../../functions/core/audit-event.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { ConfigurationError, InvalidEventError } from "../../../functions/core/errors.ts";
import type { SpaceId } from "../../../functions/core/identifiers.ts";
import { parsePermissionsConfig } from "../../../functions/core/permissions-file.ts";
import { loadReceiverConfig } from "../../../functions/core/receiver-config.ts";
import { loadReconcilerConfig } from "../../../functions/core/reconcile/settings.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const account = { SPACELIFT_HOSTNAME: SPACELIFT_HOST, AWS_ACCOUNT_ID: "123456789012" };

describe("zod's own messages", () => {
  it("name a missing variable's problem in English", async () => {
    await expect(
      loadVendingConfig({ SPACELIFT_HOSTNAME: account.SPACELIFT_HOSTNAME }),
    ).rejects.toThrow(
      new ConfigurationError(
        "invalid configuration: AWS_ACCOUNT_ID: Invalid input: expected string, received undefined",
      ),
    );
  });

  it("name a number out of range or not whole", async () => {
    await expect(loadVendingConfig({ ...account, MAX_SESSION_DURATION: "60" })).rejects.toThrow(
      "invalid configuration: MAX_SESSION_DURATION: Too small: expected number to be >=3600",
    );
    expect(() => loadReconcilerConfig({ MAX_DELETIONS_PER_RUN: "2.5" })).toThrow(
      "invalid configuration: MAX_DELETIONS_PER_RUN: Invalid input: expected int, received number",
    );
  });

  it("name a value outside an enumeration and a string too short", () => {
    expect(() => loadReconcilerConfig({ RECONCILE_DRY_RUN: "yes" })).toThrow(
      'invalid configuration: RECONCILE_DRY_RUN: Invalid option: expected one of "0"|"1"|"true"|"false"',
    );
    expect(() =>
      loadReceiverConfig({
        QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/events.fifo",
        SPACELIFT_WEBHOOK_SECRET: "0123456789abcdef",
        SPACELIFT_WEBHOOK_SECRET_PREVIOUS: "short",
      }),
    ).toThrow(
      "invalid configuration: SPACELIFT_WEBHOOK_SECRET_PREVIOUS: Too small: expected string to have >=16 characters",
    );
  });

  it("name a permissions setting of the wrong type", async () => {
    await expect(parsePermissionsConfig("readWriteSplit: yes", "permissions.yaml")).rejects.toThrow(
      "invalid permissions configuration (permissions.yaml): readWriteSplit: Invalid input: expected boolean, received string",
    );
  });

  it("say why a webhook body is not an audit-trail event", () => {
    const body = JSON.stringify({ account: "acme", action: "stack.create", timestamp: "now" });

    expect(() =>
      parseAuditEvent(body, { account: "acme", defaultSpaceId: "root" as SpaceId }),
    ).toThrow(
      new InvalidEventError(
        "not an audit-trail event: timestamp: Invalid input: expected number, received string",
      ),
    );
  });
});
