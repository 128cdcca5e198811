/**
 * Custom subject templates with `{spacePath}`: the roles the provisioner writes after real
 * space and stack events (processMessage over in-memory IAM/SSM), evaluated against tokens in
 * Spacelift's format. Two spaces share the name `us-east-1` under different parents, which
 * only the path tells apart.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../functions/core/config.ts";
import { SpacePathUnknownError } from "../../functions/core/errors.ts";
import type { ObservedRole, RoleSpec } from "../../functions/core/ports.ts";
import { processMessage } from "../../functions/core/process-queue-message.ts";
import { inMemoryProvisionerDeps } from "../../testkit/fakes/in-memory-provisioner.ts";
import { InMemorySpacePaths } from "../../testkit/fakes/in-memory-space-paths.ts";
import { decisionMatrix, tokenFor } from "../../testkit/policy/evaluate.ts";
import { auditEvent, type EventOptions } from "../../testkit/spacelift/events.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR";
const PROD_US = "us-east-1-01HQ1234567890ABCDEFGHJKMN";
const STAGING_US = "us-east-1-01HQ1234567890ABCDEFGHJKMP";

const TEMPLATES = {
  "space ID and path":
    "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
  // Spacelift's documented `{spacePath}|{callerType}:{callerId}|{runType}|{scope}`, with the
  // space ID the product now requires first (space names are chosen and renamed by admins).
  "space ID, path and pipes": "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
} as const;

async function setup(template: string) {
  const spacePaths = new InMemorySpacePaths();
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
    AWS_ACCOUNT_ID: "123456789012",
    SUBJECT_TEMPLATE: template,
  });
  const { roles, deps } = inMemoryProvisionerDeps(config, { spacePaths });
  let clock = 1_764_000_000_000;
  const send = (action: Parameters<typeof auditEvent>[0], options: Omit<EventOptions, "account">) =>
    processMessage(
      JSON.stringify(auditEvent(action, { account: "acme", timestamp: clock++, ...options })),
      deps,
    );
  const role = (name: string): RoleSpec => {
    const found: ObservedRole | undefined = roles.roles.get(name);
    if (found === undefined) throw new Error(`no role ${name}`);
    return { ...found };
  };
  return { deps, roles, spacePaths, send, role };
}

/** root → production → us-east-1, root → staging → us-east-1, a stack in each us-east-1. */
async function buildHierarchy(send: Awaited<ReturnType<typeof setup>>["send"]) {
  await send("space.create", { space: PROD, parentSpace: "root" });
  await send("space.create", { space: STAGING, parentSpace: "root" });
  await send("space.create", { space: PROD_US, parentSpace: PROD });
  await send("space.create", { space: STAGING_US, parentSpace: STAGING });
  await send("stack.create", { stack: "infra-prod", space: PROD_US });
  await send("stack.create", { stack: "infra-staging", space: STAGING_US });
}

