/**
 * The CloudFormation template and function zips that `osls package` builds from serverless.yml,
 * for tests that check what would be deployed.
 *
 * Packaging runs once per parameter set per process (the promise is memoised). Each run works
 * in its own copy of the service under os.tmpdir(): serverless-esbuild keeps its work folder
 * (`.esbuild/`) in the service directory, so two test files, or a developer's `npm run package`,
 * packaging in the repository itself at the same time would overwrite each other's bundles.
 *
 * Templates keep CloudFormation's intrinsic functions (`Fn::Sub`, `Fn::If`, `Ref`, …);
 * {@link resolveIntrinsics} evaluates them for a given account and region, and
 * {@link rolePolicyDocuments} gives a role's inline policies as plain IAM documents, ready for a
 * policy evaluator.
 *
 * @example
 * const template = await loadPackagedTemplate();
 * const [vending] = rolePolicyDocuments(template, "ProvisionerRole");
 */
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { inflateRawSync } from "node:zlib";
import { build } from "esbuild";
import { SPACELIFT_HOST } from "../spacelift/fixtures.ts";

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON that tests walk freely.
export type CloudFormationTemplate = Record<string, any>;

/** The repository root (this file is testkit/policy/serverless-template.ts). */
export const SERVICE_DIR = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export const PACKAGED_STAGE = "test";
export const PACKAGED_REGION = "us-east-1";
/** The account {@link resolveIntrinsics} substitutes for `AWS::AccountId` (moto's account). */
export const TEMPLATE_ACCOUNT_ID = "123456789012";

/**
 * The `--param` values {@link loadPackagedTemplate} packages with by default: a boundary, an
 * allow-list, an operator role pattern and an alarm e-mail are set, so every conditional part of the template is present.
 */
export const PACKAGED_PARAMS = {
  spaceliftHostname: SPACELIFT_HOST,
  permissionsBoundaryArn: `arn:aws:iam::${TEMPLATE_ACCOUNT_ID}:policy/spacelift-role-vending/spacelift-role-vending-boundary`,
  defaultPolicyArns: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  allowedPolicyArns: [
    "arn:aws:iam::aws:policy/ReadOnlyAccess",
    `arn:aws:iam::${TEMPLATE_ACCOUNT_ID}:policy/spacelift/deploy-app`,
  ].join(","),
  alarmEmail: "platform-team@example.com",
  operatorRoleArns: `arn:aws:iam::${TEMPLATE_ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Operator_*`,
} as const satisfies Readonly<Record<string, string>>;

/** Only the required parameters: what `npm run package` and a first deploy look like. */
export const MINIMAL_PARAMS = {
  spaceliftHostname: PACKAGED_PARAMS.spaceliftHostname,
  permissionsBoundaryArn: PACKAGED_PARAMS.permissionsBoundaryArn,
} as const satisfies Readonly<Record<string, string>>;

/** The required parameters and stackEnvironment=true: the provisioner reads the API key. */
export const STACK_ENVIRONMENT_PARAMS = {
  ...MINIMAL_PARAMS,
  stackEnvironment: "true",
} as const satisfies Readonly<Record<string, string>>;

/** The target accounts' vending roles (infra/modules/target-account's default name and path). */
export const VENDING_ROLE_ARNS = [
  "arn:aws:iam::222222222222:role/spacelift-role-vending/spacelift-role-vending",
  "arn:aws:iam::333333333333:role/spacelift-role-vending/spacelift-role-vending",
] as const;

/** Every conditional part, and two target accounts whose vending roles the functions assume. */
export const TARGET_ACCOUNT_PARAMS = {
  ...PACKAGED_PARAMS,
  vendingRoleArns: VENDING_ROLE_ARNS.join(","),
} as const satisfies Readonly<Record<string, string>>;

