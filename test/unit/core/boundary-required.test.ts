/**
 * The provisioner and the reconciler refuse to start without a permissions boundary: without
 * one, whoever runs as the provisioner can create a role with any inline policy. Only the
 * explicit UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY=true lets them start, and it is logged.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { ConfigurationError } from "../../../functions/core/errors.ts";
import type { StackId } from "../../../functions/core/identifiers.ts";
import { removeStack } from "../../../functions/core/remove.ts";
import { InMemoryParameterStore, InMemoryRoleStore } from "../../../testkit/fakes/in-memory.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-role-vending/boundary";
const ENV = { SPACELIFT_HOSTNAME: SPACELIFT_HOST, AWS_ACCOUNT_ID: "123456789012" };
const noFile = (): string => {
  throw new Error("no file expected");
};

describe("the permissions boundary at start", () => {
  it("is required: no boundary and no opt-out fails naming PERMISSIONS_BOUNDARY_ARN", async () => {
    const warnings: string[] = [];

    const loading = loadVendingConfig(ENV, noFile, (message) => warnings.push(message));

    await expect(loading).rejects.toThrow(ConfigurationError);
    await expect(loading).rejects.toThrow(/PERMISSIONS_BOUNDARY_ARN: required/);
    expect(warnings).toEqual([]);
  });

  it("is required even when the opt-out says anything but true", async () => {
    const loading = loadVendingConfig({ ...ENV, UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "false" });

    await expect(loading).rejects.toThrow(/PERMISSIONS_BOUNDARY_ARN: required/);
    await expect(
      loadVendingConfig({ ...ENV, UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "yes" }),
    ).rejects.toThrow(/UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY/);
  });

  it("may come from the permissions file instead of the environment", async () => {
    const config = await loadVendingConfig({
      ...ENV,
      PERMISSIONS_CONFIG: JSON.stringify({ version: 1, permissionsBoundaryArn: BOUNDARY }),
    });

    expect(config.permissions?.permissionsBoundaryArn).toBe(BOUNDARY);
  });

  it("starts with a boundary and warns of nothing", async () => {
    const warnings: string[] = [];

    const config = await loadVendingConfig(
      { ...ENV, PERMISSIONS_BOUNDARY_ARN: BOUNDARY },
      noFile,
      (message) => warnings.push(message),
    );

    expect(config.permissionsBoundaryArn).toBe(BOUNDARY);
    expect(warnings).toEqual([]);
  });

  it("starts without one only with UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY=true, and logs it as unsafe", async () => {
    const warnings: string[] = [];

    const config = await loadVendingConfig(
      { ...ENV, UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true" },
      noFile,
      (message) => warnings.push(message),
    );

    expect(config.permissionsBoundaryArn).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^UNSAFE: .*no permissions boundary/);
  });
});

describe("removing a role that lost its boundary", () => {
  it("puts the boundary back before anything else, as the provisioner's IAM policy requires", async () => {
    const config = await loadVendingConfig({ ...ENV, PERMISSIONS_BOUNDARY_ARN: BOUNDARY });
    const roles = new InMemoryRoleStore();
    const name = "spacelift-stack-payments-api";
    roles.seed({
      name,
      path: "/spacelift/",
      permissionsBoundaryArn: undefined,
      managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
      inlinePolicies: { extra: { Version: "2012-10-17", Statement: [] } },
      tags: {
        "managed-by": "spacelift-role-vending",
        "spacelift:account": "acme",
        "spacelift:stack": "payments-api",
      },
    });

    await removeStack("payments-api" as StackId, {
      config,
      roles,
      parameters: new InMemoryParameterStore(),
    });

    expect(roles.writes()).toEqual([
      "putPermissionsBoundary",
      "detachPolicy",
      "deleteInlinePolicy",
      "delete",
    ]);
    expect(roles.roles.has(name)).toBe(false);
  });
});
