/**
 * Cold start: each Lambda handler bundled the way serverless.yml ships it (esbuild with the
 * options of its `custom.esbuild` block, read from the file: minified ESM for node20, ESM
 * builds of dependencies preferred, AWS SDK inside the bundle, the SDK's default credential
 * chain replaced by Lambda's providers), against the same handler bundled naively (not
 * minified, default main fields, so the SDK's CommonJS builds, and the full credential chain). For each: bundle size, and the median time to import it in a fresh Node process —
 * importing a handler runs its composition (config validation, SDK client construction),
 * which is what a cold start pays before the first event.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type BuildOptions, build, type Metafile } from "esbuild";
import {
  bundledInputs,
  bundleHandler,
  deployedEsbuildOptions,
  loadedBytes,
  startupOutputs,
} from "../../testkit/lambda/lambda-bundle.ts";
import {
  type BenchOptions,
  formatKb,
  formatMs,
  type Row,
  type SectionResult,
} from "../lib/report.ts";
import { roundSummary, type Summary, summarize } from "../lib/stats.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const outDir = fileURLToPath(new URL("../out/", import.meta.url));
const BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/** What the handlers need to import: the variables their composition validates. */
const COMMON_ENV = {
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "testing",
  AWS_SECRET_ACCESS_KEY: "testing",
  // Lambda sets it; the receiver's Parameters and Secrets extension requires it.
  AWS_SESSION_TOKEN: "testing",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  POWERTOOLS_METRICS_DISABLED: "true",
  POWERTOOLS_LOG_LEVEL: "SILENT",
  POWERTOOLS_SERVICE_NAME: "spacelift-role-vending",
  SPACELIFT_HOSTNAME: "acme.app.spacelift.io",
  AWS_ACCOUNT_ID: "123456789012",
  ROLE_PATH: "/spacelift/",
  DEFAULT_POLICY_ARNS: "arn:aws:iam::aws:policy/ReadOnlyAccess",
  // Required, as deployed: the provisioner and the reconciler refuse to start without one.
  PERMISSIONS_BOUNDARY_ARN:
    "arn:aws:iam::123456789012:policy/spacelift-role-vending/spacelift-role-vending-boundary",
};

const FUNCTIONS: readonly { name: string; entry: string; env: Record<string, string> }[] = [
  {
    name: "receiver",
    entry: "functions/receiver.ts",
    env: {
      QUEUE_URL:
        "https://sqs.us-east-1.amazonaws.com/123456789012/spacelift-role-vending-events.fifo",
      WEBHOOK_SECRET_PARAMETER: "/spacelift-role-vending/webhook-secret",
      WEBHOOK_SECRET_PREVIOUS_PARAMETER: "/spacelift-role-vending/webhook-secret-previous",
    },
  },
  {
    name: "provisioner",
    entry: "functions/provisioner.ts",
    env: { LEDGER_TABLE: "spacelift-role-vending-dev-ledger" },
  },
  {
    name: "reconciler",
    entry: "functions/reconciler.ts",
    env: {
      LEDGER_TABLE: "spacelift-role-vending-dev-ledger",
      SPACELIFT_API_KEY_PARAMETER: "/spacelift-role-vending/spacelift-api-key",
      ORPHAN_GRACE_PERIOD_HOURS: "24",
    },
  },
];

type Variant = "minified" | "naive";

const PROVISIONER_CLIENTS =
  'import { IAMClient } from "@aws-sdk/client-iam"; import { SSMClient } from "@aws-sdk/client-ssm"; import { DynamoDBClient } from "@aws-sdk/client-dynamodb"; export const a = new IAMClient({}); export const b = new SSMClient({}); export const c = new DynamoDBClient({});';

/**
 * The handlers' largest dependencies, each bundled alone the way the handlers are, so the
 * import time of a handler can be split into what each dependency costs. `defaultChain`:
 * bundled without serverless.yml's credential-provider alias, to price the SDK's full chain.
 * `unbundled`: not bundled at all but imported from node_modules, as a function using the SDK
 * the Lambda runtime provides would load it (the runtime's copy is unpinned; this prices it).
 */