/** No boundary, with the explicit (unsafe) opt-out that packaging requires for it. */
export const UNSAFE_NO_BOUNDARY_PARAMS = {
  spaceliftHostname: PACKAGED_PARAMS.spaceliftHostname,
  allowRolesWithoutBoundary: "true",
} as const satisfies Readonly<Record<string, string>>;

export interface PackagedService {
  /** The directory `osls package` wrote to. */
  readonly directory: string;
  /** `cloudformation-template-update-stack.json`, parsed. */
  readonly template: CloudFormationTemplate;
  /** Function zip file names (e.g. `receiver.zip`) → size in bytes. */
  readonly zipSizes: Readonly<Record<string, number>>;
}

const OSLS_BIN = join(SERVICE_DIR, "node_modules", "osls", "bin", "serverless.js");
/** What packaging needs from the repository; everything else stays out of the copy. */
const SERVICE_FILES = [
  "serverless.yml",
  "package.json",
  "tsconfig.json",
  "functions",
  // custom.esbuild.plugins
  "tools/esbuild",
];
const runFile = promisify(execFile);
const packaged = new Map<string, Promise<PackagedService>>();
const workDirs: string[] = [];

process.once("exit", () => {
  for (const dir of workDirs) rmSync(dir, { recursive: true, force: true });
});

/** Packages the service (once per parameter set per process) and returns its update template. */
export async function loadPackagedTemplate(
  params: Readonly<Record<string, string>> = PACKAGED_PARAMS,
): Promise<CloudFormationTemplate> {
  return (await loadPackagedService(params)).template;
}

/** Packages the service (once per parameter set per process): template, directory, zip sizes. */
export function loadPackagedService(
  params: Readonly<Record<string, string>> = PACKAGED_PARAMS,
): Promise<PackagedService> {
  const key = JSON.stringify(Object.entries(params).sort(([a], [b]) => a.localeCompare(b)));
  let service = packaged.get(key);
  if (service === undefined) {
    service = packageService(params);
    packaged.set(key, service);
  }
  return service;
}

async function packageService(params: Readonly<Record<string, string>>): Promise<PackagedService> {
  const workDir = mkdtempSync(join(tmpdir(), "srv-package-"));
  workDirs.push(workDir);
  const serviceCopy = join(workDir, "service");
  const output = join(workDir, "out");
  for (const entry of SERVICE_FILES) {
    cpSync(join(SERVICE_DIR, entry), join(serviceCopy, entry), { recursive: true });
  }
  symlinkSync(join(SERVICE_DIR, "node_modules"), join(serviceCopy, "node_modules"), "dir");

  const args = [
    OSLS_BIN,
    "package",
    "--stage",
    PACKAGED_STAGE,
    "--region",
    PACKAGED_REGION,
    "--package",
    output,
    ...Object.entries(params).map(([name, value]) => `--param=${name}=${value}`),
  ];
  try {
    await runFile(process.execPath, args, {
      cwd: serviceCopy,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: "1", SLS_NOTIFICATIONS_MODE: "off" },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 5 * 60 * 1000,
    });
  } catch (error) {
    const failure = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `osls package failed:\n${failure.stderr ?? ""}\n${failure.stdout ?? failure.message}`,
      { cause: error },
    );
  }

  const template = JSON.parse(
    readFileSync(join(output, "cloudformation-template-update-stack.json"), "utf8"),
  ) as CloudFormationTemplate;
  const zipSizes: Record<string, number> = {};
  for (const resource of Object.values(template.Resources ?? {}) as CloudFormationTemplate[]) {
    if (resource.Type !== "AWS::Lambda::Function") continue;
    const zip = String(resource.Properties?.Code?.S3Key ?? "")
      .split("/")
      .pop();
    if (zip && existsSync(join(output, zip))) zipSizes[zip] = statSync(join(output, zip)).size;
  }
  return { directory: output, template, zipSizes };
}

