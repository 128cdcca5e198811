/**
 * Configuration, read once at start from environment variables and validated into a typed
 * object. A missing or invalid variable fails fast with an error naming it.
 */
import { readFileSync } from "node:fs";
import * as z from "zod/mini";
import { accountOfHostname, type Env, parseEnv, SPACELIFT_ACCOUNT_ENV } from "./env.ts";
import { ConfigurationError, PolicyRenderError } from "./errors.ts";
import { accountOfArn } from "./iam-arns.ts";
import type { SpaceId } from "./identifiers.ts";
import { defaultPermissions, type GrantBlock, type Permissions } from "./permissions.ts";
import { parsePermissionsConfig } from "./permissions-file.ts";
import { DEFAULT_SUBJECT_TEMPLATE, validateSubjectTemplate } from "./subject.ts";
import { assertSubjectTemplateMeetsSubRule } from "./trust-policy-rules.ts";
import "./zod-locale.ts";

// Re-exported for the modules that read their configuration through this one.
export { parseEnv } from "./env.ts";

/** What the provisioner and the reconciler vend: names, trust, policies, boundary. */
export interface VendingConfig {
  /** e.g. `acme.app.spacelift.io`. */
  readonly spaceliftHostname: string;
  /** The Spacelift account: the hostname's first label. */
  readonly spaceliftAccount: string;
  readonly awsAccountId: string;
  readonly oidcProviderArn: string;
  readonly rolePath: string;
  readonly roleNamePrefix: string;
  readonly parameterPrefix: string;
  /** When set, every role carries it and none is created without it. */
  readonly permissionsBoundaryArn: string | undefined;
  readonly defaultPolicyArns: readonly string[];
  readonly maxSessionDuration: number;
  readonly defaultSpaceId: SpaceId;
  readonly subjectTemplate: string;
  /** The permissions configuration; absent: `defaultPolicyArns` for every role. */
  readonly permissions?: Permissions;
}

/** The boundary every role must carry, if one is configured (env or file). */
export function boundaryOf(config: VendingConfig): string | undefined {
  const fromFile = config.permissions?.permissionsBoundaryArn;
  if (
    fromFile !== undefined &&
    config.permissionsBoundaryArn !== undefined &&
    fromFile !== config.permissionsBoundaryArn
  ) {
    throw new PolicyRenderError(
      "two different permissions boundaries are configured (PERMISSIONS_BOUNDARY_ARN and the permissions file)",
    );
  }
  return config.permissionsBoundaryArn ?? fromFile;
}

const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:[\x21-\x7e]+$/;
/** IAM role paths: `/` or `/segment/…/`, printable ASCII, at most 512 characters. */
const ROLE_PATH = /^\/(?:[\x21-\x2e\x30-\x7e]+\/)*$/;
/** IAM role names allow `[\w+=,.@-]`; the prefix must leave room for the resource ID. */
const ROLE_NAME_PREFIX = /^[\w+=,.@-]{0,40}$/;
/** SSM parameter names allow `[a-zA-Z0-9_.-/]`; the prefix is absolute without trailing `/`. */
const PARAMETER_PREFIX = /^(\/[a-zA-Z0-9_.-]+){1,8}$/;

