import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import { ConfigurationError, PolicyRenderError } from "../../../functions/core/errors.ts";
import { matchesSpace } from "../../../functions/core/glob.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import {
  allowedPolicyArns,
  grantsForSpace,
  grantsForStack,
} from "../../../functions/core/permissions.ts";
import { parsePermissionsConfig } from "../../../functions/core/permissions-file.ts";
import { spaceBinding, stackBindings } from "../../../functions/core/role-spec.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const PROD = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
const STAGING = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
const PLATFORM = "platform-01HND4B1Q0W5Z7YV3J6QG2X9TS" as SpaceId;
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess";
const DEPLOY = "arn:aws:iam::123456789012:policy/spacelift/deploy-app";
const BOUNDARY = "arn:aws:iam::123456789012:policy/spacelift-boundary";

/** The worked example of docs/security.md, read from the page so the two cannot drift apart. */
const EXAMPLE = (() => {
  const page = readFileSync(new URL("../../../docs/security.md", import.meta.url), "utf8");
  const block = /<!-- worked-example[^>]*-->\s*```yaml\n([\s\S]*?)```/.exec(page)?.[1];
  if (block === undefined) throw new Error("docs/security.md has no worked example");
  return block;
})();

const example = () => parsePermissionsConfig(EXAMPLE, "permissions.yaml");

