import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../functions/core/config.ts";
import { PolicyRenderError } from "../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import type { PolicyDocument, RoleSpec } from "../../functions/core/ports.ts";
import {
  assertRoleSpec,
  assertTrustPolicy,
  fitRoleName,
  IAM_LIMITS,
  policySize,
  renderTrustPolicy,
  spaceBinding,
  stackBindings,
  stackParameterName,
  stackRoleName,
  stackRoleNames,
  type VendingConfig,
} from "../../functions/core/role-spec.ts";
import { SpacePathUnknownError } from "../../functions/core/subject.ts";

const HOST = "acme.app.spacelift.io";
const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const PAYMENTS = "payments-api" as StackId;
const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-boundary";
const PROVIDER = `arn:aws:iam::123456789012:oidc-provider/${HOST}`;
const SEGMENTS = [PROD, "stack", PAYMENTS];

function configWith(env: Record<string, string> = {}): Promise<VendingConfig> {
  return loadVendingConfig({
    SPACELIFT_HOSTNAME: HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    ...env,
  });
}

const stack = { stackId: PAYMENTS, spaceId: PROD, labels: [] };

/** A trust statement as the core renders it, to be broken one way at a time. */
function statement(condition: Record<string, Record<string, unknown>>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: PROVIDER },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: condition,
      },
    ],
  };
}

describe("role names", () => {
  it("keeps the -read/-write suffix visible when a long name is cut to 64 characters", () => {
    const long = "a".repeat(80);
    const write = fitRoleName(`spacelift-stack-${long}`, "-write");
    const read = fitRoleName(`spacelift-stack-${long}`, "-read");

    expect(write).toHaveLength(IAM_LIMITS.roleName);
    expect(read.length).toBeLessThanOrEqual(IAM_LIMITS.roleName);
    expect(write.endsWith("-write")).toBe(true);
    expect(read.endsWith("-read")).toBe(true);
    expect(write.slice(0, -6)).not.toBe(read.slice(0, -5));
  });

  it("names the split's roles and parameters apart from the unsplit role's", async () => {
    const config = await configWith();

    expect(stackRoleNames(config, PAYMENTS)).toEqual([
      "spacelift-stack-payments-api",
      "spacelift-stack-payments-api-write",
      "spacelift-stack-payments-api-read",
    ]);
    expect(stackParameterName(config, PAYMENTS, "write")).toBe(
      "/spacelift/acme/stacks/payments-api/role-arn",
    );
    expect(stackParameterName(config, PAYMENTS, "read")).toBe(
      "/spacelift/acme/stacks/payments-api/read-role-arn",
    );
  });

  it("gives each stack a valid role name of at most 64 characters in every shape", async () => {
    const config = await configWith({ ROLE_NAME_PREFIX: "x".repeat(40) });
    const stackId = "s".repeat(128) as StackId;

    for (const name of stackRoleNames(config, stackId)) {
      expect(name.length).toBeLessThanOrEqual(64);
      expect(name).toMatch(/^[\w+=,.@-]+$/);
    }
    expect(new Set(stackRoleNames(config, stackId)).size).toBe(3);
    expect(stackRoleName(config, stackId, "read")).not.toBe(
      stackRoleName(config, stackId, "write"),
    );
  });

  it("with the split, gives a stack a write role for role-arn and a read role for read-role-arn", async () => {
    const bindings = stackBindings(
      await configWith({ PERMISSIONS_CONFIG: "readWriteSplit: true" }),
      stack,
    );

    expect(
      bindings.map((binding) => [binding.scope, binding.role.name, binding.parameterName]),
    ).toEqual([
      [
        "write",
        "spacelift-stack-payments-api-write",
        "/spacelift/acme/stacks/payments-api/role-arn",
      ],
      [
        "read",
        "spacelift-stack-payments-api-read",
        "/spacelift/acme/stacks/payments-api/read-role-arn",
      ],
    ]);
  });
});

const defaultConfig = await configWith();

