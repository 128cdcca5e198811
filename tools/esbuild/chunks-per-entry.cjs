/**
 * esbuild plugin (serverless.yml's `custom.esbuild.plugins`) that makes each function's zip
 * carry exactly the chunks its handler can load, statically or through `import()`:
 *
 * - each entry's code-split chunks go into a directory of their own, `<entry>.chunks/`, next to
 *   the entry (`functions/receiver.mjs` imports `./receiver.chunks/chunk-….mjs`).
 *   serverless-esbuild builds every function apart (one entry per esbuild build) but into one
 *   output directory, and zips that whole directory minus the other functions' handler files
 *   and what "looks derived" from them (paths starting with `functions/<other>.`): so a zip
 *   carries its own chunks and none of another function's, which in one flat directory of
 *   `chunk-<hash>.mjs` files it could not tell apart;
 * - the chunks the entry cannot reach are deleted once written: esbuild still emits a chunk for
 *   an `import()` that tree shaking removed (the SDK's browser user-agent parser, `bowser`, in
 *   every handler; `yaml` in the catch-up's), which would otherwise ship unused.
 *
 * CommonJS because serverless-esbuild loads this file with `require()`.
 */
const { rmSync } = require("node:fs");
const { basename, extname, resolve } = require("node:path");

/** The output files (metafile keys) `entryOutput` reaches through its imports, transitively. */
function reachableOutputs(metafile, entryOutput, workingDir) {
  const keyOf = new Map(
    Object.keys(metafile.outputs).map((key) => [resolve(workingDir, key), key]),
  );
  const reached = new Set();
  const visit = (key) => {
    if (key === undefined || reached.has(key)) return;
    reached.add(key);
    for (const record of metafile.outputs[key]?.imports ?? []) {
      if (!record.external) visit(keyOf.get(resolve(workingDir, record.path)));
    }
  };
  visit(entryOutput);
  return reached;
}

/** @type {import("esbuild").Plugin} */
const chunksPerEntry = {
  name: "chunks-per-entry",
  setup(build) {
    const options = build.initialOptions;
    const entries = Array.isArray(options.entryPoints) ? options.entryPoints : [];
    // One entry file (serverless-esbuild builds each function apart), or stdin (the benchmark's
    // dependency bundles), whose output metafile names `<stdin>`.
    const [entry] = entries;
    if (entries.length > 1 || (entry === undefined && options.stdin === undefined)) {
      throw new Error("chunks-per-entry: expected one entry point per build (serverless-esbuild)");
    }
    const path = entry === undefined ? undefined : typeof entry === "string" ? entry : entry.in;
    const name = path === undefined ? "stdin" : basename(path, extname(path));
    options.chunkNames = `${name}.chunks/${options.chunkNames ?? "[name]-[hash]"}`;
    options.metafile = true;

    build.onEnd((result) => {
      if (result.errors.length > 0 || result.metafile === undefined || options.write === false) {
        return;
      }
      const workingDir = options.absWorkingDir ?? process.cwd();
      const outputs = Object.entries(result.metafile.outputs);
      // Chunks of dynamic imports name an entry point too: the build's own is the one wanted.
      const entryOutput = outputs.find(
        ([, output]) =>
          output.entryPoint !== undefined &&
          (path === undefined
            ? output.entryPoint === "<stdin>"
            : resolve(workingDir, output.entryPoint) === resolve(workingDir, path)),
      )?.[0];
      if (entryOutput === undefined)
        throw new Error(`chunks-per-entry: no output for ${path ?? "stdin"}`);
      const reached = reachableOutputs(result.metafile, entryOutput, workingDir);
      for (const [key] of outputs) {
        const script = key.endsWith(".map") ? key.slice(0, -".map".length) : key;
        if (!reached.has(script)) rmSync(resolve(workingDir, key), { force: true });
      }
    });
  },
};

module.exports = [chunksPerEntry];
