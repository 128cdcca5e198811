/**
 * Static checks of the Terraform under infra/. `terraform validate` needs the providers, which
 * cannot be downloaded here, so every .tf file is parsed with @cdktf/hcl2json (HCL → JSON,
 * offline) and its content is checked: structure, wiring between modules, the security-relevant
 * details, and the validation regexes against sample values. `terraform fmt -check` runs too.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the expected values are HCL interpolations ("${var.x}") as hcl2json returns them, not JavaScript templates.
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "@cdktf/hcl2json";
import { describe, expect, it } from "vitest";
import { renderBoundaryPolicy } from "../../testkit/policy/terraform-boundary.ts";
import { applyProviderFreeModule } from "../../testkit/policy/terraform-module.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const INFRA = join(REPO_ROOT, "infra");

/** Every directory under infra/ that holds .tf files. A new one must be added here, with checks. */
const EXPECTED_DIRS = [
  "bootstrap",
  "examples/admin-stack",
  "examples/consumer",
  "examples/target-accounts",
  "modules/audit-webhook",
  "modules/oidc-provider",
  "modules/oidc-provider/boundary-policy",
  "modules/stack-role",
  "modules/target-account",
  "modules/target-account/vending-role-policy",
] as const;
type Dir = (typeof EXPECTED_DIRS)[number];

const OIDC_TOKEN_FILE = "/mnt/workspace/spacelift.oidc";

// ---------------------------------------------------------------------------------------------
// Loading

function isObj(value: Json | undefined): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function obj(value: Json | undefined, what: string): Obj {
  if (!isObj(value)) throw new Error(`${what}: expected an object, got ${JSON.stringify(value)}`);
  return value;
}