const COMPONENTS: readonly {
  name: string;
  contents: string;
  defaultChain?: true;
  unbundled?: true;
}[] = [
  { name: "empty module (baseline)", contents: "export const x = 1;" },
  {
    name: "Node built-ins the SDK loads (https, crypto, stream, zlib, fs/promises, os…)",
    contents:
      'import * as a from "node:https"; import * as b from "node:crypto"; import * as c from "node:stream"; import * as d from "node:zlib"; import * as e from "node:fs/promises"; import * as f from "node:os"; import * as g from "node:fs"; import * as h from "node:console"; import * as i from "node:async_hooks"; (globalThis as Record<string, unknown>).builtins = [a, b, c, d, e, f, g, h, i];',
  },
  {
    name: "@aws-sdk/client-sqs (the receiver's only client)",
    contents:
      'import { SQSClient } from "@aws-sdk/client-sqs"; export const a = new SQSClient({});',
  },
  {
    name: "@aws-sdk/client-ssm alone (the receiver loads it only when the extension fails)",
    contents:
      'import { SSMClient } from "@aws-sdk/client-ssm"; export const a = new SSMClient({});',
  },
  {
    name: "@aws-sdk/client-iam + ssm + dynamodb (provisioner's clients)",
    contents: PROVISIONER_CLIENTS,
  },
  {
    name: "the same three clients with the SDK's default credential chain",
    contents: PROVISIONER_CLIENTS,
    defaultChain: true,
  },
  {
    name: "the same three clients unbundled, from node_modules (as with the runtime-provided SDK)",
    contents: PROVISIONER_CLIENTS,
    unbundled: true,
  },
  {
    name: "zod/mini with its English messages (what functions/ use)",
    contents:
      'import * as z from "zod/mini"; import { en } from "zod/locales"; z.config(en()); export const s = z.object({ a: z.string() }); s.parse({ a: "x" });',
  },
  {
    name: "zod classic (for comparison)",
    contents:
      'import * as z from "zod"; export const s = z.object({ a: z.string() }); s.parse({ a: "x" });',
  },
  { name: "yaml", contents: 'import { parse } from "yaml"; export const v = parse("a: 1");' },
  {
    name: "@aws-lambda-powertools logger + metrics",
    contents:
      'import { Logger } from "@aws-lambda-powertools/logger"; import { Metrics } from "@aws-lambda-powertools/metrics"; export const l = new Logger(); export const m = new Metrics({ namespace: "x" });',
  },
];

interface Measured {
  readonly function: string;
  readonly variant: Variant;
  readonly file: string;
  readonly bytes: number;
  readonly lazyBytes: number;
  readonly importMs: Summary;
}

/** The naive baseline: what esbuild does with no tuning (main fields main,module: CommonJS). */
const NAIVE: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  banner: { js: BANNER },
  minify: false,
};

/** serverless.yml's options, without its alias when `defaultChain` asks for the SDK's chain. */
function deployedOptions(defaultChain = false): BuildOptions {
  const options = deployedEsbuildOptions(root);
  if (!defaultChain) return options;
  const { alias: _alias, ...withoutAlias } = options;
  return withoutAlias;
}

/** A bundle to time: the file to import and the JavaScript bytes importing it loads. */
interface Built {
  readonly file: string;
  /** The entry and its static imports: what a cold start loads. */
  readonly bytes: number;
  /** Chunks reached only by dynamic import(): shipped, loaded only if that code runs. */
  readonly lazyBytes: number;
  readonly contributors: Record<string, number>;
}

async function bundle(entry: string, name: string, variant: Variant): Promise<Built> {
  if (variant === "minified") {
    // Exactly as serverless.yml builds it: code-split into an entry and chunks.
    const built = await bundleHandler(entry, `${outDir}${name}.minified/`);
    return {
      file: built.entryFile,
      bytes: built.startupBytes,
      lazyBytes: built.lazyBytes,
      contributors: contributorsOf(built.metafile, startupOutputs(built.metafile, built.entryFile)),
    };
  }
  const outfile = `${outDir}${name}.${variant}.mjs`;
  const result = await build({
    ...NAIVE,
    entryPoints: [`${root}${entry}`],
    outfile,
    logLevel: "error",
    metafile: true,
  });
  return {
    file: outfile,
    bytes: statSync(outfile).size,
    lazyBytes: 0,
    contributors: contributorsOf(result.metafile),
  };
}

