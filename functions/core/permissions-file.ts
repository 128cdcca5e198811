/**
 * The permissions file as written: its schema (zod), the JSON fast path and YAML, and the
 * checks that need the whole file, with errors naming the offending path
 * (`spaces[2].managedPolicyArns[0]: must be an IAM policy ARN`). The `accounts` section's
 * schema and checks are permissions-file-accounts.ts's; what the parsed file grants is
 * permissions.ts's.
 */
import * as z from "zod/mini";
import { ConfigurationError } from "./errors.ts";
import { POLICY_ARN } from "./iam-arns.ts";
import {
  type GrantBlock,
  type Permissions,
  policySize,
  ROLE_POLICY_LIMITS,
} from "./permissions.ts";
import {
  AccountId,
  checkAccounts,
  SpaceMatch,
  TargetAccountEntry,
} from "./permissions-file-accounts.ts";
import type { PolicyDocument } from "./ports.ts";
import "./zod-locale.ts";

const INLINE_POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
/** Labels the allow-list may name: what an IAM tag value can hold, no spaces (they are recorded in a role tag). */
const LABEL = /^[\p{L}\p{N}_.:/=+@-]{1,128}$/u;
const ACTION = /^(?:\*|[a-z0-9-]+:[A-Za-z0-9*?]+)$/;
const RESOURCE = /^(?:\*|arn:(?:aws[a-z-]*|\*):[^:]*:[^:]*:[^:]*:.+)$/;

const listOf = (item: z.ZodMiniString<string>, what: string) =>
  z.union([item, z.array(item).check(z.minLength(1))], {
    error: `must be ${what} or a non-empty list of them`,
  });

const ConditionValue = z.union([z.string(), z.number(), z.boolean()]);
const Statement = z
  .strictObject({
    Sid: z.optional(
      z.string().check(z.regex(/^[A-Za-z0-9]*$/, "may hold only letters and digits")),
    ),
    Effect: z.enum(["Allow", "Deny"], { error: "must be Allow or Deny" }),
    Action: z.optional(
      listOf(z.string().check(z.regex(ACTION, "must be an action like s3:GetObject")), "an action"),
    ),
    NotAction: z.optional(
      listOf(z.string().check(z.regex(ACTION, "must be an action like s3:GetObject")), "an action"),
    ),
    Resource: z.optional(
      listOf(z.string().check(z.regex(RESOURCE, "must be * or an ARN")), "* or an ARN"),
    ),
    NotResource: z.optional(
      listOf(z.string().check(z.regex(RESOURCE, "must be * or an ARN")), "* or an ARN"),
    ),
    Condition: z.optional(
      z.record(
        z.string().check(z.minLength(1)),
        z.record(
          z.string().check(z.minLength(1)),
          z.union([ConditionValue, z.array(ConditionValue).check(z.minLength(1))]),
        ),
      ),
    ),
  })
  .check(
    z.superRefine((statement, context) => {
      if ((statement.Action === undefined) === (statement.NotAction === undefined)) {
        context.addIssue({ code: "custom", message: "needs exactly one of Action and NotAction" });
      }
      if ((statement.Resource === undefined) === (statement.NotResource === undefined)) {
        context.addIssue({
          code: "custom",
          message: "needs exactly one of Resource and NotResource",
        });
      }
    }),
  );

/** An identity policy document (no Principal: inline policies are attached to the role). */
const PolicyDocumentSchema = z.strictObject({
  Version: z.literal("2012-10-17", { error: 'must be "2012-10-17"' }),
  Id: z.optional(z.string()),
  Statement: z.union([Statement, z.array(Statement).check(z.minLength(1))], {
    error: "must be a statement or a non-empty list of statements",
  }),
});

const Grant = {
  managedPolicyArns: z._default(
    z.array(z.string().check(z.regex(POLICY_ARN, "must be an IAM policy ARN"))).check(
      z.maxLength(
        ROLE_POLICY_LIMITS.managedPolicies,
        `at most ${ROLE_POLICY_LIMITS.managedPolicies} managed policies per role (IAM quota)`,
      ),
      z.refine((arns) => new Set(arns).size === arns.length, "lists a policy ARN twice"),
    ),
    [],
  ),
  inlinePolicies: z._default(
    z.record(
      z
        .string()
        .check(z.regex(INLINE_POLICY_NAME, "inline policy names may hold only [A-Za-z0-9+=,.@_-]")),
      PolicyDocumentSchema,
    ),
    {},
  ),
};