function list(value: Json | undefined, what: string): Json[] {
  if (!Array.isArray(value))
    throw new Error(`${what}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

/** hcl2json wraps every block body in a list; a labelled block must be declared exactly once. */
function only(value: Json | undefined, what: string): Obj {
  const items = list(value, what);
  if (items.length !== 1) throw new Error(`${what}: declared ${items.length} times`);
  return obj(items[0], what);
}

function findTfFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue; // .terraform/ after a local init
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTfFiles(path));
    else if (entry.isFile() && entry.name.endsWith(".tf")) found.push(path);
  }
  return found.sort();
}

function toPosix(path: string): string {
  return path.split(sep).join("/");
}

/** Merges one file's JSON into its directory's: blocks of the same kind and label concatenate. */
function mergeInto(target: Obj, source: Obj, where: string): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (existing === undefined) {
      target[key] = value;
    } else if (Array.isArray(existing) && Array.isArray(value)) {
      target[key] = [...existing, ...value];
    } else if (isObj(existing) && isObj(value)) {
      mergeInto(existing, value, `${where}.${key}`);
    } else {
      throw new Error(`${where}.${key} is declared in incompatible ways`);
    }
  }
}

const tfFiles = findTfFiles(INFRA);
const parseErrors: string[] = [];
const configs = new Map<string, Obj>();

for (const file of tfFiles) {
  const dir = toPosix(relative(INFRA, dirname(file)));
  const name = toPosix(relative(REPO_ROOT, file));
  let parsed: Obj;
  try {
    parsed = obj((await parse(name, readFileSync(file, "utf8"))) as Json, name);
  } catch (error) {
    parseErrors.push(`${name}: ${String(error)}`);
    continue;
  }
  const config = configs.get(dir) ?? {};
  mergeInto(config, parsed, dir);
  configs.set(dir, config);
}

function config(dir: Dir): Obj {
  const found = configs.get(dir);
  if (found === undefined) throw new Error(`no parsed configuration for infra/${dir}`);
  return found;
}

/** Blocks with one label (variable, output, module, provider), by label. */
function labelled(dir: Dir, kind: string): Map<string, Obj> {
  const section = config(dir)[kind];
  if (section === undefined) return new Map();
  return new Map(
    Object.entries(obj(section, `${dir} ${kind}`)).map(([label, body]) => [
      label,
      only(body, `${dir} ${kind}.${label}`),
    ]),
  );
}

/** Provider blocks may legitimately repeat (aliases), so they are returned as a list. */
function providers(dir: Dir, name: string): Obj[] {
  const section = config(dir).provider;
  if (section === undefined) return [];
  const bodies = obj(section, `${dir} provider`)[name];
  if (bodies === undefined) return [];
  return list(bodies, `${dir} provider.${name}`).map((body) =>
    obj(body, `${dir} provider.${name}`),
  );
}

/** A resource or data block, e.g. block("modules/stack-role", "data", "aws_ssm_parameter", "role_arn"). */
function block(dir: Dir, kind: "resource" | "data", type: string, name: string): Obj {
  const types = obj(config(dir)[kind], `${dir} ${kind}`);
  const names = obj(types[type], `${dir} ${kind}.${type}`);
  return only(names[name], `${dir} ${kind}.${type}.${name}`);
}

/** Every resource or data block of a directory as [kind, type, name, body]. */
function allBlocks(dir: Dir): [string, string, string, Obj][] {
  const result: [string, string, string, Obj][] = [];
  for (const kind of ["resource", "data"] as const) {
    const section = config(dir)[kind];
    if (section === undefined) continue;
    for (const [type, names] of Object.entries(obj(section, `${dir} ${kind}`))) {
      for (const [name, body] of Object.entries(obj(names, `${dir} ${kind}.${type}`))) {
        result.push([kind, type, name, only(body, `${dir} ${kind}.${type}.${name}`)]);
      }
    }
  }
  return result;
}

function locals(dir: Dir): Obj {
  const merged: Obj = {};
  const section = config(dir).locals;
  if (section === undefined) return merged;
  for (const body of list(section, `${dir} locals`))
    Object.assign(merged, obj(body, `${dir} locals`));
  return merged;
}

function strings(value: Json | undefined, what: string): string[] {
  return list(value, what).map((item) => {
    if (typeof item !== "string") throw new Error(`${what}: expected strings`);
    return item;
  });
}

// ---------------------------------------------------------------------------------------------
// Validation regexes

type Check = (value: string) => boolean;

/** Reads an HCL string literal's body (only the \\ and \" escapes occur in these patterns). */
function hclString(literal: string): string {
  return literal.replace(/\\(["\\])/g, "$1");
}

/**
 * Checks for the validation blocks whose condition has one of these shapes (other conditions,
 * such as lengths or cross-variable rules, are not interpreted):
 *   can(regex("…", var.x))
 *   var.x == null || can(regex("…", var.x))
 *   !endswith(var.x, "…") || can(regex("…", var.x))
 */
function validationChecks(variable: Obj, name: string): Check[] {
  const validations = variable.validation === undefined ? [] : list(variable.validation, name);
  const str = '"((?:[^"\\\\]|\\\\.)*)"';
  const plain = new RegExp(
    `^\\$\\{(?:var\\.[a-z0-9_]+ == null \\|\\| )?can\\(regex\\(${str}, var\\.[a-z0-9_]+\\)\\)\\}$`,
  );
  const suffixed = new RegExp(
    `^\\$\\{!endswith\\(var\\.[a-z0-9_]+, ${str}\\) \\|\\| can\\(regex\\(${str}, var\\.[a-z0-9_]+\\)\\)\\}$`,
  );
  const checks: Check[] = [];
  for (const validation of validations) {
    const condition = obj(validation, name).condition;
    if (typeof condition !== "string") continue;
    const simple = plain.exec(condition);
    if (simple?.[1] !== undefined) {
      const regex = new RegExp(hclString(simple[1]));
      checks.push((value) => regex.test(value));
      continue;
    }
    const conditional = suffixed.exec(condition);
    if (conditional?.[1] !== undefined && conditional[2] !== undefined) {
      const suffix = hclString(conditional[1]);
      const regex = new RegExp(hclString(conditional[2]));
      checks.push((value) => !value.endsWith(suffix) || regex.test(value));
    }
  }
  return checks;
}

const HOSTNAME = {
  accepts: [
    "acme.app.spacelift.io",
    "acme.app.us.spacelift.io",
    "my-org.app.spacelift.io",
    "spacelift.example.com",
  ],
  rejects: [
    "https://acme.app.spacelift.io",
    "acme.app.spacelift.io/",
    "Acme.app.spacelift.io",
    "acme",
    "",
    "acme.spacelift.io",
    "acme.app.eu.spacelift.io",
  ],
};
const STACK_ID = {
  accepts: ["prod-vpc", "a", "my_stack-1", "x".repeat(128)],
  rejects: ["Prod-VPC", "a/b", "a:b", "a*", "", " a", "x".repeat(129)],
};
const ACCOUNT = {
  accepts: ["acme", "my-org", "a1"],
  rejects: ["acme.app.spacelift.io", "Acme", "-acme", ""],
};
const PARAMETER_NAME = {
  accepts: ["/spacelift", "/org/spacelift", "/spacelift-role-vending/webhook-secret"],
  rejects: ["spacelift", "/spacelift/", "/", "/a b", "", "//spacelift"],
};
const ROLE_ARN = {
  accepts: [
    "arn:aws:iam::123456789012:role/spacelift/prod-vpc",
    "arn:aws-us-gov:iam::123456789012:role/x",
  ],
  rejects: ["123456789012", "arn:aws:iam::123456789012:user/x", "prod-vpc"],
};
const ROLE_PATH = {
  accepts: ["/spacelift/", "/a/b/"],
  rejects: ["/", "spacelift/", "/spacelift", "/a b/"],
};
const HTTPS_URL = {
  accepts: ["https://abc.execute-api.eu-west-1.amazonaws.com/webhook", "https://hooks.example.com"],
  rejects: ["http://hooks.example.com", "hooks.example.com", "https://"],
};

const REGEX_EXPECTATIONS: Record<string, { accepts: string[]; rejects: string[] }> = {
  spacelift_hostname: HOSTNAME,
  stack_id: STACK_ID,
  spacelift_stack_id: STACK_ID,
  reader_stack_id: STACK_ID,
  spacelift_account: ACCOUNT,
  parameter_prefix: PARAMETER_NAME,
  secret_parameter_name: PARAMETER_NAME,
  previous_secret_parameter_name: PARAMETER_NAME,
  webhook_secret_parameter_name: PARAMETER_NAME,
  aws_role_arn: ROLE_ARN,
  bootstrap_role_arn: ROLE_ARN,
  vended_role_path: ROLE_PATH,
  delegated_role_path: ROLE_PATH,
  endpoint: HTTPS_URL,
  webhook_endpoint: HTTPS_URL,
};

// ---------------------------------------------------------------------------------------------

describe("infra/ Terraform", () => {
  it("parses every .tf file", () => {
    expect(tfFiles.length).toBeGreaterThan(0);
    expect(parseErrors).toEqual([]);
  });

  it("covers exactly the directories that hold .tf files", () => {
    expect([...configs.keys()].sort()).toEqual([...EXPECTED_DIRS]);
  });

  it.each(EXPECTED_DIRS)("%s: pins Terraform and every provider it uses", (dir) => {
    const versionsFile = join(INFRA, dir, "versions.tf");
    expect(statSync(versionsFile).isFile()).toBe(true);

    const terraform = only(config(dir).terraform, `${dir} terraform`);
    expect(terraform.required_version).toMatch(/^>= ?1\.\d+/);
    const required = only(terraform.required_providers, `${dir} required_providers`);
    for (const [name, spec] of Object.entries(required)) {
      const { source, version } = obj(spec, `${dir} required_providers.${name}`);
      expect(source, `${dir}: provider ${name} source`).toMatch(/^[a-z0-9-]+\/[a-z0-9-]+$/);
      expect(version, `${dir}: provider ${name} version`).toMatch(/\d/);
    }

    const used = new Set(allBlocks(dir).map(([, type]) => type.split("_")[0] ?? type));
    for (const provider of used) {
      expect(Object.keys(required), `${dir} uses ${provider}_* without requiring it`).toContain(
        provider,
      );
    }
  });

  it.each(EXPECTED_DIRS)("%s: every variable has a type and a description", (dir) => {
    const variables = labelled(dir, "variable");
    for (const [name, variable] of variables) {
      expect(variable.type, `${dir} var.${name} type`).toMatch(/^\$\{[\s\S]+\}$/);
      expect(variable.description, `${dir} var.${name} description`).toMatch(/\S{3,}/);
    }
  });

  it.each(EXPECTED_DIRS)("%s: every output has a description", (dir) => {
    for (const [name, output] of labelled(dir, "output")) {
      expect(output.description, `${dir} output.${name}`).toMatch(/\S{3,}/);
    }
  });

  it.each(EXPECTED_DIRS)("%s: validation regexes accept and reject the right values", (dir) => {
    for (const [name, variable] of labelled(dir, "variable")) {
      const expectation = REGEX_EXPECTATIONS[name];
      if (expectation === undefined) continue;
      const checks = validationChecks(variable, `${dir} var.${name}`);
      expect(checks.length, `${dir} var.${name} has no regex validation`).toBeGreaterThan(0);
      for (const value of expectation.accepts) {
        expect(
          checks.every((check) => check(value)),
          `${dir} var.${name} should accept ${JSON.stringify(value)}`,
        ).toBe(true);
      }
      for (const value of expectation.rejects) {
        expect(
          checks.every((check) => check(value)),
          `${dir} var.${name} should reject ${JSON.stringify(value)}`,
        ).toBe(false);
      }
    }
  });

  it.each(EXPECTED_DIRS)("%s: module calls match the called modules' variables", (dir) => {
    const metaArguments = new Set(["source", "count", "for_each", "providers", "depends_on"]);
    for (const [name, call] of labelled(dir, "module")) {
      const source = call.source;
      expect(
        typeof source === "string" && (source.startsWith("../") || source.startsWith("./")),
        `${dir} module.${name}`,
      ).toBe(true);
      const target = toPosix(relative(INFRA, resolve(INFRA, dir, String(source))));
      expect(EXPECTED_DIRS as readonly string[], `${dir} module.${name} source`).toContain(target);

      const declared = labelled(target as Dir, "variable");
      const passed = Object.keys(call).filter((key) => !metaArguments.has(key));
      for (const argument of passed) {
        expect([...declared.keys()], `${dir} module.${name} passes ${argument}`).toContain(
          argument,
        );
      }
      for (const [variable, body] of declared) {
        if (!("default" in body)) {
          expect(passed, `${dir} module.${name} misses required ${variable}`).toContain(variable);
        }
      }
    }
  });
});

describe("modules/oidc-provider", () => {
  const dir = "modules/oidc-provider";

  it("trusts https://<hostname> with the hostname as audience", () => {
    const provider = block(dir, "resource", "aws_iam_openid_connect_provider", "spacelift");
    expect(provider.url).toBe("https://${var.spacelift_hostname}");
    expect(provider.client_id_list).toEqual(["${var.spacelift_hostname}"]);
    const existing = block(dir, "data", "aws_iam_openid_connect_provider", "spacelift");
    expect(existing.url).toBe("https://${var.spacelift_hostname}");
    const thumbprints = labelled(dir, "variable").get("thumbprint_list");
    expect(thumbprints?.default).toEqual([]);
  });

  it("builds the boundary from the provider-free document module, under the configured name and path", () => {
    const policy = block(dir, "resource", "aws_iam_policy", "boundary");
    expect(policy.policy).toBe("${module.boundary_document.json}");
    expect(policy.name).toBe("${var.boundary_policy_name}");
    expect(policy.path).toBe("${var.boundary_policy_path}");
    // testkit/policy/terraform-boundary.ts applies the submodule with these arguments: each must
    // stay a plain reference to a variable, the account or the partition.
    const call = labelled(dir, "module").get("boundary_document");
    expect(call?.source).toBe("./boundary-policy");
    for (const [argument, value] of Object.entries(call ?? {})) {
      if (argument === "source") continue;
      expect(String(value), argument).toMatch(
        /^\$\{(var\.[a-z0-9_]+|data\.aws_partition\.current\.partition|data\.aws_caller_identity\.current\.account_id)\}$/,
      );
    }
    // The self-references inside the document use an ARN assembled from the same name and path.
    expect(locals("modules/oidc-provider/boundary-policy").boundary_arn).toBe(
      "${local.iam_arn_prefix}:policy${var.boundary_policy_path}${var.boundary_policy_name}",
    );
    expect(allBlocks("modules/oidc-provider/boundary-policy")).toEqual([]);
  });

  /** IAM's action matching: `*` and `?` wildcards, case-insensitive. */
  const matches = (pattern: string, action: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
      "i",
    ).test(action);

  it.each([
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:AddUserToGroup",
    "iam:CreateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:PassRole",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicy",
    "iam:DeleteOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "organizations:LeaveOrganization",
    "sts:AssumeRole",
  ])(
    "explicitly denies %s in the rendered document",
    async (action) => {
      const { document } = await renderBoundaryPolicy();
      const denied = (document.Statement as { Effect: string; Action?: string | string[] }[])
        .filter((statement) => statement.Effect === "Deny")
        .flatMap((statement) => [statement.Action ?? []].flat());

      expect(denied.some((pattern) => matches(pattern, action))).toBe(true);
    },
    120_000,
  );

  it("outputs what the serverless app needs", () => {
    const outputs = labelled(dir, "output");
    for (const name of ["oidc_provider_arn", "permissions_boundary_arn", "spacelift_hostname"]) {
      expect(outputs.has(name), name).toBe(true);
    }
    expect(outputs.get("permissions_boundary_arn")?.value).toBe("${aws_iam_policy.boundary.arn}");
  });
});

describe("modules/target-account", () => {
  const dir = "modules/target-account";
  const documentDir = join(INFRA, "modules/target-account/vending-role-policy");
  /** Inputs of the document submodule that satisfy every validation. */
  const validInputs = {
    partition: "aws",
    account_id: "222222222222",
    region: "us-east-1",
    service_role_arns: [
      "arn:aws:iam::123456789012:role/spacelift-role-vending/spacelift-role-vending-prod-provisioner",
      "arn:aws:iam::123456789012:role/spacelift-role-vending/spacelift-role-vending-prod-reconciler",
    ],
    external_id: "spacelift-role-vending-7f3a9c",
    organization_id: null,
    vended_role_path: "/spacelift/",
    role_name_prefix: "spacelift-",
    vending_role_path: "/spacelift-role-vending/",
    permissions_boundary_arn:
      "arn:aws:iam::222222222222:policy/spacelift-role-vending/spacelift-role-vending-boundary",
    allowed_policy_arns: [],
    parameter_prefix: "/spacelift",
  };

  it("reuses modules/oidc-provider for the OIDC provider and the boundary, and writes no boundary of its own", () => {
    const call = labelled(dir, "module").get("oidc_provider");
    expect(call?.source).toBe("../oidc-provider");
    expect(call?.vended_role_path).toBe("${var.vended_role_path}");
    expect(call?.vended_parameter_prefix).toBe("${var.parameter_prefix}");
    const types = allBlocks(dir).map(([kind, type, name]) => `${kind}.${type}.${name}`);
    expect(types.filter((name) => name.startsWith("resource."))).toEqual([
      "resource.aws_iam_role.vending",
      "resource.aws_iam_role_policy.vending",
    ]);
  });

  it("gives the vending role the documents of the provider-free submodule, with the module's boundary", () => {
    const role = block(dir, "resource", "aws_iam_role", "vending");
    expect(role.assume_role_policy).toBe("${module.vending_role_document.trust_json}");
    expect(block(dir, "resource", "aws_iam_role_policy", "vending").policy).toBe(
      "${module.vending_role_document.policy_json}",
    );
    // test/policy/vending-role-policy.test.ts applies the submodule with these arguments: each
    // must stay a plain reference to a variable, the account, partition, region or boundary.
    const call = labelled(dir, "module").get("vending_role_document");
    expect(call?.source).toBe("./vending-role-policy");
    expect(call?.permissions_boundary_arn).toBe("${module.oidc_provider.permissions_boundary_arn}");
    for (const [argument, value] of Object.entries(call ?? {})) {
      if (argument === "source") continue;
      expect(String(value), argument).toMatch(
        /^\$\{(var\.[a-z0-9_]+|data\.aws_partition\.current\.partition|data\.aws_caller_identity\.current\.account_id|data\.aws_region\.current\.id|module\.oidc_provider\.permissions_boundary_arn)\}$/,
      );
    }
    expect(allBlocks("modules/target-account/vending-role-policy")).toEqual([]);
  });

  it("outputs the account's entry of the permissions file", () => {
    const outputs = labelled(dir, "output");
    for (const name of ["vending_role_arn", "oidc_provider_arn", "permissions_boundary_arn"]) {
      expect(outputs.has(name), name).toBe(true);
    }
    const entry = String(outputs.get("account_entry")?.value);
    for (const key of [
      "id",
      "vendingRoleArn",
      "oidcProviderArn",
      "permissionsBoundaryArn",
      "externalId",
    ]) {
      expect(entry, key).toMatch(new RegExp(`\\b${key}\\s*=`));
    }
  });

  it("refuses a trust with neither an external ID nor an organization, or a vending role on the vended path", async () => {
    const outcome = async (inputs: Record<string, unknown>) =>
      applyProviderFreeModule(documentDir, inputs).then(
        () => "applied",
        (error: Error) => error.message,
      );

    const results = {
      valid: await outcome(validInputs),
      "organization only": await outcome({
        ...validInputs,
        external_id: null,
        organization_id: "o-a1b2c3d4e5",
      }),
      neither: await outcome({ ...validInputs, external_id: null }),
      "vending role on the vended path": await outcome({
        ...validInputs,
        vending_role_path: "/spacelift/vending/",
      }),
      "a wildcard service role": await outcome({
        ...validInputs,
        service_role_arns: ["arn:aws:iam::123456789012:role/*"],
      }),
    };

    expect(results.valid).toBe("applied");
    expect(results["organization only"]).toBe("applied");
    expect(results.neither).toMatch(/Set external_id or organization_id/);
    expect(results["vending role on the vended path"]).toMatch(/must not overlap vended_role_path/);
    expect(results["a wildcard service role"]).toMatch(
      /service_role_arns must be one or more IAM role ARNs/,
    );
  }, 120_000);
});

describe("examples/target-accounts", () => {
  const dir = "examples/target-accounts";

  it("applies the module once per account, each through its own provider alias", () => {
    const aliases = providers(dir, "aws").map((provider) => provider.alias);
    const modules = [...labelled(dir, "module").values()];

    expect(aliases.length).toBeGreaterThanOrEqual(2);
    expect(modules.map((call) => call.source)).toEqual(
      aliases.map(() => "../../modules/target-account"),
    );
    expect(modules.map((call) => obj(call.providers, "providers").aws).sort()).toEqual(
      aliases.map((alias) => `\${aws.${String(alias)}}`).sort(),
    );
  });

  it("outputs the accounts section and the service's vendingRoleArns", () => {
    const outputs = labelled(dir, "output");
    expect(String(outputs.get("permissions_accounts_yaml")?.value)).toContain("yamlencode");
    expect(String(outputs.get("vending_role_arns")?.value)).toContain("vendingRoleArn");
  });
});

describe("modules/audit-webhook", () => {
  const dir = "modules/audit-webhook";

  it("keeps the secret sensitive and ephemeral", () => {
    const variables = labelled(dir, "variable");
    for (const name of ["secret", "previous_secret"]) {
      expect(variables.get(name)?.sensitive, name).toBe(true);
      expect(variables.get(name)?.ephemeral, name).toBe(true);
    }
  });

  it("stores the secret and the previous secret in SecureString parameters, write-only", () => {
    const current = block(dir, "resource", "aws_ssm_parameter", "secret");
    expect(current).toMatchObject({
      type: "SecureString",
      name: "${var.secret_parameter_name}",
      key_id: "${var.kms_key_id}",
      value_wo: "${var.secret}",
      value_wo_version: "${var.secret_version}",
    });
    expect(current.value).toBeUndefined();

    const previous = block(dir, "resource", "aws_ssm_parameter", "previous_secret");
    expect(previous).toMatchObject({
      type: "SecureString",
      name: "${var.previous_secret_parameter_name}",
      key_id: "${var.kms_key_id}",
      value_wo: "${var.previous_secret}",
      count: "${var.keep_previous_secret ? 1 : 0}",
    });
    expect(previous.value).toBeUndefined();

    const variables = labelled(dir, "variable");
    expect(variables.get("secret_parameter_name")?.default).toBe(
      "/spacelift-role-vending/webhook-secret",
    );
    expect(variables.get("previous_secret_parameter_name")?.default).toBe(
      "/spacelift-role-vending/webhook-secret-previous",
    );
    // The product's own key is required: under aws/ssm, anyone allowed ssm:GetParameter
    // (ReadOnlyAccess) could decrypt the secret.
    const key = variables.get("kms_key_id");
    expect(key !== undefined && "default" in key).toBe(false);
    expect(key?.nullable).toBe(false);
    const conditions = list(key?.validation, "kms_key_id validation")
      .map((validation) => String(obj(validation, "validation").condition))
      .join("\n");
    expect(conditions).toContain('!endswith(var.kms_key_id, "alias/aws/ssm")');
  });

  it("registers the webhook at the receiver, without runs, with retries", () => {
    const webhook = block(dir, "resource", "spacelift_audit_trail_webhook", "this");
    expect(webhook).toMatchObject({
      endpoint: "${var.endpoint}",
      enabled: "${var.enabled}",
      include_runs: false,
      retry_on_failure: true,
      secret_wo: "${var.secret}",
      secret_wo_version: "${tostring(var.secret_version)}",
    });
    expect(webhook.secret).toBeUndefined();
    // SSM is written before Spacelift starts signing with a new secret.
    expect(webhook.depends_on).toEqual([
      "${aws_ssm_parameter.secret}",
      "${aws_ssm_parameter.previous_secret}",
    ]);
  });
});

/**
 * Evaluates the module's own postcondition with Terraform, for each value of the parameter:
 * a root module declares the module's variables (their defaults; the account the credentials
 * are in is 123456789012), its locals that the condition needs (with the data sources' account
 * and partition as literals), and outputs the condition with `self.value` set to each value.
 */
async function evaluateStackRoleCondition(condition: string, values: string[]): Promise<boolean[]> {
  const dir = "modules/stack-role";
  const moduleLocals = locals(dir);
  const literal = (text: string) =>
    text
      .replaceAll("data.aws_partition.current.partition", '"aws"')
      .replaceAll("data.aws_caller_identity.current.account_id", '"123456789012"');
  const expression = (value: Json | undefined) => {
    const text = String(value);
    // hcl2json gives a pure expression as "${…}" and a template as its text.
    const pure = /^\$\{([\s\S]*)\}$/.exec(text);
    return literal(
      pure !== null && !pure[1]?.includes("${") ? (pure[1] ?? "") : JSON.stringify(text),
    );
  };
  const wanted = ["account_id", "expected_role_arn_prefix"];
  const variables = [...labelled(dir, "variable")]
    .map(([name, body]) => {
      const fallback = "default" in body ? JSON.stringify(body.default) : '"x"';
      return `variable "${name}" {\n  default = ${fallback}\n}`;
    })
    .join("\n");
  const localsBlock = wanted
    .map((name) => `  ${name} = ${expression(moduleLocals[name])}`)
    .join("\n");
  const check = expression(condition).replaceAll("self.value", "value");
  const source = [
    variables,
    `locals {\n${localsBlock}\n}`,
    `variable "values" {\n  type = list(string)\n}`,
    `output "results" {\n  value = [for value in var.values : ${check}]\n}`,
  ].join("\n");
  const work = mkdtempSync(join(tmpdir(), "stack-role-condition-"));
  try {
    writeFileSync(join(work, "main.tf"), source);
    writeFileSync(join(work, "terraform.tfvars.json"), JSON.stringify({ values }));
    for (const args of [
      ["init", "-input=false"],
      ["apply", "-auto-approve", "-input=false"],
    ]) {
      const run = spawnSync("terraform", [...args, "-no-color"], { cwd: work, encoding: "utf8" });
      if (run.status !== 0) throw new Error(`terraform ${args[0]}: ${run.stderr}\n${source}`);
    }
    const output = spawnSync("terraform", ["output", "-json", "results"], {
      cwd: work,
      encoding: "utf8",
    });
    return JSON.parse(output.stdout) as boolean[];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

describe("modules/stack-role", () => {
  const dir = "modules/stack-role";

  it("reads <prefix>/<account>/stacks/<id>/role-arn", () => {
    const parameter = block(dir, "data", "aws_ssm_parameter", "role_arn");
    expect(parameter.name).toBe(
      "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/role-arn",
    );
    expect(labelled(dir, "variable").get("parameter_prefix")?.default).toBe("/spacelift");
  });

  it("reads .../read-role-arn only when read_role is true", () => {
    const parameter = block(dir, "data", "aws_ssm_parameter", "read_role_arn");
    expect(parameter.name).toBe(
      "${var.parameter_prefix}/${var.spacelift_account}/stacks/${var.stack_id}/read-role-arn",
    );
    expect(parameter.count).toBe("${var.read_role ? 1 : 0}");
    expect(labelled(dir, "variable").get("read_role")?.default).toBe(false);
  });

  it.each(["role_arn", "read_role_arn"])(
    "%s: refuses a parameter naming a role outside the expected account, path or prefix",
    async (name) => {
      const parameter = block(dir, "data", "aws_ssm_parameter", name);
      const { postcondition } = only(parameter.lifecycle, `${name} lifecycle`);
      const condition = String(only(postcondition, `${name} postcondition`).condition);
      const cases = {
        "the stack's role": "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api",
        "the stack's write role":
          "arn:aws:iam::123456789012:role/spacelift/spacelift-stack-payments-api-write",
        "another account": "arn:aws:iam::999999999999:role/spacelift/spacelift-stack-payments-api",
        "another path": "arn:aws:iam::123456789012:role/admin/spacelift-stack-payments-api",
        "a deeper path": "arn:aws:iam::123456789012:role/spacelift/x/spacelift-stack-payments-api",
        "the root path": "arn:aws:iam::123456789012:role/spacelift-stack-payments-api",
        "another name prefix":
          "arn:aws:iam::123456789012:role/spacelift/OrganizationAccountAccessRole",
        "no role at all": "arn:aws:iam::123456789012:user/spacelift/spacelift-x",
        "account ID spliced into the name":
          "arn:aws:iam::123456789012:role/spacelift/spacelift-x:role/y",
      };

      const results = await evaluateStackRoleCondition(condition, Object.values(cases));

      expect(Object.fromEntries(Object.keys(cases).map((key, i) => [key, results[i]]))).toEqual({
        "the stack's role": true,
        "the stack's write role": true,
        "another account": false,
        "another path": false,
        "a deeper path": false,
        "the root path": false,
        "another name prefix": false,
        "no role at all": false,
        "account ID spliced into the name": false,
      });
    },
    120_000,
  );

  it("outputs the role ARN and name", () => {
    const outputs = labelled(dir, "output");
    expect(outputs.get("role_arn")?.value).toBe("${local.role_arn}");
    expect(String(outputs.get("role_name")?.value)).toContain('split("/", local.role_arn)');
    expect(outputs.has("read_role_arn")).toBe(true);
  });
});

describe("examples/consumer", () => {
  const dir = "examples/consumer";
  const aws = providers(dir, "aws");

  it("takes the stack ID from Spacelift's TF_VAR_spacelift_stack_id", () => {
    expect(labelled(dir, "variable").has("spacelift_stack_id")).toBe(true);
    const lookup = labelled(dir, "module").get("stack_role");
    expect(lookup).toMatchObject({
      source: "../../modules/stack-role",
      stack_id: "${var.spacelift_stack_id}",
      providers: { aws: "${aws.bootstrap}" },
    });
  });

  it("has a bootstrap provider and a default provider that assumes the role with the OIDC token", () => {
    expect(aws.filter((p) => p.alias === "bootstrap")).toHaveLength(1);
    const main = aws.filter((p) => p.alias === undefined);
    expect(main).toHaveLength(1);
    const assume = only(main[0]?.assume_role_with_web_identity, "assume_role_with_web_identity");
    expect(assume.web_identity_token_file).toBe(OIDC_TOKEN_FILE);
    expect(assume.role_arn).toBe("${local.role_arn}");
    expect(assume.session_name).toMatch(/var\.spacelift_stack_id/);
    expect(String(locals(dir).role_arn)).toContain("module.stack_role[0].role_arn");
  });

  it("grants another stack's role access by ARN in a bucket policy and a key policy", () => {
    for (const name of ["artifacts", "artifacts_key"]) {
      const policy = block(dir, "data", "aws_iam_policy_document", name);
      const principals = list(policy.statement, name)
        .map((s) => obj(s, name).principals)
        .filter((p) => p !== undefined)
        .flatMap((p) => list(p, name))
        .flatMap((p) => strings(obj(p, name).identifiers, name));
      expect(principals, name).toContain("${module.reader_role.role_arn}");
    }
    expect(block(dir, "resource", "aws_s3_bucket_policy", "artifacts").policy).toBe(
      "${data.aws_iam_policy_document.artifacts.json}",
    );
    expect(block(dir, "resource", "aws_kms_key", "artifacts").policy).toBe(
      "${data.aws_iam_policy_document.artifacts_key.json}",
    );
  });
});

describe("examples/admin-stack", () => {
  const dir = "examples/admin-stack";

  it("creates stacks and injects each one's role ARN as TF_VAR_aws_role_arn", () => {
    expect(block(dir, "resource", "spacelift_stack", "this").for_each).toBe("${var.stacks}");
    const variable = block(dir, "resource", "spacelift_environment_variable", "aws_role_arn");
    expect(variable).toMatchObject({
      stack_id: "${each.value.id}",
      name: "TF_VAR_aws_role_arn",
      value: "${module.stack_role[each.key].role_arn}",
    });
  });

  it("reads the role only after waiting for the vending service", () => {
    const wait = block(dir, "resource", "time_sleep", "wait_for_role");
    expect(wait.create_duration).toBe("${var.role_wait_duration}");
    const lookup = labelled(dir, "module").get("stack_role");
    expect(lookup?.for_each).toBe("${time_sleep.wait_for_role}");
    expect(lookup?.stack_id).toBe('${each.value.triggers["stack_id"]}');
  });
});

describe("bootstrap", () => {
  const dir = "bootstrap";

  it("composes the OIDC provider and, once the receiver exists, the webhook", () => {
    const modules = labelled(dir, "module");
    expect(modules.get("oidc_provider")?.source).toBe("../modules/oidc-provider");
    expect(modules.get("audit_webhook")).toMatchObject({
      source: "../modules/audit-webhook",
      count: "${var.webhook_endpoint == null ? 0 : 1}",
      secret: "${var.webhook_secret}",
    });
    const secret = labelled(dir, "variable").get("webhook_secret");
    expect(secret?.sensitive).toBe(true);
    expect(secret?.ephemeral).toBe(true);
  });

  it("outputs what the serverless app needs", () => {
    const outputs = labelled(dir, "output");
    for (const name of [
      "oidc_provider_arn",
      "permissions_boundary_arn",
      "spacelift_hostname",
      "webhook_secret_parameter_name",
    ]) {
      expect(outputs.has(name), name).toBe(true);
    }
  });
});

describe("terraform fmt", () => {
  function findOnPath(command: string): string | undefined {
    for (const directory of (process.env.PATH ?? "").split(delimiter)) {
      if (directory === "") continue;
      const candidate = join(directory, command);
      try {
        accessSync(candidate, constants.X_OK);
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
    return undefined;
  }

  it("reports no unformatted file under infra/", () => {
    const terraform = findOnPath(process.platform === "win32" ? "terraform.exe" : "terraform");
    if (terraform === undefined) {
      throw new Error(
        "terraform is not on PATH, so `terraform fmt -check` cannot run. Install Terraform >= 1.11 " +
          "(https://developer.hashicorp.com/terraform/install, e.g. `brew install hashicorp/tap/terraform` " +
          "or the HashiCorp apt repository) and re-run the tests.",
      );
    }
    const result = spawnSync(terraform, ["fmt", "-check", "-recursive", "-diff", "infra"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, TF_IN_AUTOMATION: "1" },
    });
    expect(result.error).toBeUndefined();
    expect(result.status, `terraform fmt would change:\n${result.stdout}${result.stderr}`).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Version floors: a configuration that uses an argument must require the releases that have it,
// or `terraform init` picks an older provider and `plan` fails with "Unsupported argument"
// (or, for write-only arguments, Terraform older than 1.11 does not know them at all).

/** First provider release with each argument of spacelift_audit_trail_webhook (its changelog). */
const AUDIT_WEBHOOK_ARGUMENT_FLOORS: Readonly<Record<string, string>> = {
  include_runs: "1.9.0",
  custom_headers: "1.16.0",
  retry_on_failure: "1.33.0",
  secret_wo: "1.44.0",
  secret_wo_version: "1.44.0",
};
/** Write-only arguments (`*_wo`, e.g. value_wo, secret_wo) exist from Terraform 1.11. */
const WRITE_ONLY_TERRAFORM_FLOOR = "1.11.0";

type Version = readonly [number, number, number];

function parseVersion(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.split(".").map(Number);
  return [major, minor, patch];
}

function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * The lowest version a constraint such as ">= 1.44.0, < 2.0" or "~> 1.44" admits, or undefined
 * when it admits any version (no lower bound at all).
 */
function lowestAdmitted(constraint: string): Version | undefined {
  let lowest: Version | undefined;
  for (const clause of constraint.split(",")) {
    const found = /^\s*(>=|~>|=|>)?\s*v?(\d+(?:\.\d+){0,2})\s*$/.exec(clause);
    if (found === null || found[2] === undefined) continue;
    // `<`/`<=`/`!=` clauses are upper bounds or holes: they raise no floor.
    const version = parseVersion(found[2]);
    if (lowest === undefined || compareVersions(version, lowest) > 0) lowest = version;
  }
  return lowest;
}

/** What a directory's own blocks need: Terraform and spacelift provider floors, with reasons. */
function ownFloors(dir: Dir): { terraform: [string, string][]; spacelift: [string, string][] } {
  const terraform: [string, string][] = [];
  const spacelift: [string, string][] = [];
  for (const [kind, type, name, body] of allBlocks(dir)) {
    for (const argument of Object.keys(body)) {
      const where = `${kind}.${type}.${name}.${argument}`;
      if (argument.endsWith("_wo")) terraform.push([WRITE_ONLY_TERRAFORM_FLOOR, where]);
      const floor = AUDIT_WEBHOOK_ARGUMENT_FLOORS[argument];
      if (type === "spacelift_audit_trail_webhook" && floor !== undefined) {
        spacelift.push([floor, where]);
      }
    }
  }
  return { terraform, spacelift };
}

/** Its own floors and those of the local modules it calls (their constraints apply to it too). */
function floors(dir: Dir): ReturnType<typeof ownFloors> {
  const result = ownFloors(dir);
  for (const [label, call] of labelled(dir, "module")) {
    const source = call.source;
    if (typeof source !== "string" || !source.startsWith(".")) continue;
    const child = toPosix(join(dir, source)) as Dir;
    const inherited = floors(child);
    result.terraform.push(
      ...inherited.terraform.map(([v, w]): [string, string] => [v, `module.${label}: ${w}`]),
    );
    result.spacelift.push(
      ...inherited.spacelift.map(([v, w]): [string, string] => [v, `module.${label}: ${w}`]),
    );
  }
  return result;
}

function highest(entries: [string, string][]): [string, string] | undefined {
  return entries.reduce<[string, string] | undefined>(
    (top, entry) =>
      top === undefined || compareVersions(parseVersion(entry[0]), parseVersion(top[0])) > 0
        ? entry
        : top,
    undefined,
  );
}

describe("version floors in versions.tf", () => {
  const needing = EXPECTED_DIRS.filter((dir) => {
    const found = floors(dir);
    return found.terraform.length > 0 || found.spacelift.length > 0;
  });

  it("finds the configurations that use write-only or recent audit-webhook arguments", () => {
    expect(needing).toEqual(["bootstrap", "modules/audit-webhook"]);
  });

  it("reads the lowest version a constraint admits", () => {
    expect(lowestAdmitted(">= 1.44.0, < 2.0")).toEqual([1, 44, 0]);
    expect(lowestAdmitted("~> 1.44")).toEqual([1, 44, 0]);
    expect(lowestAdmitted(">= 1.0, < 2.0")).toEqual([1, 0, 0]);
    expect(lowestAdmitted("< 2.0")).toBeUndefined();
  });

  it.each(needing)("%s requires the Terraform and provider releases its arguments need", (dir) => {
    const terraform = only(config(dir).terraform, `${dir} terraform`);
    const needs = floors(dir);
    const terraformFloor = highest(needs.terraform);
    if (terraformFloor !== undefined) {
      const admitted = lowestAdmitted(String(terraform.required_version ?? ""));
      expect(
        admitted !== undefined && compareVersions(admitted, parseVersion(terraformFloor[0])) >= 0,
        `${dir}: required_version ${terraform.required_version} admits Terraform older than ${terraformFloor[0]} (${terraformFloor[1]})`,
      ).toBe(true);
    }
    const spaceliftFloor = highest(needs.spacelift);
    if (spaceliftFloor !== undefined) {
      const required = only(terraform.required_providers, `${dir} required_providers`);
      const spec = obj(required.spacelift, `${dir} required_providers.spacelift`);
      const admitted = lowestAdmitted(String(spec.version ?? ""));
      expect(
        admitted !== undefined && compareVersions(admitted, parseVersion(spaceliftFloor[0])) >= 0,
        `${dir}: spacelift provider "${spec.version}" admits releases older than ${spaceliftFloor[0]} (${spaceliftFloor[1]})`,
      ).toBe(true);
    }
  });
});
