/**
 * Zero-config credentials: the environment variables a stack's runs need to use its vended role
 * with no provider block and no SSM read, set on the stack through Spacelift's API.
 *
 * The AWS SDKs, the CLI and the Terraform AWS provider assume `AWS_ROLE_ARN` with the token in
 * `AWS_WEB_IDENTITY_TOKEN_FILE` (session `AWS_ROLE_SESSION_NAME`) when nothing else configures
 * credentials; Spacelift's own AWS OIDC guide reads `var.aws_role_arn` (`TF_VAR_aws_role_arn`).
 *
 * Ownership: a variable is ours when its description starts with {@link OWNED_DESCRIPTION}.
 * A variable of one of our names that someone else set is never overwritten nor removed: it is
 * reported as refused. Ours converge like roles: set when missing or different, removed when
 * no longer wanted or when the stack's role goes.
 */
import * as z from "zod/mini";
import type { ResourceEvent } from "./audit-event.ts";
import type { ProvisionOutcome } from "./converge-contract.ts";
import { type Env, parseEnv } from "./env.ts";
import type { StackId } from "./identifiers.ts";
import "./zod-locale.ts";

/** Where Spacelift writes a run's OIDC token (Spacelift's AWS OIDC guide). */
export const SPACELIFT_TOKEN_FILE = "/mnt/workspace/spacelift.oidc";

/** The start of every description we write: what marks a variable as ours. */
export const OWNED_DESCRIPTION = "Managed by spacelift-role-vending";

/** Every name this product may set on a stack; only these are ever removed, and only if ours. */
export const STACK_VARIABLE_NAMES = [
  "TF_VAR_aws_role_arn",
  "TF_VAR_aws_read_role_arn",
  "AWS_ROLE_ARN",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_SESSION_NAME",
] as const;

export type StackVariableName = (typeof STACK_VARIABLE_NAMES)[number];

/** One environment variable of a stack, as Spacelift reports it. */
export interface StackVariable {
  readonly name: string;
  /** Undefined for a write-only (secret) variable: Spacelift does not return its value. */
  readonly value: string | undefined;
  readonly writeOnly: boolean;
  readonly description: string | undefined;
}

/** A stack's environment in Spacelift (its own variables, not those of attached contexts). */
export interface StackEnvironment {
  /**
   * The stack's environment variables, and its mounted files (same names: a file's value is
   * undefined); undefined: no such stack.
   */
  list(stackId: StackId): Promise<readonly StackVariable[] | undefined>;
  /** Creates the variable, or replaces the one of that name (plain, not write-only). */
  set(
    stackId: StackId,
    variable: { name: string; value: string; description: string },
  ): Promise<void>;
  /** Deletes the variable; `"absent"` when the stack had none of that name. */
  remove(stackId: StackId, name: string): Promise<"deleted" | "absent">;
}

/** The roles a stack's variables point at: its one role, or the read/write split's pair. */
export interface StackRoleArns {
  /** The unsplit role, or the split's write role. */
  readonly roleArn: string;
  /** With the read/write split only. */
  readonly readRoleArn?: string;
}

const DESCRIPTIONS: Readonly<Record<StackVariableName, string>> = {
  TF_VAR_aws_role_arn: "the stack's vended role (the write role with the read/write split)",
  TF_VAR_aws_read_role_arn: "the stack's read role (read/write split)",
  AWS_ROLE_ARN: "the stack's vended role, assumed by the AWS SDKs and providers",
  AWS_WEB_IDENTITY_TOKEN_FILE: "the run's Spacelift OIDC token",
  AWS_ROLE_SESSION_NAME: "names the stack in CloudTrail",
};

/** The description that marks one of our variables. */
export function describeVariable(name: StackVariableName): string {
  return `${OWNED_DESCRIPTION}: ${DESCRIPTIONS[name]}. Changes are overwritten.`;
}

export function isOurVariable(variable: Pick<StackVariable, "description">): boolean {
  return variable.description?.startsWith(OWNED_DESCRIPTION) === true;
}

/** IAM's RoleSessionName: `[\w+=,.@-]`, 2 to 64 characters. Stack IDs are slugs, so fit already. */
export function stackSessionName(stackId: StackId): string {
  return `spacelift-${stackId}`.slice(0, 64);
}

/**
 * What a stack's environment should hold. Without the read/write split, everything a run needs:
 * the SDKs' default chain and `var.aws_role_arn` both work. With the split there is no zero
 * configuration: a proposed run's token (scope `read`) cannot assume the write role and a
 * tracked run's (scope `write`) cannot assume the read role, and Spacelift offers no variable a
 * fixed `AWS_ROLE_ARN` could switch on; so `AWS_ROLE_ARN` is not set, and both ARNs are given
 * as Terraform variables for a provider block that picks one (docs: README "Using the role").
 */
export function desiredStackVariables(
  stackId: StackId,
  roles: StackRoleArns,
): ReadonlyMap<StackVariableName, string> {
  const desired = new Map<StackVariableName, string>();
  desired.set("TF_VAR_aws_role_arn", roles.roleArn);
  if (roles.readRoleArn === undefined) desired.set("AWS_ROLE_ARN", roles.roleArn);
  else desired.set("TF_VAR_aws_read_role_arn", roles.readRoleArn);
  desired.set("AWS_WEB_IDENTITY_TOKEN_FILE", SPACELIFT_TOKEN_FILE);
  desired.set("AWS_ROLE_SESSION_NAME", stackSessionName(stackId));
  return desired;
}