const ReadGrant = z.strictObject(Grant);
const Block = {
  ...Grant,
  read: z._default(ReadGrant, { managedPolicyArns: [], inlinePolicies: {} }),
  accounts: z.optional(
    z.array(AccountId).check(
      z.minLength(1),
      z.refine((ids) => new Set(ids).size === ids.length, "lists an account twice"),
    ),
  ),
};

const PermissionsFile = z.strictObject({
  version: z.optional(z.literal(1, { error: "must be 1" })),
  permissionsBoundaryArn: z.optional(
    z.string().check(z.regex(POLICY_ARN, "must be an IAM policy ARN")),
  ),
  readWriteSplit: z._default(z.boolean(), false),
  sessionTagging: z._default(z.boolean(), false),
  default: z._default(z.strictObject(Block), {
    managedPolicyArns: [],
    inlinePolicies: {},
    read: { managedPolicyArns: [], inlinePolicies: {} },
  }),
  accounts: z._default(z.array(TargetAccountEntry), []),
  defaultAccount: z._default(
    z.enum(["service", "none"], { error: "must be service or none" }),
    "service",
  ),
  publishInTargetAccount: z._default(z.boolean(), true),
  spaces: z._default(
    z.array(
      z.strictObject({
        match: SpaceMatch,
        ...Block,
      }),
    ),
    [],
  ),
  labels: z._default(
    z.record(
      z
        .string()
        .check(z.regex(LABEL, "labels may hold only letters, digits and _.:/=+@- (no spaces)")),
      z.strictObject({
        spaces: z.optional(z.array(SpaceMatch).check(z.minLength(1))),
        ...Block,
      }),
    ),
    {},
  ),
});

type ParsedFile = z.output<typeof PermissionsFile>;

/**
 * Parses and validates a permissions file (JSON or YAML). Throws ConfigurationError naming
 * `source` and the offending path of each problem.
 */
