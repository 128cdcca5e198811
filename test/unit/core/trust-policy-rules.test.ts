/**
 * Our own check of what real IAM refuses in a trust policy (moto accepts all of it), and that
 * every trust policy the product renders for a valid configuration passes it.
 */
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { TrustPolicyRejectedError } from "../../../functions/core/errors.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import type { PolicyDocument } from "../../../functions/core/ports.ts";
import { revokedTrustPolicy } from "../../../functions/core/revocation.ts";
import { spaceBinding, stackBindings } from "../../../functions/core/role-spec.ts";
import { assertTrustPolicy } from "../../../functions/core/trust-policy.ts";
import {
  assertTrustPolicyAccepted,
  trustPolicyViolations,
} from "../../../functions/core/trust-policy-rules.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROVIDER = `arn:aws:iam::123456789012:oidc-provider/${SPACELIFT_HOST}`;

function statement(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Effect: "Allow",
    Principal: { Federated: PROVIDER },
    Action: "sts:AssumeRoleWithWebIdentity",
    Condition: {
      StringEquals: { [`${SPACELIFT_HOST}:aud`]: SPACELIFT_HOST },
      StringLike: { [`${SPACELIFT_HOST}:sub`]: "space:root:stack:payments-api:*" },
    },
    ...overrides,
  };
}