const Vending = z.object({
  ...SPACELIFT_ACCOUNT_ENV,
  AWS_ACCOUNT_ID: z.string().check(z.regex(/^\d{12}$/, "must be a 12-digit AWS account ID")),
  OIDC_PROVIDER_ARN: z.optional(z.string().check(z.regex(ARN, "must be an IAM OIDC provider ARN"))),
  ROLE_PATH: z._default(
    z
      .string()
      .check(z.maxLength(512), z.regex(ROLE_PATH, "must start and end with / (e.g. /spacelift/)")),
    "/spacelift/",
  ),
  ROLE_NAME_PREFIX: z._default(
    z
      .string()
      .check(z.regex(ROLE_NAME_PREFIX, "may hold only letters, digits and +=,.@_- (at most 40)")),
    "spacelift-",
  ),
  PARAMETER_PREFIX: z._default(
    z
      .string()
      .check(
        z.regex(
          PARAMETER_PREFIX,
          "must look like /spacelift (absolute, no trailing /, ≤ 8 levels)",
        ),
      ),
    "/spacelift",
  ),
  PERMISSIONS_BOUNDARY_ARN: z.optional(z.string().check(z.regex(ARN, "must be a policy ARN"))),
  UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: z._default(z.enum(["true", "false"]), "false"),
  DEFAULT_POLICY_ARNS: z.pipe(
    z.pipe(
      z._default(z.string(), ""),
      z.transform((value: string) =>
        value
          .split(",")
          .map((arn) => arn.trim())
          .filter((arn) => arn !== ""),
      ),
    ),
    z
      .array(z.string().check(z.regex(ARN, "must be a comma-separated list of policy ARNs")))
      .check(z.maxLength(10)),
  ),
  MAX_SESSION_DURATION: z._default(
    z.coerce.number().check(z.int(), z.minimum(3600), z.maximum(43200)),
    3600,
  ),
  SUBJECT_TEMPLATE: z._default(z.string().check(z.maxLength(1000)), DEFAULT_SUBJECT_TEMPLATE),
  PERMISSIONS_CONFIG_FILE: z.optional(z.string().check(z.minLength(1))),
  PERMISSIONS_CONFIG: z.optional(z.string().check(z.minLength(1))),
});

/**
 * Reads the vending configuration. The permissions file comes from `PERMISSIONS_CONFIG_FILE`
 * (a path, read once here) or `PERMISSIONS_CONFIG` (the JSON/YAML itself); without either,
 * `DEFAULT_POLICY_ARNS` is what every role gets.
 */
