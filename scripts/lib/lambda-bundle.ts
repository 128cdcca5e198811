/**
 * Builds a Lambda handler the way `osls package` does, without packaging: with the esbuild
 * options serverless.yml gives serverless-esbuild (`custom.esbuild`), read from the file itself
 * so that the cold-start benchmark and the bundle tests measure and test what ships.
 *
 * @example
 * const { metafile } = await bundleHandler("functions/receiver.ts", "/tmp/out/receiver.mjs");
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build, type Metafile } from "esbuild";
import { parseDocument } from "yaml";

/** The repository root (this file is scripts/lib/lambda-bundle.ts). */
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

/**
 * The esbuild options of serverless.yml's `custom.esbuild`, as serverless-esbuild passes them
 * to esbuild (its own settings removed, `exclude` added to `external`), run from the service
 * directory as `osls` runs it, so relative `alias` targets resolve the same way.
 */
export function deployedEsbuildOptions(serviceDir: string = SERVICE_DIR): BuildOptions {
  // CloudFormation tags (!Sub, !Ref) elsewhere in the file are not YAML the library knows; the
  // esbuild block has none, so their warnings are irrelevant here.
  const document = parseDocument(readFileSync(join(serviceDir, "serverless.yml"), "utf8"), {
    logLevel: "silent",
  });
  const block = document.getIn(["custom", "esbuild"]);
  if (block === undefined || block === null || typeof block !== "object" || !("toJSON" in block)) {
    throw new Error("serverless.yml has no custom.esbuild block");
  }
  const settings = (block as { toJSON(): Record<string, unknown> }).toJSON();
  if (settings.plugins !== undefined || settings.config !== undefined) {
    throw new Error("custom.esbuild plugins/config files are not supported by bundleHandler");
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!PLUGIN_KEYS.has(key)) options[key] = value;
  }
  const asList = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);
  const exclude = asList(settings.exclude);
  return {
    ...(options as BuildOptions),
    external: [...asList(settings.external), ...(exclude.includes("*") ? [] : exclude)],
    absWorkingDir: serviceDir,
  };
}

/**
 * Bundles one handler (`entry` relative to the service directory) into `outfile` with the
 * deployed options; `overrides` replace some of them (e.g. `sourcemap: false`).
 */
export async function bundleHandler(
  entry: string,
  outfile: string,
  overrides: BuildOptions = {},
): Promise<{ outfile: string; metafile: Metafile }> {
  const result = await build({
    ...deployedEsbuildOptions(),
    ...overrides,
    entryPoints: [join(SERVICE_DIR, entry)],
    outfile,
    metafile: true,
    logLevel: "error",
  });
  return { outfile, metafile: result.metafile };
}