/** Files of a zip archive (stored or deflated entries), by path. */
export function readZipEntries(path: string): Map<string, Buffer> {
  const zip = readFileSync(path);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${path} is not a zip archive`);
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const entries = new Map<string, Buffer>();
  for (let index = 0; index < count; index++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${path}: bad central directory`);
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeader = zip.readUInt32LE(offset + 42);
    const name = zip.toString("utf8", offset + 46, offset + 46 + nameLength);
    const dataStart =
      localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (!name.endsWith("/")) entries.set(name, method === 0 ? data : inflateRawSync(data));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Writes a zip's files under `directory` (created as needed), at their paths in the zip. */
export function extractZip(path: string, directory: string): void {
  for (const [entry, content] of readZipEntries(path)) {
    const target = join(directory, entry);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
}

/** A packaged handler's module graph, read from the import statements of the zip's own files. */
export interface ZipImportGraph {
  /** Files the handler can load (paths in the zip): it and every file it imports, statically or through `import()`, transitively. */
  readonly reachable: ReadonlySet<string>;
  /** Files a cold start loads: the handler and its static imports, transitively. */
  readonly startup: ReadonlySet<string>;
}

/**
 * The module graph of `handlerFile` inside an extracted zip (`directory`): esbuild parses the
 * files and resolves their imports (bundling in memory, nothing written), so an import of a file
 * the zip lacks fails here. Node's built-in modules are left out.
 */
export async function zipImportGraph(
  directory: string,
  handlerFile: string,
): Promise<ZipImportGraph> {
  const { metafile } = await build({
    absWorkingDir: directory,
    entryPoints: [handlerFile],
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    logLevel: "silent",
  });
  const follow = (kinds: ReadonlySet<string>): Set<string> => {
    const seen = new Set<string>();
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      for (const record of metafile.inputs[path]?.imports ?? []) {
        if (!record.external && kinds.has(record.kind)) visit(record.path);
      }
    };
    visit(handlerFile);
    return seen;
  };
  return {
    reachable: follow(new Set(["import-statement", "dynamic-import"])),
    startup: follow(new Set(["import-statement"])),
  };
}

// --- Evaluating intrinsic functions --------------------------------------------------------

export interface ResolveOptions {
  readonly accountId?: string;
  readonly region?: string;
  /** Force conditions to a value, e.g. `{ HasPermissionsBoundary: false }`. */
  readonly conditions?: Readonly<Record<string, boolean>>;
}

/** Marks a value removed by `Ref: AWS::NoValue`. */
const NO_VALUE = Symbol("AWS::NoValue");

/**
 * Evaluates the intrinsic functions in `value` the way CloudFormation would deploy them in
 * `accountId`/`region`: conditions, `Fn::If` (dropping `AWS::NoValue`), `Fn::Sub`, `Ref`,
 * `Fn::GetAtt`, `Fn::Join`, `Fn::Split`, `Fn::Select`. Resources resolve to the names and
 * ARNs they would get (from their name properties, or their logical ID when unnamed).
 */
export function resolveIntrinsics(
  template: CloudFormationTemplate,
  value: unknown,
  options: ResolveOptions = {},
): unknown {
  const context = {
    template,
    accountId: options.accountId ?? TEMPLATE_ACCOUNT_ID,
    region: options.region ?? PACKAGED_REGION,
    conditions: options.conditions ?? {},
  };
  const resolved = resolveNode(context, value);
  return resolved === NO_VALUE ? undefined : resolved;
}

/** Whether a named template condition holds (with optional overrides). */
export function evaluateCondition(
  template: CloudFormationTemplate,
  name: string,
  options: ResolveOptions = {},
): boolean {
  return isTrue(
    {
      template,
      accountId: options.accountId ?? TEMPLATE_ACCOUNT_ID,
      region: options.region ?? PACKAGED_REGION,
      conditions: options.conditions ?? {},
    },
    name,
  );
}

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal?: string | Record<string, string | string[]>;
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: string | string[];
  readonly NotResource?: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: PolicyStatement[];
}