describe.each(Object.entries(TEMPLATES))("trust policies with the %s template", (_, template) => {
  it("tells apart same-named spaces by path and admits nothing outside a space", async () => {
    const { deps, send, role } = await setup(template);
    await buildHierarchy(send);
    const { config } = deps;
    const roles = {
      "stack infra-prod": role("spacelift-stack-infra-prod"),
      "stack infra-staging": role("spacelift-stack-infra-staging"),
      "space prod/us-east-1": role(`spacelift-space-${PROD_US}`),
      "space staging/us-east-1": role(`spacelift-space-${STAGING_US}`),
      "space production": role(`spacelift-space-${PROD}`),
    };
    const prodRun = { spaceId: PROD_US, spacePath: "/root/production/us-east-1" };
    const stagingRun = { spaceId: STAGING_US, spacePath: "/root/staging/us-east-1" };
    const tokens = {
      "infra-prod tracked": tokenFor(config, { ...prodRun, callerId: "infra-prod" }),
      "infra-prod proposed read": tokenFor(config, {
        ...prodRun,
        callerId: "infra-prod",
        runType: "PROPOSED",
        scope: "read",
      }),
      "infra-staging tracked": tokenFor(config, { ...stagingRun, callerId: "infra-staging" }),
      "infra-prod's slug from staging/us-east-1": tokenFor(config, {
        ...stagingRun,
        callerId: "infra-prod",
      }),
      "a stack of a child space": tokenFor(config, {
        spaceId: "child-01HQ1234567890ABCDEFGHJKMQ",
        spacePath: "/root/production/us-east-1/child",
        callerId: "infra-prod",
      }),
      "a path extending prod/us-east-1": tokenFor(config, {
        ...prodRun,
        spacePath: "/root/production/us-east-1-evil",
        callerId: "infra-prod",
      }),
      "a stack directly in production": tokenFor(config, {
        spaceId: PROD,
        spacePath: "/root/production",
        callerId: "web",
      }),
      "module with infra-prod's slug": tokenFor(config, {
        ...prodRun,
        callerType: "module",
        callerId: "infra-prod",
      }),
      "another Spacelift account (aud)": tokenFor(
        config,
        { ...prodRun, callerId: "infra-prod" },
        { aud: "evil.app.spacelift.io" },
      ),
      "another OIDC provider": tokenFor(
        config,
        { ...prodRun, callerId: "infra-prod" },
        { provider: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" },
      ),
    };
    const deny = {
      "stack infra-prod": "deny",
      "stack infra-staging": "deny",
      "space prod/us-east-1": "deny",
      "space staging/us-east-1": "deny",
      "space production": "deny",
    } as const;

    expect(decisionMatrix(tokens, roles)).toEqual({
      "infra-prod tracked": {
        ...deny,
        "stack infra-prod": "allow",
        "space prod/us-east-1": "allow",
      },
      "infra-prod proposed read": {
        ...deny,
        "stack infra-prod": "allow",
        "space prod/us-east-1": "allow",
      },
      "infra-staging tracked": {
        ...deny,
        "stack infra-staging": "allow",
        "space staging/us-east-1": "allow",
      },
      "infra-prod's slug from staging/us-east-1": { ...deny, "space staging/us-east-1": "allow" },
      "a stack of a child space": deny,
      "a path extending prod/us-east-1": deny,
      "a stack directly in production": { ...deny, "space production": "allow" },
      // A space role trusts every run of its space, modules' test runs too; never the stack roles.
      "module with infra-prod's slug": { ...deny, "space prod/us-east-1": "allow" },
      "another Spacelift account (aud)": deny,
      "another OIDC provider": deny,
    });
  });
});

describe("{spacePath} kept current from space events", () => {
  const template = TEMPLATES["space ID, path and pipes"];

  it("moves a stack's trust to the new path when its space is renamed and the stack converges", async () => {
    const { deps, send, role } = await setup(template);
    await buildHierarchy(send);
    // auditEvent names a space after its ID's slug; rename production to "prod" explicitly.
    const rename = auditEvent("space.update", {
      account: "acme",
      space: PROD,
      parentSpace: "root",
      timestamp: 1_764_000_100_000,
    });
    (rename.data as { args: { Input: { Name: string } } }).args.Input.Name = "prod";
    await processMessage(JSON.stringify(rename), deps);
    await send("stack.update", {
      stack: "infra-prod",
      space: PROD_US,
      timestamp: 1_764_000_200_000,
    });
    const infra = { "stack infra-prod": role("spacelift-stack-infra-prod") };
    const run = { spaceId: PROD_US, callerId: "infra-prod" };

    expect(
      decisionMatrix(
        {
          "token with the new path": tokenFor(deps.config, {
            ...run,
            spacePath: "/root/prod/us-east-1",
          }),
          "token with the old path": tokenFor(deps.config, {
            ...run,
            spacePath: "/root/production/us-east-1",
          }),
        },
        infra,
      ),
    ).toEqual({
      "token with the new path": { "stack infra-prod": "allow" },
      "token with the old path": { "stack infra-prod": "deny" },
    });
  });

  it("writes no role and asks for a retry while a space on the path is unknown", async () => {
    const { roles, send } = await setup(template);
    await send("space.create", { space: PROD, parentSpace: "root" });

    // us-east-1's own space.create has not been applied yet (another message group).
    await expect(send("stack.create", { stack: "infra-prod", space: PROD_US })).rejects.toThrow(
      SpacePathUnknownError,
    );
    expect(roles.roles.has("spacelift-stack-infra-prod")).toBe(false);

    await send("space.create", { space: PROD_US, parentSpace: PROD });
    await send("stack.create", { stack: "infra-prod", space: PROD_US });
    expect(roles.roles.has("spacelift-stack-infra-prod")).toBe(true);
  });

  it("does not render {spacePath} without a place to keep space paths", async () => {
    const { deps, roles } = await setup(template);
    const { spacePaths: _dropped, ...withoutStore } = deps;
    const event = auditEvent("stack.create", {
      account: "acme",
      stack: "infra-prod",
      space: PROD,
      timestamp: 1,
    });

    await expect(processMessage(JSON.stringify(event), withoutStore)).rejects.toThrow(
      /\{spacePath\} of space production-01HND497T9JKR76MR3KA2CDJHP is unknown/,
    );
    expect(roles.writes()).toEqual([]);
  });
});
