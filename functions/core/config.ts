/**
 * Configuration, read once at start from environment variables and validated into a typed
 * object. A missing or invalid variable fails fast with an error naming it.
 */
import { readFileSync } from "node:fs";
import * as z from "zod";
import { ConfigurationError } from "./errors.ts";
import { isSpaceId, type SpaceId } from "./identifiers.ts";
import { defaultPermissions, type Permissions, parsePermissionsConfig } from "./permissions.ts";
import { boundaryOf, type VendingConfig } from "./role-spec.ts";
import { DEFAULT_SUBJECT_TEMPLATE, validateSubjectTemplate } from "./subject.ts";

type Env = Readonly<Record<string, string | undefined>>;

const HOSTNAME = /^[a-z0-9][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9-]{0,62})+$/;
const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:[\x21-\x7e]+$/;
/** IAM role paths: `/` or `/segment/…/`, printable ASCII, at most 512 characters. */
const ROLE_PATH = /^\/(?:[\x21-\x2e\x30-\x7e]+\/)*$/;
/** IAM role names allow `[\w+=,.@-]`; the prefix must leave room for the resource ID. */
const ROLE_NAME_PREFIX = /^[\w+=,.@-]{0,40}$/;
/** SSM parameter names allow `[a-zA-Z0-9_.-/]`; the prefix is absolute without trailing `/`. */
const PARAMETER_PREFIX = /^(\/[a-zA-Z0-9_.-]+){1,8}$/;

const nonEmpty = (value: string | undefined) =>
  value === undefined || value.trim() === "" ? undefined : value.trim();

const Vending = z.object({
  SPACELIFT_HOSTNAME: z.string().regex(HOSTNAME, "must be a hostname like acme.app.spacelift.io"),
  AWS_ACCOUNT_ID: z.string().regex(/^\d{12}$/, "must be a 12-digit AWS account ID"),
  OIDC_PROVIDER_ARN: z.string().regex(ARN, "must be an IAM OIDC provider ARN").optional(),
  ROLE_PATH: z
    .string()
    .max(512)
    .regex(ROLE_PATH, "must start and end with / (e.g. /spacelift/)")
    .default("/spacelift/"),
  ROLE_NAME_PREFIX: z
    .string()
    .regex(ROLE_NAME_PREFIX, "may hold only letters, digits and +=,.@_- (at most 40)")
    .default("spacelift-"),
  PARAMETER_PREFIX: z
    .string()
    .regex(PARAMETER_PREFIX, "must look like /spacelift (absolute, no trailing /, ≤ 8 levels)")
    .default("/spacelift"),
  PERMISSIONS_BOUNDARY_ARN: z.string().regex(ARN, "must be a policy ARN").optional(),
  DEFAULT_POLICY_ARNS: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((arn) => arn.trim())
        .filter((arn) => arn !== ""),
    )
    .pipe(z.array(z.string().regex(ARN, "must be a comma-separated list of policy ARNs")).max(10)),
  MAX_SESSION_DURATION: z.coerce.number().int().min(3600).max(43200).default(3600),
  DEFAULT_SPACE_ID: z
    .string()
    .default("root")
    .refine((value): value is SpaceId => isSpaceId(value), "must be a Spacelift space ID"),
  SUBJECT_TEMPLATE: z.string().max(1000).default(DEFAULT_SUBJECT_TEMPLATE),
  PERMISSIONS_CONFIG_FILE: z.string().min(1).optional(),
  PERMISSIONS_CONFIG: z.string().min(1).optional(),
});

/** Validates an env-like record against a zod object schema, naming the first bad variable. */
export function parseEnv<T extends z.ZodType>(schema: T, env: Env): z.output<T> {
  const cleaned = Object.fromEntries(
    Object.entries(env).map(([key, value]) => [key, nonEmpty(value)]),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = issue?.path.join(".") ?? "environment";
    throw new ConfigurationError(
      `invalid configuration: ${variable}: ${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

/**
 * Reads the vending configuration. The permissions file comes from `PERMISSIONS_CONFIG_FILE`
 * (a path, read once here) or `PERMISSIONS_CONFIG` (the JSON/YAML itself); without either,
 * `DEFAULT_POLICY_ARNS` is what every role gets.
 */
export function loadVendingConfig(
  env: Env,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): VendingConfig {
  const raw = parseEnv(Vending, env);
  const host = raw.SPACELIFT_HOSTNAME;
  try {
    validateSubjectTemplate(raw.SUBJECT_TEMPLATE);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: SUBJECT_TEMPLATE: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const permissions = loadPermissions(raw, readFile);
  const config: VendingConfig = {
    spaceliftHostname: host,
    spaceliftAccount: host.split(".")[0] ?? host,
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
  try {
    boundaryOf(config);
  } catch (error) {
    throw new ConfigurationError(
      `invalid configuration: PERMISSIONS_BOUNDARY_ARN: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return config;
}

function loadPermissions(
  raw: z.output<typeof Vending>,
  readFile: (path: string) => string,
): Permissions {
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

const Receiver = z
  .object({
    QUEUE_URL: z.url("must be the SQS queue URL"),
    SPACELIFT_WEBHOOK_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
    SPACELIFT_WEBHOOK_SECRET_PREVIOUS: z.string().min(16).optional(),
    WEBHOOK_SECRET_PARAMETER: z.string().startsWith("/").optional(),
    WEBHOOK_SECRET_PREVIOUS_PARAMETER: z.string().startsWith("/").optional(),
  })
  .refine(
    (value) =>
      value.SPACELIFT_WEBHOOK_SECRET !== undefined || value.WEBHOOK_SECRET_PARAMETER !== undefined,
    {
      path: ["WEBHOOK_SECRET_PARAMETER"],
      message: "set it (AWS) or SPACELIFT_WEBHOOK_SECRET (local)",
    },
  );

export interface ReceiverConfig {
  readonly queueUrl: string;
  /** Where the webhook secret(s) come from; values, never logged. */
  readonly secrets:
    | { readonly source: "env"; readonly current: string; readonly previous: string | undefined }
    | { readonly source: "ssm"; readonly current: string; readonly previous: string | undefined };
}

export function loadReceiverConfig(env: Env): ReceiverConfig {
  const raw = parseEnv(Receiver, env);
  return {
    queueUrl: raw.QUEUE_URL,
    secrets:
      raw.WEBHOOK_SECRET_PARAMETER !== undefined
        ? {
            source: "ssm",
            current: raw.WEBHOOK_SECRET_PARAMETER,
            previous: raw.WEBHOOK_SECRET_PREVIOUS_PARAMETER,
          }
        : {
            source: "env",
            current: raw.SPACELIFT_WEBHOOK_SECRET as string,
            previous: raw.SPACELIFT_WEBHOOK_SECRET_PREVIOUS,
          },
  };
}

const Provisioner = z.object({
  LEDGER_TABLE: z.string().regex(/^[a-zA-Z0-9_.-]{3,255}$/, "must be a DynamoDB table name"),
});

export function loadLedgerTable(env: Env): string {
  return parseEnv(Provisioner, env).LEDGER_TABLE;
}