/** Output bytes by package (node_modules/<package>) or by source folder, largest first. */
function contributorsOf(metafile: Metafile, only?: ReadonlySet<string>): Record<string, number> {
  const bytes = new Map<string, number>();
  for (const [path, inOutput] of bundledInputs(metafile, only)) {
    const found = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    const key = found?.[1] ?? path.split("/").slice(0, 2).join("/");
    bytes.set(key, (bytes.get(key) ?? 0) + inOutput);
  }
  return Object.fromEntries([...bytes].sort(([, a], [, b]) => b - a));
}

async function bundleComponent(
  component: { readonly contents: string; readonly defaultChain?: true; readonly unbundled?: true },
  index: number,
): Promise<Built> {
  if (component.unbundled === true) {
    // Only TypeScript-free import statements: Node resolves them from the repository's
    // node_modules (bench/out/ is inside it), file by file, as it would the runtime's SDK.
    const file = `${outDir}dependency-${index}.mjs`;
    writeFileSync(file, component.contents);
    return { file, bytes: statSync(file).size, lazyBytes: 0, contributors: {} };
  }
  const outdir = `${outDir}dependency-${index}/`;
  const result = await build({
    ...deployedOptions(component.defaultChain === true),
    stdin: { contents: component.contents, resolveDir: root, loader: "ts" },
    outdir,
    logLevel: "error",
    metafile: true,
  });
  const file = `${outdir}stdin.mjs`;
  const { startupBytes, lazyBytes } = loadedBytes(result.metafile, file, root);
  return { file, bytes: startupBytes, lazyBytes, contributors: {} };
}

