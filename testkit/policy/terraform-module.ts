// biome-ignore-all lint/suspicious/noTemplateCurlyInString: HCL interpolations ("${var.x}") as hcl2json returns them, not JavaScript templates.
/**
 * Applies a provider-free Terraform submodule (one that only computes documents, such as
 * infra/modules/oidc-provider/boundary-policy) in a temporary directory and returns its outputs,
 * so tests evaluate exactly the JSON Terraform sends to IAM.
 *
 * {@link renderModuleCall} takes the submodule's arguments from its parent's `module "<call>"`
 * block (parsed with @cdktf/hcl2json), resolved from the parent's variable defaults
 * (overridable per test) and from the `references` a test supplies for the data sources and
 * resources the parent passes (the account, the partition, a boundary ARN); anything else fails
 * loudly rather than be guessed.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "@cdktf/hcl2json";

const run = promisify(execFile);
const workDirs: string[] = [];

process.once("exit", () => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

type Hcl = Record<string, unknown>;

async function parseFile(moduleDir: string, name: string): Promise<Hcl> {
  return (await parse(name, readFileSync(join(moduleDir, name), "utf8"))) as Hcl;
}

/** Applies the module in `sourceDir` with `inputs` as its variables; its outputs, by name. */
export async function applyProviderFreeModule(
  sourceDir: string,
  inputs: Readonly<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  const workDir = mkdtempSync(join(tmpdir(), "tf-module-"));
  workDirs.push(workDir);
  cpSync(sourceDir, workDir, { recursive: true });
  writeFileSync(join(workDir, "terraform.tfvars.json"), JSON.stringify(inputs));
  const options = {
    cwd: workDir,
    env: { ...process.env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1" },
  };
  try {
    await run("terraform", ["init", "-input=false", "-no-color"], options);
    await run("terraform", ["apply", "-auto-approve", "-input=false", "-no-color"], options);
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new Error(
      `terraform apply of ${sourceDir} failed:\n${failure.stderr ?? failure.message}`,
      {
        cause: error,
      },
    );
  }
  const { stdout } = await run("terraform", ["output", "-json"], options);
  const outputs = JSON.parse(stdout) as Record<string, { value: unknown }>;
  return Object.fromEntries(Object.entries(outputs).map(([name, { value }]) => [name, value]));
}

export interface RenderedModuleCall {
  /** The submodule's outputs, by name. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The parent module's variable values the call was rendered with. */
  readonly variables: Readonly<Record<string, unknown>>;
}

export interface ModuleCallOptions {
  /** The parent module's directory. */
  readonly moduleDir: string;
  /** The label of its `module` block that calls the provider-free submodule. */
  readonly call: string;
  /** Parent variables to set instead of their defaults (required ones must be set). */
  readonly overrides?: Readonly<Record<string, unknown>>;
  /** Values of the other expressions the call passes, e.g. `${data.aws_partition.current.partition}`. */
  readonly references?: Readonly<Record<string, unknown>>;
}

/** Renders the parent's call of a provider-free submodule, as the parent would apply it. */
export async function renderModuleCall(options: ModuleCallOptions): Promise<RenderedModuleCall> {
  const { moduleDir, call: label, overrides = {}, references = {} } = options;
  const declarations = (await parseFile(moduleDir, "variables.tf")).variable as Record<
    string,
    Hcl[]
  >;
  for (const name of Object.keys(overrides)) {
    if (!(name in declarations)) throw new Error(`${moduleDir} has no variable ${name}`);
  }
  const variables: Record<string, unknown> = {};
  for (const [name, [declaration]] of Object.entries(declarations)) {
    if (declaration !== undefined && "default" in declaration)
      variables[name] = declaration.default;
  }
  Object.assign(variables, overrides);

  const modules = (await parseFile(moduleDir, "main.tf")).module as Record<string, Hcl[]>;
  const [call] = modules[label] ?? [];
  if (call === undefined) throw new Error(`${moduleDir} has no module "${label}"`);
  const inputs: Record<string, unknown> = {};
  for (const [argument, value] of Object.entries(call)) {
    if (argument === "source") continue;
    const expression = String(value);
    if (expression in references) {
      inputs[argument] = references[expression];
      continue;
    }
    const variable = /^\$\{var\.([a-z0-9_]+)\}$/.exec(expression)?.[1];
    if (variable === undefined || !(variable in variables)) {
      throw new Error(`cannot resolve the module argument ${argument} = ${expression}`);
    }
    inputs[argument] = variables[variable];
  }
  const outputs = await applyProviderFreeModule(join(moduleDir, String(call.source)), inputs);
  return { outputs, variables };
}