/** The inline policies of an `AWS::IAM::Role` resource, resolved, by policy name. */
export function rolePolicyDocuments(
  template: CloudFormationTemplate,
  roleLogicalId: string,
  options: ResolveOptions = {},
): Record<string, PolicyDocument> {
  const role = template.Resources?.[roleLogicalId];
  if (role?.Type !== "AWS::IAM::Role") throw new Error(`${roleLogicalId} is not an IAM role`);
  const policies = (role.Properties?.Policies ?? []) as CloudFormationTemplate[];
  return Object.fromEntries(
    policies.map((policy) => [
      String(policy.PolicyName),
      resolveIntrinsics(template, policy.PolicyDocument, options) as PolicyDocument,
    ]),
  );
}

/** Every statement of a role's inline policies, resolved. */
export function roleStatements(
  template: CloudFormationTemplate,
  roleLogicalId: string,
  options: ResolveOptions = {},
): PolicyStatement[] {
  return Object.values(rolePolicyDocuments(template, roleLogicalId, options)).flatMap(
    (document) => document.Statement,
  );
}

interface ResolveContext {
  readonly template: CloudFormationTemplate;
  readonly accountId: string;
  readonly region: string;
  readonly conditions: Readonly<Record<string, boolean>>;
}

function resolveNode(context: ResolveContext, node: unknown): unknown {
  if (Array.isArray(node)) {
    return node.map((item) => resolveNode(context, item)).filter((item) => item !== NO_VALUE);
  }
  if (node === null || typeof node !== "object") return node;
  const entries = Object.entries(node);
  const [first] = entries;
  if (entries.length === 1 && first !== undefined) {
    const [key, argument] = first;
    switch (key) {
      case "Ref":
        return resolveRef(context, String(argument));
      case "Fn::GetAtt": {
        const [id, attribute] = (
          Array.isArray(argument) ? argument : String(argument).split(".")
        ) as string[];
        return resolveGetAtt(context, String(id), String(attribute));
      }
      case "Fn::Sub":
        return resolveSub(context, argument);
      case "Fn::If": {
        const [condition, whenTrue, whenFalse] = argument as [string, unknown, unknown];
        return resolveNode(context, isTrue(context, condition) ? whenTrue : whenFalse);
      }
      case "Fn::Join": {
        const [separator, items] = argument as [string, unknown];
        return (resolveNode(context, items) as unknown[]).map(String).join(separator);
      }
      case "Fn::Split": {
        const [separator, source] = argument as [string, unknown];
        return String(resolveNode(context, source)).split(separator);
      }
      case "Fn::Select": {
        const [index, items] = argument as [unknown, unknown];
        return (resolveNode(context, items) as unknown[])[Number(resolveNode(context, index))];
      }
      case "Fn::Equals":
      case "Fn::Not":
      case "Fn::And":
      case "Fn::Or":
      case "Condition":
        return evaluate(context, node);
    }
  }
  const resolved: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    const item = resolveNode(context, value);
    if (item !== NO_VALUE) resolved[key] = item;
  }
  return resolved;
}

function isTrue(context: ResolveContext, name: string): boolean {
  const forced = context.conditions[name];
  if (forced !== undefined) return forced;
  const definition = context.template.Conditions?.[name];
  if (definition === undefined) throw new Error(`unknown condition ${name}`);
  return evaluate(context, definition);
}

function evaluate(context: ResolveContext, node: unknown): boolean {
  const [[key, argument] = ["", undefined]] = Object.entries(node as object);
  const items = argument as unknown[];
  switch (key) {
    case "Fn::Equals":
      return (
        JSON.stringify(resolveNode(context, items[0])) ===
        JSON.stringify(resolveNode(context, items[1]))
      );
    case "Fn::Not":
      return !evaluate(context, items[0]);
    case "Fn::And":
      return items.every((item) => evaluate(context, item));
    case "Fn::Or":
      return items.some((item) => evaluate(context, item));
    case "Condition":
      return isTrue(context, String(argument));
    default:
      throw new Error(`not a condition: ${JSON.stringify(node)}`);
  }
}