const trust = (...statements: Record<string, unknown>[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: statements,
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, not a JS template
const STACK_VARIABLE = "${aws:RequestTag/stack}";
// biome-ignore lint/suspicious/noTemplateCurlyInString: IAM's literal-star syntax, not a JS template
const LITERAL_STAR = "${*}";

const rulesOf = (document: PolicyDocument) =>
  trustPolicyViolations(document).map(({ rule }) => rule);

describe("trustPolicyViolations", () => {
  it("accepts a Spacelift trust policy, with TagSession, SetSourceIdentity and SetContext too", () => {
    expect(rulesOf(trust(statement()))).toEqual([]);
    expect(
      rulesOf(
        trust(
          statement({
            Action: ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
          }),
          statement({ Action: ["sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:SetContext"] }),
        ),
      ),
    ).toEqual([]);
  });

  it.each([
    ["a bare * principal", trust(statement({ Principal: "*" })), "bare-star-principal"],
    [
      "NotPrincipal",
      trust(statement({ Principal: undefined, NotPrincipal: { AWS: "arn:aws:iam::1:root" } })),
      "not-principal",
    ],
    ["no principal", trust(statement({ Principal: undefined })), "missing-principal"],
    ["sts:*", trust(statement({ Action: "sts:*" })), "action-not-sts-assume"],
    [
      "*",
      trust(statement({ Action: ["sts:AssumeRoleWithWebIdentity", "*"] })),
      "action-not-sts-assume",
    ],
    ["a non-STS action", trust(statement({ Action: "s3:GetObject" })), "action-not-sts-assume"],
    [
      "NotAction",
      trust(statement({ Action: undefined, NotAction: "s3:*" })),
      "action-not-sts-assume",
    ],
    ["no action", trust(statement({ Action: [] })), "action-not-sts-assume"],
    ["an empty Statement", trust(), "empty-statement"],
    ["no Statement", { Version: "2012-10-17" }, "empty-statement"],
    ["no Version", { Statement: [statement()] }, "version"],
    ["an old Version", { Version: "2008-10-17", Statement: [statement()] }, "version"],
    [
      "a sub wildcard after 5 literal characters",
      trust(statement({ Condition: { StringLike: { [`${SPACELIFT_HOST}:sub`]: "root:*" } } })),
      "sub-wildcard-prefix",
    ],
    [
      "a bare * sub",
      trust(
        statement({
          Condition: { StringLike: { [`${SPACELIFT_HOST}:sub`]: ["space:root:*", "*"] } },
        }),
      ),
      "sub-wildcard-prefix",
    ],
    [
      "a ? after 3 literal characters",
      trust(
        statement({
          Condition: { "ForAnyValue:StringLike": { [`${SPACELIFT_HOST}:sub`]: "spa?e:x" } },
        }),
      ),
      "sub-wildcard-prefix",
    ],
    [
      "a policy variable standing for the literal prefix",
      trust(
        statement({
          Condition: { StringLike: { [`${SPACELIFT_HOST}:sub`]: `${STACK_VARIABLE}:*` } },
        }),
      ),
      "sub-wildcard-prefix",
    ],
  ])("refuses %s, naming the rule", (_, document, rule) => {
    expect(rulesOf(document)).toEqual([rule]);
    expect(() => assertTrustPolicyAccepted(document)).toThrow(TrustPolicyRejectedError);
    expect(() => assertTrustPolicyAccepted(document)).toThrow(rule);
  });

  it("reads * literally under StringEquals and counts IAM's literal-star variable as a literal character", () => {
    expect(
      rulesOf(
        trust(statement({ Condition: { StringEquals: { [`${SPACELIFT_HOST}:sub`]: "*" } } })),
      ),
    ).toEqual([]);
    expect(
      rulesOf(
        trust(
          statement({
            Condition: { StringLike: { [`${SPACELIFT_HOST}:sub`]: `ab${LITERAL_STAR}cde*` } },
          }),
        ),
      ),
    ).toEqual([]);
  });

  it("names every broken rule of a document at once", () => {
    const error = (() => {
      try {
        assertTrustPolicyAccepted({ Statement: [statement({ Principal: "*", Action: "sts:*" })] });
      } catch (caught) {
        return caught;
      }
    })();

    expect(error).toBeInstanceOf(TrustPolicyRejectedError);
    expect((error as TrustPolicyRejectedError).rules).toEqual([
      "version",
      "bare-star-principal",
      "action-not-sts-assume",
    ]);
  });
});

describe("every trust policy the product renders passes the check", () => {
  const TEMPLATES = [
    "space:{spaceId}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
    "space:{spaceId}:space_path:{spacePath}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
    "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
    "space:{spaceId}:{callerType}:{callerId}:run:{runId}",
    "space:{spaceId}:path:{spacePath}:type:{callerType}:caller:{callerId}:run:{runId}:scope:{scope}",
    "spacelift|{spaceId}|{callerType}|{callerId}",
  ];
  const PERMISSIONS = [
    undefined,
    "readWriteSplit: true",
    "sessionTagging: true",
    "readWriteSplit: true\nsessionTagging: true",
  ];
  const SPACES = ["root", "legacy", "production-01HND497T9JKR76MR3KA2CDJHP"] as SpaceId[];
  const STACKS = ["a", "payments-api", "x".repeat(60)] as StackId[];

  it.each(TEMPLATES)(
    "with the template %s, split or not, session tagging or not",
    async (template) => {
      let rendered = 0;
      let expected = 0;
      // A read/write split needs {scope} in the template.
      const usable = template.includes("{scope}")
        ? PERMISSIONS
        : PERMISSIONS.filter((permissions) => !permissions?.includes("readWriteSplit"));
      for (const permissions of usable) {
        const config = await loadVendingConfig({
          SPACELIFT_HOSTNAME: SPACELIFT_HOST,
          PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
          AWS_ACCOUNT_ID: "123456789012",
          SUBJECT_TEMPLATE: template,
          ...(permissions === undefined ? {} : { PERMISSIONS_CONFIG: permissions }),
        });
        for (const spaceId of SPACES) {
          const spacePath = spaceId === "root" ? "/root" : `/root/${spaceId.split("-")[0]}`;
          const documents = [
            spaceBinding(config, { spaceId, spacePath }).role.trustPolicy,
            ...STACKS.flatMap((stackId) =>
              stackBindings(config, { stackId, spaceId, labels: [], spacePath }).map(
                ({ role }) => role.trustPolicy,
              ),
            ),
          ];
          expected += 1 + STACKS.length * (permissions?.includes("readWriteSplit") ? 2 : 1);
          for (const document of documents) {
            expect(trustPolicyViolations(document)).toEqual([]);
            rendered += 1;
          }
        }
        expect(trustPolicyViolations(revokedTrustPolicy(config))).toEqual([]);
        expect(() => assertTrustPolicy(config, revokedTrustPolicy(config), [])).not.toThrow();
      }
      expect(rendered).toBe(expected);
    },
  );
});

describe("SUBJECT_TEMPLATE and the sub wildcard rule", () => {
  const load = (template: string) =>
    loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/spacelift-boundary",
      AWS_ACCOUNT_ID: "123456789012",
      SUBJECT_TEMPLATE: template,
    });

  it.each([
    [
      "{spaceId}|{callerType}|{callerId}|{runType}",
      /a space role would trust the sub pattern "root\|\*"/,
    ],
    [
      "{spaceId}:{callerType}:{callerId}:{runType}",
      /a space role would trust the sub pattern "root:\*"/,
    ],
  ])(
    "refuses %s at start, naming the variable and the role it would break",
    async (template, message) => {
      await expect(load(template)).rejects.toThrow(/SUBJECT_TEMPLATE: .*sub/);
      await expect(load(template)).rejects.toThrow(message);
    },
  );

  it("accepts templates that start with enough literal text, or with {spaceId} followed by {spacePath}", async () => {
    for (const template of [
      "space:{spaceId}:{callerType}:{callerId}:run_type:{runType}:scope:{scope}",
      "{spaceId}|{spacePath}|{callerType}:{callerId}|{runType}|{scope}",
      "spacelift|{spaceId}|{callerType}|{callerId}",
    ]) {
      expect((await load(template)).subjectTemplate).toBe(template);
    }
  });
});