export async function loadVendingConfig(
  env: Env,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
  warn: (message: string) => void = (message) => console.warn(message),
): Promise<VendingConfig> {
  const raw = parseEnv(Vending, env);
  const host = raw.SPACELIFT_HOSTNAME;
  try {
    validateSubjectTemplate(raw.SUBJECT_TEMPLATE);
    assertSubjectTemplateMeetsSubRule(raw.SUBJECT_TEMPLATE);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: SUBJECT_TEMPLATE: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const permissions = await loadPermissions(raw, readFile);
  assertAccountsFit(permissions, raw.AWS_ACCOUNT_ID, raw.PERMISSIONS_BOUNDARY_ARN);
  const config: VendingConfig = {
    spaceliftHostname: host,
    spaceliftAccount: accountOfHostname(host),
    awsAccountId: raw.AWS_ACCOUNT_ID,
    oidcProviderArn:
      raw.OIDC_PROVIDER_ARN ?? `arn:aws:iam::${raw.AWS_ACCOUNT_ID}:oidc-provider/${host}`,
    rolePath: raw.ROLE_PATH,
    roleNamePrefix: raw.ROLE_NAME_PREFIX,
    parameterPrefix: raw.PARAMETER_PREFIX,
    permissionsBoundaryArn: raw.PERMISSIONS_BOUNDARY_ARN ?? permissions.permissionsBoundaryArn,
    defaultPolicyArns: raw.DEFAULT_POLICY_ARNS,
    maxSessionDuration: raw.MAX_SESSION_DURATION,
    defaultSpaceId: raw.DEFAULT_SPACE_ID,
    subjectTemplate: raw.SUBJECT_TEMPLATE,
    permissions,
  };
  let boundary: string | undefined;
  try {
    boundary = boundaryOf(config);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: PERMISSIONS_BOUNDARY_ARN: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (boundary === undefined) {
    // Without a boundary, whoever runs as the provisioner can create a role with any inline
    // policy: an administrator. Only an explicit, logged opt-out allows it.
    if (raw.UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY !== "true") {
      throw new ConfigurationError(
        "invalid configuration: PERMISSIONS_BOUNDARY_ARN: required (or permissionsBoundaryArn in the permissions file); set UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY=true only for a throw-away account",
      );
    }
    warn(
      "UNSAFE: UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY=true and no permissions boundary: vended roles are uncapped and the provisioner can create administrators",
    );
  }
  return config;
}

/**
 * What `accounts` must satisfy that only the service's own account (and the environment's
 * boundary) can tell: no target is the service's account (so no vending role is in it either:
 * permissions.ts keeps each entry's ARNs in its own account), and every account a rule names
 * is configured or the service's own.
 */
function assertAccountsFit(
  permissions: Permissions,
  serviceAccountId: string,
  environmentBoundary: string | undefined,
): void {
  const problems: string[] = [];
  const known = new Set([serviceAccountId, ...permissions.accounts.map((account) => account.id)]);
  for (const [index, account] of permissions.accounts.entries()) {
    if (account.id === serviceAccountId) {
      problems.push(
        `accounts[${index}].id: ${account.id} is the service's own account (AWS_ACCOUNT_ID); its roles need no accounts entry`,
      );
    }
    const inheritedOwner =
      environmentBoundary === undefined ? undefined : accountOfArn(environmentBoundary);
    if (
      account.permissionsBoundaryArn === undefined &&
      inheritedOwner !== undefined &&
      inheritedOwner !== account.id
    ) {
      problems.push(
        `accounts[${index}].permissionsBoundaryArn: required: PERMISSIONS_BOUNDARY_ARN ${environmentBoundary} is in account ${inheritedOwner}, and a role in account ${account.id} needs one there`,
      );
    }
  }
  const rules: [string, GrantBlock][] = [
    ["default", permissions.default],
    ...permissions.spaces.map((rule, index): [string, GrantBlock] => [`spaces[${index}]`, rule]),
    ...Object.entries(permissions.labels).map(([label, rule]): [string, GrantBlock] => [
      `labels[${JSON.stringify(label)}]`,
      rule,
    ]),
  ];
  for (const [path, rule] of rules) {
    for (const [index, id] of (rule.accounts ?? []).entries()) {
      if (!known.has(id)) {
        problems.push(
          `${path}.accounts[${index}]: ${id} is neither the service's account nor under accounts`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigurationError(
      `invalid permissions configuration (${permissions.source}): ${problems.join("; ")}`,
    );
  }
}

async function loadPermissions(
  raw: z.output<typeof Vending>,
  readFile: (path: string) => string,
): Promise<Permissions> {
  const file = raw.PERMISSIONS_CONFIG_FILE;
  const inline = raw.PERMISSIONS_CONFIG;
  if (file === undefined && inline === undefined) {
    return defaultPermissions(raw.DEFAULT_POLICY_ARNS, raw.PERMISSIONS_BOUNDARY_ARN);
  }
  if (file !== undefined && inline !== undefined) {
    throw new ConfigurationError(
      "invalid configuration: set PERMISSIONS_CONFIG_FILE or PERMISSIONS_CONFIG, not both",
    );
  }
  if (raw.DEFAULT_POLICY_ARNS.length > 0) {
    throw new ConfigurationError(
      "invalid configuration: DEFAULT_POLICY_ARNS: with a permissions file, put them under default.managedPolicyArns in the file",
    );
  }
  if (file === undefined) return parsePermissionsConfig(inline as string, "PERMISSIONS_CONFIG");
  let text: string;
  try {
    text = readFile(file);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: PERMISSIONS_CONFIG_FILE: cannot read ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return parsePermissionsConfig(text, file);
}

/** A fifth of IAM's default role quota (1,000 per account): no single space can use it up. */
export const DEFAULT_MAX_ROLES_PER_SPACE = 200;

const Provisioner = z.object({
  LEDGER_TABLE: z
    .string()
    .check(z.regex(/^[a-zA-Z0-9_.-]{3,255}$/, "must be a DynamoDB table name")),
});

export function loadLedgerTable(env: Env): string {
  return parseEnv(Provisioner, env).LEDGER_TABLE;
}

const SpaceRoleCap = z.object({
  MAX_ROLES_PER_SPACE: z._default(
    z.coerce.number().check(z.int(), z.minimum(0), z.maximum(5000)),
    DEFAULT_MAX_ROLES_PER_SPACE,
  ),
});

/**
 * MAX_ROLES_PER_SPACE: how many stack roles one space may hold (a stack with the read/write
 * split holds two); unset: {@link DEFAULT_MAX_ROLES_PER_SPACE}; `0`: no cap (nothing counted).
 */
export function loadMaxRolesPerSpace(env: Env): number {
  return parseEnv(SpaceRoleCap, env).MAX_ROLES_PER_SPACE;
}
