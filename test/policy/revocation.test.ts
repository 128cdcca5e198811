/**
 * An orphaned role's revocation, decided by an IAM policy evaluator: its trust admits no
 * Spacelift token whatever the subject template, stack or space, and its sessions policy ends
 * the sessions issued before the revocation while leaving later ones alone.
 */
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { describe, expect, it } from "vitest";
import { loadVendingConfig, type VendingConfig } from "../../functions/core/config.ts";
import type { RoleSpec } from "../../functions/core/ports.ts";
import {
  LEGACY_REVOKED_TRUST_POLICY,
  REVOKED_SUB,
  revokedSessionsPolicy,
  revokedTrustPolicy,
} from "../../functions/core/revocation.ts";
import { trustPolicyViolations } from "../../functions/core/trust-policy-rules.ts";
import { ACCOUNT_ID, decide, type Run, tokenFor } from "../../testkit/policy/evaluate.ts";
import { SPACELIFT_HOST } from "../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP";

const TEMPLATES = {
  default: "space:{spaceId}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
  "caller first": "{callerId}:{callerType}:{spaceId}",
  "caller first, pipes": "{callerId}|{callerType}|{spaceId}|{runType}",
  "path only, pipes": "{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
  "run ID": "space:{spaceId}:{callerType}:{callerId}:run:{runId}",
} as const;

/**
 * The account's template as Spacelift would render it: set on the configuration directly, so
 * templates this product refuses (a `{callerId}` first) are tried too.
 */
async function configWith(template: string): Promise<VendingConfig> {
  const config = await loadVendingConfig({
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: ACCOUNT_ID,
    PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
  });
  return { ...config, subjectTemplate: template };
}

function revokedRole(config: VendingConfig, name: string): RoleSpec {
  return {
    name,
    path: "/spacelift/",
    description: "",
    maxSessionDuration: 3600,
    trustPolicy: revokedTrustPolicy(config),
    permissionsBoundaryArn: undefined,
    managedPolicyArns: [],
    inlinePolicies: {},
    tags: {},
  };
}

/** Runs whose tokens an attacker might aim at a revoked role. */
const RUNS: Record<string, Run> = {
  "the orphan's own stack": { spaceId: PROD, callerId: "payments-api" },
  "a stack named revoked": { spaceId: PROD, callerId: "revoked" },
  "a stack named revoked in root": { spaceId: "root", callerId: "revoked" },
  "a module named revoked": { spaceId: "root", callerId: "revoked", callerType: "module" },
  "a stack named like the value's tail": {
    spaceId: "root",
    callerId: "spacelift-role-vending",
  },
  "a space path with a dotted name": {
    spaceId: PROD,
    callerId: "revoked",
    spacePath: "/root/spacelift-role-vending.orphan",
  },
  "a read run": { spaceId: PROD, callerId: "payments-api", runType: "PROPOSED", scope: "read" },
};

describe("the trust of a revoked role", () => {
  it.each(Object.entries(TEMPLATES))(
    "admits no token of any run with the %s template",
    async (_, template) => {
      const config = await configWith(template);
      const role = revokedRole(config, "spacelift-stack-payments-api");
      const decisions = Object.fromEntries(
        Object.entries(RUNS).map(([name, run]) => [name, decide(role, tokenFor(config, run))]),
      );

      expect(decisions).toEqual(
        Object.fromEntries(Object.keys(RUNS).map((name) => [name, "deny"])),
      );
    },
  );

  it("would admit only a token carrying exactly the revoked value, which no Spacelift template renders", async () => {
    const config = await configWith(TEMPLATES.default);
    const role = revokedRole(config, "spacelift-stack-payments-api");
    const forged = tokenFor(config, { spaceId: PROD, callerId: "x" }, { sub: REVOKED_SUB });

    // The evaluator does read the condition: the exact value passes, its neighbours do not.
    expect(decide(role, forged)).toBe("allow");
    expect(decide(role, { ...forged, sub: `${REVOKED_SUB}:stack` })).toBe("deny");
    expect(decide(role, { ...forged, sub: "revoked" })).toBe("deny");
    expect(decide(role, { ...forged, aud: "evil.app.spacelift.io" })).toBe("deny");
    // Why no template renders it: one hard delimiter where every accepted template yields two,
    // and a '.' that only a space name could bring (always after a '/', which it lacks).
    expect(REVOKED_SUB.split(/[:|]/)).toHaveLength(2);
    expect(REVOKED_SUB).toMatch(/\./);
    expect(REVOKED_SUB).not.toMatch(/\//);
  });

  it("is accepted by the checks of what IAM refuses, where the legacy Deny-* document is not", async () => {
    const config = await configWith(TEMPLATES.default);

    expect(trustPolicyViolations(revokedTrustPolicy(config))).toEqual([]);
    expect(trustPolicyViolations(LEGACY_REVOKED_TRUST_POLICY).map(({ rule }) => rule)).toEqual([
      "bare-star-principal",
    ]);
  });
});

describe("the sessions policy of a revoked role", () => {
  const revokedAt = new Date("2026-11-20T12:00:00.000Z");

  async function decideSession(issuedAt: string, action: string): Promise<"allow" | "deny"> {
    const result = await runSimulation(
      {
        request: {
          principal: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/spacelift-stack-payments-api/run`,
          action,
          resource: { resource: "arn:aws:s3:::payments-bucket/object", accountId: ACCOUNT_ID },
          contextVariables: { "aws:TokenIssueTime": issuedAt },
        },
        identityPolicies: [
          {
            name: "granted",
            policy: {
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }],
            },
          },
          { name: "revoked-sessions", policy: revokedSessionsPolicy(revokedAt) },
        ],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (result.resultType === "error") throw new Error(JSON.stringify(result.errors));
    return result.overallResult === "Allowed" ? "allow" : "deny";
  }

  it("denies every action to sessions issued before the revocation (and while the trust change propagates), not later ones", async () => {
    expect({
      "an hour before": await decideSession("2026-11-20T11:00:00Z", "s3:GetObject"),
      "a second before": await decideSession("2026-11-20T11:59:59Z", "s3:DeleteObject"),
      "a minute after (trust change propagating)": await decideSession(
        "2026-11-20T12:01:00Z",
        "s3:PutObject",
      ),
      "an hour after": await decideSession("2026-11-20T13:00:00Z", "s3:GetObject"),
    }).toEqual({
      "an hour before": "deny",
      "a second before": "deny",
      "a minute after (trust change propagating)": "deny",
      "an hour after": "allow",
    });
  });
});
