// biome-ignore-all lint/suspicious/noTemplateCurlyInString: HCL interpolations ("${var.x}") as hcl2json returns them, not JavaScript templates.
/**
 * The permissions boundary infra/modules/oidc-provider sends to IAM, as JSON, computed by
 * Terraform itself: the module builds the document in the provider-free submodule
 * `boundary-policy/` (jsonencode of a local), so this helper applies that submodule alone in a
 * temporary directory, with the arguments the parent module passes it. Those arguments are
 * read from the parent's `module "boundary_document"` block (parsed with @cdktf/hcl2json) and
 * resolved from the parent's variable defaults, overridable per test; anything but a plain
 * variable, account or partition reference fails loudly rather than be guessed.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "@cdktf/hcl2json";
import { SERVICE_DIR } from "./serverless-template.ts";

export const BOUNDARY_ACCOUNT_ID = "123456789012";
const MODULE_DIR = join(SERVICE_DIR, "infra", "modules", "oidc-provider");
const run = promisify(execFile);
const rendered = new Map<string, Promise<BoundaryPolicy>>();
const workDirs: string[] = [];

process.once("exit", () => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

export interface BoundaryPolicy {
  /** The document, parsed. */
  // biome-ignore lint/suspicious/noExplicitAny: an IAM policy document is untyped JSON.
  readonly document: Record<string, any>;
  /** The boundary policy's own ARN, as the parent module creates it. */
  readonly arn: string;
  /** The parent module's variable values the document was rendered with. */
  readonly variables: Readonly<Record<string, unknown>>;
}

type Hcl = Record<string, unknown>;

async function parseFile(name: string): Promise<Hcl> {
  return (await parse(name, readFileSync(join(MODULE_DIR, name), "utf8"))) as Hcl;
}

/** The parent's variable defaults, with `overrides` applied. */
async function parentVariables(
  overrides: Readonly<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  const variables = (await parseFile("variables.tf")).variable as Record<string, Hcl[]>;
  const values: Record<string, unknown> = {};
  for (const [name, [declaration]] of Object.entries(variables)) {
    if (declaration !== undefined && "default" in declaration) values[name] = declaration.default;
  }
  for (const name of Object.keys(overrides)) {
    if (!(name in variables)) throw new Error(`oidc-provider has no variable ${name}`);
  }
  return { ...values, ...overrides };
}

/** Renders the boundary with the module's defaults, or with some variables overridden. */
export function renderBoundaryPolicy(
  overrides: Readonly<Record<string, unknown>> = {},
): Promise<BoundaryPolicy> {
  const key = JSON.stringify(overrides);
  let policy = rendered.get(key);
  if (policy === undefined) {
    policy = render(overrides);
    rendered.set(key, policy);
  }
  return policy;
}

async function render(overrides: Readonly<Record<string, unknown>>): Promise<BoundaryPolicy> {
  const variables = await parentVariables(overrides);
  const modules = (await parseFile("main.tf")).module as Record<string, Hcl[]>;
  const [call] = modules.boundary_document ?? [];
  if (call === undefined) throw new Error('oidc-provider has no module "boundary_document"');
  const inputs: Record<string, unknown> = {};
  for (const [argument, expression] of Object.entries(call)) {
    if (argument === "source") continue;
    inputs[argument] = resolveArgument(String(expression), variables);
  }

  const workDir = mkdtempSync(join(tmpdir(), "boundary-policy-"));
  workDirs.push(workDir);
  cpSync(join(MODULE_DIR, String(call.source)), workDir, { recursive: true });
  writeFileSync(join(workDir, "terraform.tfvars.json"), JSON.stringify(inputs));
  const options = {
    cwd: workDir,
    env: { ...process.env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1" },
  };
  await run("terraform", ["init", "-input=false", "-no-color"], options);
  await run("terraform", ["apply", "-auto-approve", "-input=false", "-no-color"], options);
  const { stdout } = await run("terraform", ["output", "-raw", "json"], options);
  const arn = `arn:aws:iam::${BOUNDARY_ACCOUNT_ID}:policy${String(variables.boundary_policy_path)}${String(variables.boundary_policy_name)}`;
  return { document: JSON.parse(stdout), arn, variables };
}

function resolveArgument(expression: string, variables: Readonly<Record<string, unknown>>) {
  if (expression === "${data.aws_partition.current.partition}") return "aws";
  if (expression === "${data.aws_caller_identity.current.account_id}") return BOUNDARY_ACCOUNT_ID;
  const variable = /^\$\{var\.([a-z0-9_]+)\}$/.exec(expression)?.[1];
  if (variable === undefined || !(variable in variables)) {
    throw new Error(`cannot resolve the module argument ${expression}`);
  }
  return variables[variable];
}