export interface StackEnvironmentResult {
  /** `set <name>` / `delete <name>`: done, or (planning) what would be done. */
  readonly changes: readonly string[];
  /** Names held by a variable someone else set: left alone. */
  readonly refused: readonly string[];
  /** Spacelift has no such stack (it was deleted): nothing to do. */
  readonly stackAbsent: boolean;
}

/**
 * Makes the stack's variables of ours what `desired` says (an empty map removes them all).
 * Makes no write call when they already are. `plan`: read only, report what would change.
 */
export async function convergeStackEnvironment(
  environment: StackEnvironment,
  stackId: StackId,
  desired: ReadonlyMap<StackVariableName, string>,
  options: { plan?: boolean } = {},
): Promise<StackEnvironmentResult> {
  const current = await environment.list(stackId);
  if (current === undefined) return { changes: [], refused: [], stackAbsent: true };
  const byName = new Map(current.map((variable) => [variable.name, variable]));
  const changes: string[] = [];
  const refused: string[] = [];
  for (const name of STACK_VARIABLE_NAMES) {
    const existing = byName.get(name);
    const value = desired.get(name);
    if (existing !== undefined && !isOurVariable(existing)) {
      // Someone else's variable of that name: theirs wins, even if it is what we would set.
      if (value !== undefined) refused.push(name);
      continue;
    }
    if (value === undefined) {
      if (existing === undefined) continue;
      if (options.plan !== true) await environment.remove(stackId, name);
      changes.push(`delete ${name}`);
      continue;
    }
    const description = describeVariable(name);
    if (
      existing !== undefined &&
      !existing.writeOnly &&
      existing.value === value &&
      existing.description === description
    ) {
      continue;
    }
    if (options.plan !== true) await environment.set(stackId, { name, value, description });
    changes.push(`set ${name}`);
  }
  return { changes, refused, stackAbsent: false };
}

/** Removes the stack's variables of ours (its role is gone); someone else's stay. */
export function removeStackEnvironment(
  environment: StackEnvironment,
  stackId: StackId,
  options: { plan?: boolean } = {},
): Promise<StackEnvironmentResult> {
  return convergeStackEnvironment(environment, stackId, new Map(), options);
}

/**
 * What an applied event means for the stack's environment: converge it on the stack's role(s),
 * remove ours (the stack and its roles are gone), or nothing (a space, or a stale event).
 */
export function stackEnvironmentAfter(
  event: ResourceEvent,
  outcome: ProvisionOutcome,
): { stackId: StackId; desired: ReadonlyMap<StackVariableName, string> } | undefined {
  if (outcome.result === "stale") return undefined;
  if (event.type === "stack.deleted") return { stackId: event.stackId, desired: new Map() };
  if (event.type !== "stack.upserted" || outcome.roleArn === undefined) return undefined;
  return {
    stackId: event.stackId,
    desired: desiredStackVariables(event.stackId, {
      roleArn: outcome.roleArn,
      ...(outcome.readRoleArn !== undefined && { readRoleArn: outcome.readRoleArn }),
    }),
  };
}

/**
 * Opens Spacelift for the stack environment (reads the API key): the port, or why it cannot be
 * used now (no key stored: SSM stays the contract and nothing is set).
 */
export type OpenStackEnvironment = () => Promise<
  StackEnvironment | { readonly unavailable: string }
>;

export type StackEnvironmentReport =
  | ({ readonly stackId: StackId } & StackEnvironmentResult)
  | { readonly stackId: StackId; readonly unavailable: string };

/**
 * The provisioner's step after an event was applied to AWS (role and parameter stand): the
 * stack's variables follow. Undefined when the event concerns no stack's environment. Throws
 * on a Spacelift failure; redoing the whole event is safe, as converging AWS again makes no
 * write call when AWS is already right.
 */
export async function applyStackEnvironment(
  event: ResourceEvent,
  outcome: ProvisionOutcome,
  open: OpenStackEnvironment,
): Promise<StackEnvironmentReport | undefined> {
  const step = stackEnvironmentAfter(event, outcome);
  if (step === undefined) return undefined;
  const environment = await open();
  if ("unavailable" in environment) {
    return { stackId: step.stackId, unavailable: environment.unavailable };
  }
  const result = await convergeStackEnvironment(environment, step.stackId, step.desired);
  return { stackId: step.stackId, ...result };
}

const Settings = z.object({
  STACK_ENVIRONMENT: z._default(z.enum(["true", "false"]), "false"),
});

/**
 * STACK_ENVIRONMENT: `true` sets each stack's variables through Spacelift's API (with the API
 * key of SPACELIFT_API_KEY_PARAMETER); `false` (the default): SSM is the only contract.
 */
export function isStackEnvironmentEnabled(env: Env): boolean {
  return parseEnv(Settings, env).STACK_ENVIRONMENT === "true";
}