describe("refusals: trust policies", () => {
  const config = defaultConfig;

  it("accepts what the core renders", () => {
    expect(() =>
      assertTrustPolicy(
        config,
        renderTrustPolicy(config, `space:${PROD}:stack:${PAYMENTS}:run_type:*:scope:*`),
        SEGMENTS,
      ),
    ).not.toThrow();
  });

  it.each([
    [
      "no aud condition",
      statement({ StringLike: { [`${HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*` } }),
      /no StringEquals acme.app.spacelift.io:aud/,
    ],
    [
      "an aud with a wildcard",
      statement({
        StringEquals: { [`${HOST}:aud`]: "*" },
        StringLike: { [`${HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*` },
      }),
      /aud condition/,
    ],
    [
      "aud matched with StringLike only",
      statement({
        StringLike: { [`${HOST}:aud`]: HOST, [`${HOST}:sub`]: `space:${PROD}:stack:${PAYMENTS}:*` },
      }),
      /aud condition/,
    ],
    [
      "no sub condition",
      statement({ StringEquals: { [`${HOST}:aud`]: HOST } }),
      /no acme.app.spacelift.io:sub condition/,
    ],
    [
      "a wildcard inside the stack segment",
      statement({
        StringEquals: { [`${HOST}:aud`]: HOST },
        StringLike: { [`${HOST}:sub`]: `space:${PROD}:stack:payments-*:*` },
      }),
      /wildcard inside a segment/,
    ],
    [
      "a wildcard inside the space segment",
      statement({
        StringEquals: { [`${HOST}:aud`]: HOST },
        StringLike: { [`${HOST}:sub`]: `space:production-*:stack:${PAYMENTS}:*` },
      }),
      /wildcard inside a segment/,
    ],
    [
      "a sub that does not pin the stack",
      statement({
        StringEquals: { [`${HOST}:aud`]: HOST },
        StringLike: { [`${HOST}:sub`]: `space:${PROD}:*` },
      }),
      /does not pin "stack"/,
    ],
  ])("refuses a trust policy with %s", (_, document, message) => {
    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(PolicyRenderError);
    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(message);
  });

  it("refuses a trust policy that trusts anyone but the Spacelift OIDC provider", () => {
    const document = renderTrustPolicy(
      { ...config, oidcProviderArn: "arn:aws:iam::123456789012:root" },
      `space:${PROD}:stack:${PAYMENTS}:*`,
    );

    expect(() => assertTrustPolicy(config, document, SEGMENTS)).toThrow(
      "trust policy must trust exactly the Spacelift OIDC provider",
    );
  });

  it("refuses a trust policy over IAM's 2048-character quota before any AWS call", async () => {
    const longName = "n".repeat(120);
    const config = await configWith({
      SUBJECT_TEMPLATE:
        "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
      PERMISSIONS_CONFIG: "sessionTagging: true",
    });
    const spacePath = `/root/${Array.from({ length: 6 }, () => longName).join("/")}`;

    expect(() => stackBindings(config, { ...stack, spacePath })).toThrow(PolicyRenderError);
    expect(() => stackBindings(config, { ...stack, spacePath })).toThrow(
      /trust policy is \d+ characters, over IAM's quota of 2048/,
    );
    expect(() => stackBindings(config, { ...stack, spacePath: "/root/production" })).not.toThrow();
  });

  it("renders no {spacePath} role when the path is unknown, rather than a wider pattern", async () => {
    const config = await configWith({
      SUBJECT_TEMPLATE: "{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
    });

    expect(() => stackBindings(config, stack)).toThrow(SpacePathUnknownError);
    expect(() => spaceBinding(config, { spaceId: PROD })).toThrow(SpacePathUnknownError);
  });

  it("counts policy size as IAM does, without white space", () => {
    expect(policySize({ Version: "2012-10-17", Statement: [] })).toBe(
      '{"Version":"2012-10-17","Statement":[]}'.length,
    );
  });
});

const withBoundary = await configWith({
  PERMISSIONS_BOUNDARY_ARN: BOUNDARY,
  PERMISSIONS_CONFIG: "readWriteSplit: true",
});

describe("permissions boundary", () => {
  it("is on every role the core renders when configured: stack write, stack read, space", () => {
    const specs: RoleSpec[] = [
      ...stackBindings(withBoundary, stack).map((binding) => binding.role),
      spaceBinding(withBoundary, { spaceId: PROD }).role,
    ];

    expect(specs.map((spec) => spec.permissionsBoundaryArn)).toEqual([
      BOUNDARY,
      BOUNDARY,
      BOUNDARY,
    ]);
  });

  it("can come from the permissions file alone", async () => {
    const config = await configWith({ PERMISSIONS_CONFIG: `permissionsBoundaryArn: ${BOUNDARY}` });

    expect(spaceBinding(config, { spaceId: PROD }).role.permissionsBoundaryArn).toBe(BOUNDARY);
  });

  it("cannot be left off a spec when configured", () => {
    const [binding] = stackBindings(withBoundary, stack);
    if (binding === undefined) throw new Error("no binding");
    const { permissionsBoundaryArn: _dropped, ...rest } = binding.role;

    expect(() =>
      assertRoleSpec(withBoundary, { ...rest, permissionsBoundaryArn: undefined }, [
        ...SEGMENTS,
        "write",
      ]),
    ).toThrow("must carry the configured permissions boundary");
    expect(() =>
      assertRoleSpec(
        withBoundary,
        { ...rest, permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/other" },
        [...SEGMENTS, "write"],
      ),
    ).toThrow("must carry the configured permissions boundary");
  });

  it("is absent when none is configured", async () => {
    expect(
      spaceBinding(await configWith(), { spaceId: PROD }).role.permissionsBoundaryArn,
    ).toBeUndefined();
  });
});