function resolveRef(context: ResolveContext, name: string): unknown {
  switch (name) {
    case "AWS::AccountId":
      return context.accountId;
    case "AWS::Region":
      return context.region;
    case "AWS::Partition":
      return "aws";
    case "AWS::URLSuffix":
      return "amazonaws.com";
    case "AWS::StackName":
      return `spacelift-role-vending-${PACKAGED_STAGE}`;
    case "AWS::NoValue":
      return NO_VALUE;
  }
  const resource = context.template.Resources?.[name];
  if (resource === undefined) throw new Error(`Ref to unknown resource ${name}`);
  switch (resource.Type) {
    case "AWS::SQS::Queue":
      return `https://sqs.${context.region}.amazonaws.com/${context.accountId}/${physicalName(context, name)}`;
    case "AWS::SNS::Topic":
      return `arn:aws:sns:${context.region}:${context.accountId}:${physicalName(context, name)}`;
    case "AWS::DynamoDB::Table":
    case "AWS::Lambda::Function":
    case "AWS::IAM::Role":
      return physicalName(context, name);
    default:
      return name;
  }
}

function physicalName(context: ResolveContext, logicalId: string): string {
  const properties = context.template.Resources?.[logicalId]?.Properties ?? {};
  const named =
    properties.QueueName ??
    properties.TopicName ??
    properties.TableName ??
    properties.FunctionName ??
    properties.RoleName;
  return named === undefined ? logicalId : String(resolveNode(context, named));
}

function resolveGetAtt(context: ResolveContext, logicalId: string, attribute: string): unknown {
  const resource = context.template.Resources?.[logicalId];
  if (resource === undefined) throw new Error(`GetAtt of unknown resource ${logicalId}`);
  const { region, accountId } = context;
  const name = physicalName(context, logicalId);
  const key = `${resource.Type}.${attribute}`;
  switch (key) {
    case "AWS::SQS::Queue.Arn":
      return `arn:aws:sqs:${region}:${accountId}:${name}`;
    case "AWS::SQS::Queue.QueueName":
      return name;
    case "AWS::SQS::Queue.QueueUrl":
      return resolveRef(context, logicalId);
    case "AWS::DynamoDB::Table.Arn":
      return `arn:aws:dynamodb:${region}:${accountId}:table/${name}`;
    case "AWS::Lambda::Function.Arn":
      return `arn:aws:lambda:${region}:${accountId}:function:${name}`;
    case "AWS::IAM::Role.Arn": {
      const path = String(resolveNode(context, resource.Properties?.Path ?? "/"));
      return `arn:aws:iam::${accountId}:role${path}${name}`;
    }
    case "AWS::KMS::Key.Arn":
      return `arn:aws:kms:${region}:${accountId}:key/${logicalId}`;
    case "AWS::Logs::LogGroup.Arn":
      return `arn:aws:logs:${region}:${accountId}:log-group:${String(resource.Properties?.LogGroupName)}:*`;
    default:
      throw new Error(`GetAtt ${logicalId}.${attribute} (${resource.Type}) is not modelled`);
  }
}

function resolveSub(context: ResolveContext, argument: unknown): string {
  const [text, variables] = (Array.isArray(argument) ? argument : [argument, {}]) as [
    string,
    Record<string, unknown>,
  ];
  return text.replace(/\$\{([^}]*)\}/g, (_, expression: string) => {
    // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
    if (expression.startsWith("!")) return `\${${expression.slice(1)}}`;
    if (expression in variables) return String(resolveNode(context, variables[expression]));
    if (expression.startsWith("AWS::")) return String(resolveRef(context, expression));
    const [id, attribute] = expression.split(".");
    return String(
      attribute === undefined
        ? resolveRef(context, String(id))
        : resolveGetAtt(context, String(id), attribute),
    );
  });
}