/** Time to import the bundle, measured inside a fresh process (process start excluded). */
function importOnce(file: string, env: Record<string, string>): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t);`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH ?? "", ...COMMON_ENV, ...env },
    encoding: "utf8",
  });
  if (child.status !== 0) {
    throw new Error(`importing ${file} failed: ${child.stderr.slice(0, 2000)}`);
  }
  const ms = Number(child.stdout.trim().split("\n").pop());
  if (!Number.isFinite(ms)) throw new Error(`no timing from ${file}: ${child.stdout}`);
  return ms;
}

export async function run(options: BenchOptions): Promise<SectionResult> {
  mkdirSync(outDir, { recursive: true });
  const present = FUNCTIONS.filter((fn) => existsSync(`${root}${fn.entry}`));
  const contributors: Record<string, Record<string, number>> = {};
  /** Every bundle to time: both variants of each handler, then each dependency alone. */
  const targets: ({ key: string; env: Record<string, string> } & Built)[] = [];
  for (const fn of present) {
    const minified = await bundle(fn.entry, fn.name, "minified");
    const naive = await bundle(fn.entry, fn.name, "naive");
    contributors[fn.name] = minified.contributors;
    targets.push({ key: `${fn.name}/minified`, env: fn.env, ...minified });
    targets.push({ key: `${fn.name}/naive`, env: fn.env, ...naive });
  }
  for (const [index, component] of COMPONENTS.entries()) {
    targets.push({
      key: `component/${index}`,
      env: {},
      ...(await bundleComponent(component, index)),
    });
  }
  const samples = new Map<string, number[]>(targets.map(({ key }) => [key, []]));
  // One untimed import each warms the OS file cache, as a provisioned Lambda disk is warm.
  for (const target of targets) importOnce(target.file, target.env);
  // Round-robin over every bundle, so load changes on this machine hit all of them alike and
  // the ratios compare like with like.
  for (let run = 0; run < options.coldStartRuns; run++) {
    for (const target of targets)
      samples.get(target.key)?.push(importOnce(target.file, target.env));
  }
  process.stderr.write(`  ${targets.length} bundles × ${options.coldStartRuns} imports\n`);
  const measuredOf = (key: string): Measured => {
    const target = targets.find((candidate) => candidate.key === key);
    if (target === undefined) throw new Error(`no bundle ${key}`);
    const [name = "", variant = "minified"] = key.split("/");
    return {
      function: name,
      variant: variant as Variant,
      file: target.file.slice(root.length),
      bytes: target.bytes,
      lazyBytes: target.lazyBytes,
      importMs: summarize(samples.get(key) ?? []),
    };
  };

  const measured: Measured[] = [];
  const rows: Row[] = [];
  const ratios: Record<string, { size: number; importTime: number }> = {};
  for (const fn of present) {
    const minified = measuredOf(`${fn.name}/minified`);
    const naive = measuredOf(`${fn.name}/naive`);
    measured.push(minified, naive);
    ratios[fn.name] = {
      size: naive.bytes / minified.bytes,
      importTime: naive.importMs.median / minified.importMs.median,
    };
    rows.push(
      {
        metric: `${fn.name}: bundle size`,
        value: `${formatKb(minified.bytes)} loaded at start (+ ${formatKb(minified.lazyBytes)} in chunks loaded only on use); naive ${formatKb(naive.bytes)}, ${ratios[fn.name]?.size.toFixed(2)}× larger`,
        target: "< 250 KB",
        met: minified.bytes < 250 * 1024,
      },
      {
        metric: `${fn.name}: import time`,
        value: `${formatMs(minified.importMs.median)} (p25–p75 ${formatMs(minified.importMs.p25)}–${formatMs(minified.importMs.p75)}); naive ${formatMs(naive.importMs.median)} (p25–p75 ${formatMs(naive.importMs.p25)}–${formatMs(naive.importMs.p75)}), ${ratios[fn.name]?.importTime.toFixed(2)}× slower; ${options.coldStartRuns} runs`,
        target: "< 40 ms",
        met: minified.importMs.median < 40,
      },
    );
  }
  const components = COMPONENTS.map((component, index) => {
    const { bytes, importMs } = measuredOf(`component/${index}`);
    return { name: component.name, bytes, importMs };
  });
  const top = (name: string) =>
    Object.entries(contributors[name] ?? {})
      .slice(0, 6)
      .map(([pkg, bytes]) => `${pkg} ${formatKb(bytes)}`)
      .join(", ");
  const missing = FUNCTIONS.filter((fn) => !present.includes(fn)).map((fn) => fn.entry);
  return {
    section: "3",
    title: "Cold start (esbuild bundle, minified ESM vs naive CJS-main bundle)",
    rows,
    notes: [
      "Import time is measured inside a fresh `node` process (its own start-up excluded): it covers parsing and evaluating the bundle and the handler's composition (config validation, SDK clients).",
      "Sizes are the JavaScript an import loads: serverless.yml code-splits each handler, so the chunks reached only through a dynamic import() (the SDK's event-stream codec, yaml for a YAML permissions file, STS for target accounts) ship in the zip but load only if that code runs; they are counted apart.",
      ...present.map((fn) => `Largest parts of the minified ${fn.name} bundle: ${top(fn.name)}.`),
      `Dependencies alone (bundled as the handlers are, sizes = what an import loads, unless said otherwise; median import over ${options.coldStartRuns} runs; the unbundled row's size is its import file only): ${components
        .map(
          (component) =>
            `${component.name} ${formatKb(component.bytes)} ${formatMs(component.importMs.median)}`,
        )
        .join("; ")}.`,
      `Bundles are in bench/out/. ${missing.length > 0 ? `Not measured (absent): ${missing.join(", ")}.` : "All three handlers measured."}`,
      "Limiting factor: JavaScript to load before the first event — the Node built-ins the SDK needs (https, crypto, stream, zlib), then the AWS SDK clients' own code, which is most of each bundle, then zod and Powertools (yaml, in the provisioner and reconciler bundles, is evaluated only for a YAML permissions file, so not here); on Lambda, arm64 at 256–512 MB has less CPU than this machine, so expect the import to take longer there (the ratio holds).",
    ],
    data: {
      runs: options.coldStartRuns,
      esbuild: {
        minified: { ...deployedOptions(), absWorkingDir: "." },
        naive: NAIVE,
      },
      bundles: measured.map((entry) => ({ ...entry, importMs: roundSummary(entry.importMs, 2) })),
      ratios,
      contributorsBytes: contributors,
      components: components.map((component) => ({
        ...component,
        importMs: roundSummary(component.importMs, 2),
      })),
      missing,
    },
  };
}