export async function parsePermissionsConfig(text: string, source: string): Promise<Permissions> {
  let raw: unknown;
  try {
    raw = jsonObject(text) ?? (await parseYaml(text));
  } catch (error) {
    throw new ConfigurationError(
      `invalid permissions configuration (${source}): not valid JSON or YAML: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (raw === null || raw === undefined) {
    throw new ConfigurationError(`invalid permissions configuration (${source}): it is empty`);
  }
  const parsed = PermissionsFile.safeParse(raw);
  const problems = parsed.success ? crossCheck(parsed.data) : parsed.error.issues.map(describe);
  if (!parsed.success || problems.length > 0) {
    const shown = problems.slice(0, 5).join("; ");
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : "";
    throw new ConfigurationError(`invalid permissions configuration (${source}): ${shown}${more}`);
  }
  const file = parsed.data;
  return {
    source,
    default: block(file.default),
    spaces: file.spaces.map((rule) => ({ match: rule.match, ...block(rule) })),
    labels: Object.fromEntries(
      Object.entries(file.labels).map(([label, rule]) => [
        label,
        { spaces: rule.spaces, ...block(rule) },
      ]),
    ),
    readWriteSplit: file.readWriteSplit,
    sessionTagging: file.sessionTagging,
    permissionsBoundaryArn: file.permissionsBoundaryArn,
    accounts: file.accounts.map((account) => ({
      id: account.id,
      vendingRoleArn: account.vendingRoleArn,
      spaces: account.spaces,
      oidcProviderArn: account.oidcProviderArn,
      permissionsBoundaryArn: account.permissionsBoundaryArn,
      externalId: account.externalId,
    })),
    defaultAccount: file.defaultAccount,
    publishInTargetAccount: file.publishInTargetAccount,
  };
}

/**
 * A JSON object document, read without `yaml`; undefined for any other text. YAML 1.2 reads
 * such a document to the same value, except that it refuses a key repeated in one object where
 * JSON.parse keeps the last: those texts, like YAML ones, are left to `yaml`, so they are refused
 * as before. A JSON configuration thus never loads `yaml` (measured: 4-5 ms off the
 * provisioner's cold start, about 12 ms with a JSON file that yaml would have parsed).
 */
function jsonObject(text: string): object | undefined {
  if (!text.trimStart().startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return keysIn(value) === keysWrittenIn(text) ? (value as object) : undefined;
}

/** How many keys the objects of a parsed JSON value hold (a repeated key counts once). */
function keysIn(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const items = Array.isArray(value) ? value : Object.values(value);
  const own = Array.isArray(value) ? 0 : items.length;
  return items.reduce((count: number, item) => count + keysIn(item), own);
}

/** Each string of a JSON text, with the `:` after it when it is a key. */
const JSON_STRING = /"(?:[^"\\]|\\.)*"(\s*:)?/g;

/** How many keys a valid JSON text writes (a repeated key counts each time). */
function keysWrittenIn(text: string): number {
  let count = 0;
  for (const match of text.matchAll(JSON_STRING)) if (match[1] !== undefined) count++;
  return count;
}

/** YAML (and JSON that only YAML reads as before): loads `yaml` on first use. */
async function parseYaml(text: string): Promise<unknown> {
  const yaml: typeof import("yaml") & { default?: typeof import("yaml") } = await import("yaml");
  // yaml is CommonJS for Node. Unbundled, Node exposes its named exports; in the Lambda bundle,
  // where esbuild splits it into a chunk of its own, the chunk exports only `default`.
  const { parse } = yaml.default ?? yaml;
  return parse(text, { prettyErrors: true, uniqueKeys: true });
}

function block(parsed: {
  managedPolicyArns: string[];
  inlinePolicies: Record<string, unknown>;
  read: { managedPolicyArns: string[]; inlinePolicies: Record<string, unknown> };
  accounts?: string[] | undefined;
}): GrantBlock {
  return {
    ...(parsed.accounts !== undefined && { accounts: parsed.accounts }),
    managedPolicyArns: parsed.managedPolicyArns,
    inlinePolicies: parsed.inlinePolicies as Record<string, PolicyDocument>,
    read: {
      managedPolicyArns: parsed.read.managedPolicyArns,
      inlinePolicies: parsed.read.inlinePolicies as Record<string, PolicyDocument>,
    },
  };
}

/** Checks across the file: inline policy names unique, each block within the inline quota. */
function crossCheck(file: ParsedFile): string[] {
  const problems: string[] = [];
  const seen = new Map<string, string>();
  const visit = (path: string, grant: { inlinePolicies: Record<string, unknown> }) => {
    let size = 0;
    for (const [name, document] of Object.entries(grant.inlinePolicies)) {
      const where = `${path}.inlinePolicies${formatKey(name)}`;
      const first = seen.get(name);
      if (first !== undefined) {
        problems.push(`${where}: inline policy name already used at ${first} (names are unique)`);
      } else {
        seen.set(name, where);
      }
      size += policySize(document as PolicyDocument);
    }
    if (size > ROLE_POLICY_LIMITS.inlinePolicies) {
      problems.push(
        `${path}.inlinePolicies: ${size} characters, over IAM's ${ROLE_POLICY_LIMITS.inlinePolicies} for all inline policies of a role`,
      );
    }
  };
  const visitBlock = (path: string, grant: ParsedFile["default"]) => {
    visit(path, grant);
    visit(`${path}.read`, grant.read);
  };
  visitBlock("default", file.default);
  for (const [index, rule] of file.spaces.entries()) visitBlock(`spaces[${index}]`, rule);
  for (const [label, rule] of Object.entries(file.labels)) {
    visitBlock(`labels${formatKey(label)}`, rule);
  }
  problems.push(...checkAccounts(file.accounts, file.permissionsBoundaryArn));
  return problems;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return issue.keys
      .map((key) => `${formatPath([...issue.path, key])}: unknown setting`)
      .join("; ");
  }
  if (issue.code === "invalid_key") {
    // A record key failed its own check: report that check's message at the key's path.
    return `${formatPath(issue.path)}: ${issue.issues[0]?.message ?? issue.message}`;
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (out === "" && /^[A-Za-z_]\w*$/.test(String(key))) out = String(key);
    else out += formatKey(String(key));
  }
  return out === "" ? "(top level)" : out;
}

function formatKey(key: string): string {
  return /^[A-Za-z_]\w*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