async function problemsOf(text: string): Promise<string> {
  try {
    await parsePermissionsConfig(text, "permissions.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

describe("parsePermissionsConfig", () => {
  it("reads the documented YAML example", async () => {
    const permissions = await example();

    expect(permissions).toMatchObject({
      source: "permissions.yaml",
      permissionsBoundaryArn: BOUNDARY,
      readWriteSplit: true,
      sessionTagging: false,
      default: { managedPolicyArns: [READ_ONLY], read: { managedPolicyArns: [READ_ONLY] } },
      spaces: [{ match: "production-*", managedPolicyArns: [DEPLOY] }],
    });
    expect(Object.keys(permissions.labels)).toEqual(["aws:admin", "aws:dynamodb"]);
  });

  it("gives the documented stack and space exactly the roles the page describes", async () => {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
      AWS_ACCOUNT_ID: "123456789012",
      PERMISSIONS_CONFIG: EXAMPLE,
    });
    const roles = stackBindings(config, {
      stackId: "payments-api" as StackId,
      spaceId: PROD,
      labels: ["aws:admin", "team:payments"],
    }).map(({ role, parameterName }) => ({
      name: role.name,
      parameterName,
      managed: role.managedPolicyArns,
      inline: Object.keys(role.inlinePolicies),
      boundary: role.permissionsBoundaryArn,
    }));
    const space = spaceBinding(config, { spaceId: PROD }).role;

    expect(roles).toEqual([
      {
        name: "spacelift-stack-payments-api.write",
        parameterName: "/spacelift/acme/stacks/payments-api/role-arn",
        managed: [DEPLOY, READ_ONLY],
        inline: ["terraform-state"],
        boundary: BOUNDARY,
      },
      {
        name: "spacelift-stack-payments-api.read",
        parameterName: "/spacelift/acme/stacks/payments-api/read-role-arn",
        managed: [READ_ONLY],
        inline: ["terraform-state-read"],
        boundary: BOUNDARY,
      },
    ]);
    expect([space.managedPolicyArns, Object.keys(space.inlinePolicies)]).toEqual([
      [DEPLOY, READ_ONLY],
      ["terraform-state"],
    ]);
  });

  it("reads the same configuration written as JSON", async () => {
    const json = JSON.stringify({
      default: { managedPolicyArns: [READ_ONLY] },
      labels: { "aws:admin": { spaces: ["platform-*"], managedPolicyArns: [ADMIN] } },
    });

    expect(await parsePermissionsConfig(json, "permissions.json")).toMatchObject({
      default: { managedPolicyArns: [READ_ONLY], inlinePolicies: {} },
      labels: { "aws:admin": { spaces: ["platform-*"], managedPolicyArns: [ADMIN] } },
      readWriteSplit: false,
    });
  });

  it.each([
    [
      "a managed policy that is not an ARN, by its path",
      "spaces:\n  - match: a\n  - match: b\n  - match: c\n    managedPolicyArns: [AdministratorAccess]",
      "spaces[2].managedPolicyArns[0]: must be an IAM policy ARN",
    ],
    [
      "an ARN of something else than a policy",
      "default:\n  managedPolicyArns: [arn:aws:iam::123456789012:role/admin]",
      "default.managedPolicyArns[0]: must be an IAM policy ARN",
    ],
    [
      "a misspelt setting",
      "default:\n  managedPolicyArn: [arn:aws:iam::aws:policy/ReadOnlyAccess]",
      "default.managedPolicyArn: unknown setting",
    ],
    [
      "more managed policies than IAM attaches to a role",
      `default:\n  managedPolicyArns: [${Array.from({ length: 11 }, (_, i) => `arn:aws:iam::aws:policy/P${i}`).join(", ")}]`,
      "default.managedPolicyArns: at most 10 managed policies per role (IAM quota)",
    ],
    [
      "the same policy twice",
      `default:\n  managedPolicyArns: [${READ_ONLY}, ${READ_ONLY}]`,
      "default.managedPolicyArns: lists a policy ARN twice",
    ],
    [
      "a label with a space",
      `labels:\n  "aws admin":\n    managedPolicyArns: [${ADMIN}]`,
      'labels["aws admin"]: labels may hold only',
    ],
    [
      "a space pattern with a path",
      "spaces:\n  - match: /root/production",
      "spaces[0].match: must be a space ID or a glob like production-*",
    ],
    [
      "an inline policy without Version",
      "default:\n  inlinePolicies:\n    p:\n      Statement: [{Effect: Allow, Action: s3:GetObject, Resource: '*'}]",
      'default.inlinePolicies.p.Version: must be "2012-10-17"',
    ],
    [
      "an inline policy with a Principal",
      "default:\n  inlinePolicies:\n    p:\n      Version: '2012-10-17'\n      Statement: [{Effect: Allow, Principal: '*', Action: s3:GetObject, Resource: '*'}]",
      "default.inlinePolicies.p.Statement[0].Principal: unknown setting",
    ],
    [
      "a statement with both Action and NotAction",
      "default:\n  inlinePolicies:\n    p:\n      Version: '2012-10-17'\n      Statement: [{Effect: Allow, Action: s3:GetObject, NotAction: s3:PutObject, Resource: '*'}]",
      "default.inlinePolicies.p.Statement[0]: needs exactly one of Action and NotAction",
    ],
    [
      "a resource that is not an ARN",
      "default:\n  inlinePolicies:\n    p:\n      Version: '2012-10-17'\n      Statement: [{Effect: Allow, Action: s3:GetObject, Resource: my-bucket}]",
      "default.inlinePolicies.p.Statement[0].Resource",
    ],
    [
      "an inline policy name used twice in the file",
      "default:\n  inlinePolicies:\n    p: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: s3:GetObject, Resource: '*'}]}\nlabels:\n  x:\n    inlinePolicies:\n      p: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: s3:GetObject, Resource: '*'}]}",
      "labels.x.inlinePolicies.p: inline policy name already used at default.inlinePolicies.p",
    ],
    [
      "a boundary that is not a policy ARN",
      "permissionsBoundaryArn: boundary",
      "permissionsBoundaryArn: must be an IAM policy ARN",
    ],
    ["an unknown version", "version: 2", "version: must be 1"],
    [
      "a JSON key given twice (JSON.parse would keep the last)",
      '{"readWriteSplit": false, "readWriteSplit": true}',
      "not valid JSON or YAML: Map keys must be unique",
    ],
    ["a document that is empty", "", "it is empty"],
    ["YAML that does not parse", "default: [unclosed", "not valid JSON or YAML"],
  ])("refuses %s", async (_, text, message) => {
    const problems = await problemsOf(text);

    expect(problems).toContain("invalid permissions configuration (permissions.yaml)");
    expect(problems).toContain(message);
  });

  it("refuses inline policies over IAM's size quota for one role", async () => {
    const statements = Array.from({ length: 200 }, (_, index) => ({
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: `arn:aws:s3:::bucket-${index}/*`,
    }));
    const text = JSON.stringify({
      default: { inlinePolicies: { big: { Version: "2012-10-17", Statement: statements } } },
    });

    expect(await problemsOf(text)).toMatch(
      /default\.inlinePolicies: \d+ characters, over IAM's 10240/,
    );
  });
});

describe("loadVendingConfig with a permissions file", () => {
  const env = {
    SPACELIFT_HOSTNAME: SPACELIFT_HOST,
    AWS_ACCOUNT_ID: "123456789012",
    UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
  };

  it("reads PERMISSIONS_CONFIG_FILE once and takes the boundary from it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "permissions-"));
    const path = join(dir, "permissions.yaml");
    writeFileSync(path, EXAMPLE);

    const config = await loadVendingConfig({ ...env, PERMISSIONS_CONFIG_FILE: path });

    expect(config.permissions?.source).toBe(path);
    expect(config.permissionsBoundaryArn).toBe(BOUNDARY);
  });

  it("keeps DEFAULT_POLICY_ARNS as every role's policies when no file is given", async () => {
    const config = await loadVendingConfig({ ...env, DEFAULT_POLICY_ARNS: READ_ONLY });
    const [binding] = stackBindings(config, {
      stackId: "payments-api" as StackId,
      spaceId: PROD,
      labels: ["aws:admin"],
    });

    expect(binding?.role.managedPolicyArns).toEqual([READ_ONLY]);
    expect(spaceBinding(config, { spaceId: PROD }).role.managedPolicyArns).toEqual([READ_ONLY]);
  });

  it.each([
    [
      "a file that cannot be read",
      { PERMISSIONS_CONFIG_FILE: "/nonexistent/permissions.yaml" },
      "PERMISSIONS_CONFIG_FILE: cannot read /nonexistent/permissions.yaml",
    ],
    [
      "both a file and inline configuration",
      { PERMISSIONS_CONFIG_FILE: "/x.yaml", PERMISSIONS_CONFIG: "{}" },
      "set PERMISSIONS_CONFIG_FILE or PERMISSIONS_CONFIG, not both",
    ],
    [
      "DEFAULT_POLICY_ARNS next to a file",
      { PERMISSIONS_CONFIG: "{}", DEFAULT_POLICY_ARNS: READ_ONLY },
      "put them under default.managedPolicyArns",
    ],
    [
      "two different boundaries",
      {
        PERMISSIONS_CONFIG: `permissionsBoundaryArn: ${BOUNDARY}`,
        PERMISSIONS_BOUNDARY_ARN: "arn:aws:iam::123456789012:policy/other",
      },
      "two different permissions boundaries",
    ],
    [
      "an invalid inline configuration",
      { PERMISSIONS_CONFIG: "spaces: [{match: x, managedPolicyArns: [nope]}]" },
      "(PERMISSIONS_CONFIG): spaces[0].managedPolicyArns[0]: must be an IAM policy ARN",
    ],
  ])("fails at start on %s", async (_, extra, message) => {
    await expect(loadVendingConfig({ ...env, ...extra })).rejects.toThrow(ConfigurationError);
    await expect(loadVendingConfig({ ...env, ...extra })).rejects.toThrow(message);
  });
});

describe("which policies a role gets", () => {
  const payments = (spaceId: SpaceId, labels: string[]) => ({
    spaceId,
    labels,
  });

  it("matches spaces by ID or glob", () => {
    expect(matchesSpace(PROD, PROD)).toBe(true);
    expect(matchesSpace("production-*", PROD)).toBe(true);
    expect(matchesSpace("production-*", STAGING)).toBe(false);
    expect(matchesSpace("staging-01HND4B1Q0W5Z7YV3J6QG2X9T?", STAGING)).toBe(true);
    expect(matchesSpace("prod", PROD)).toBe(false);
  });

  it("gives a label's policies only when the allow-list names the label", async () => {
    const permissions = await example();

    expect(
      grantsForStack(
        permissions,
        payments(STAGING, ["aws:root", "AdministratorAccess", ADMIN]),
        "write",
      ),
    ).toMatchObject({
      managedPolicyArns: [READ_ONLY],
      inlinePolicies: {},
    });
    expect(
      grantsForStack(permissions, payments(STAGING, ["aws:dynamodb"]), "write").inlinePolicies,
    ).toHaveProperty("dynamodb-tables");
  });

  it("honours an allow-listed label only in the spaces the platform team chose", async () => {
    const permissions = await example();

    expect(
      grantsForStack(permissions, payments(PROD, ["aws:admin"]), "write").managedPolicyArns,
    ).toEqual([DEPLOY, READ_ONLY]);
    expect(
      grantsForStack(permissions, payments(PLATFORM, ["aws:admin"]), "write").managedPolicyArns,
    ).toEqual([ADMIN, READ_ONLY]);
  });

  it("matches labels exactly: no case folding, no prefixes", async () => {
    const permissions = await example();

    for (const label of ["AWS:ADMIN", "aws:admin ", "aws:admin:extra", "aws:"]) {
      expect(
        grantsForStack(permissions, payments(PLATFORM, [label]), "write").managedPolicyArns,
      ).toEqual([READ_ONLY]);
    }
  });

  it("gives read roles only the read grants", async () => {
    const grant = grantsForStack(await example(), payments(PROD, ["aws:dynamodb"]), "read");

    expect(grant.managedPolicyArns).toEqual([READ_ONLY]);
    expect(Object.keys(grant.inlinePolicies)).toEqual(["terraform-state-read"]);
  });

  it("gives space roles the default and the space's policies, never a label's", async () => {
    const grant = grantsForSpace(await example(), PROD);

    expect(grant.managedPolicyArns).toEqual([DEPLOY, READ_ONLY]);
    expect(Object.keys(grant.inlinePolicies)).toEqual(["terraform-state"]);
  });

  it("refuses a role whose combined grants exceed IAM's managed policy quota, naming the sources", async () => {
    const six = (prefix: string) =>
      Array.from({ length: 6 }, (_, index) => `arn:aws:iam::aws:policy/${prefix}${index}`);
    const permissions = await parsePermissionsConfig(
      JSON.stringify({
        default: { managedPolicyArns: six("Default") },
        labels: { big: { managedPolicyArns: six("Label") } },
      }),
      "inline",
    );

    expect(() => grantsForStack(permissions, payments(PROD, ["big"]), "write")).toThrow(
      PolicyRenderError,
    );
    expect(() => grantsForStack(permissions, payments(PROD, ["big"]), "write")).toThrow(
      "12 managed policies (from default, label big), over IAM's quota of 10",
    );
  });

  it("refuses a role whose combined inline policies exceed IAM's size quota", async () => {
    const document = (count: number) => ({
      Version: "2012-10-17",
      Statement: Array.from({ length: count }, (_, index) => ({
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: `arn:aws:s3:::bucket-${index}/*`,
      })),
    });
    const permissions = await parsePermissionsConfig(
      JSON.stringify({
        default: { inlinePolicies: { a: document(90) } },
        spaces: [{ match: "production-*", inlinePolicies: { b: document(90) } }],
      }),
      "inline",
    );

    expect(() => grantsForStack(permissions, payments(PROD, []), "write")).toThrow(
      /inline policies would total \d+ characters \(from default, space production-\*\), over IAM's quota of 10240/,
    );
    expect(() => grantsForStack(permissions, payments(STAGING, []), "write")).not.toThrow();
  });

  it("lists every managed policy the configuration can attach, for the provisioner's own policy", async () => {
    expect(allowedPolicyArns(await example())).toEqual([DEPLOY, ADMIN, READ_ONLY]);
  });
});
