/**
 * What each handler bundle carries, as serverless.yml's esbuild options build it, of the
 * libraries that weigh on a cold start:
 * - zod: zod/mini and its English messages, never zod's classic API (a method-laden object per
 *   schema, and its JSON Schema code: about 80 KB and 7 ms of every cold start) nor its other
 *   locales (about 260 KB, which `z.locales.en()` would bring in);
 * - yaml: reached only through a dynamic import, which esbuild (without code splitting) turns
 *   into a module evaluated on first use, so a JSON or default permissions configuration never
 *   evaluates it.
 */
import type { Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleHandler } from "../../scripts/lib/lambda-bundle.ts";

/** The files of a package that reached the output, relative to the package. */
function packageFiles(metafile: Metafile, name: string): string[] {
  const inputs = Object.values(metafile.outputs).flatMap((output) => Object.entries(output.inputs));
  const prefix = `node_modules/${name}/`;
  return inputs
    .filter(([path, input]) => path.includes(prefix) && input.bytesInOutput > 0)
    .map(([path]) => path.slice(path.indexOf(prefix) + prefix.length));
}

/** How files outside a package import it: `import-statement`, `dynamic-import`… */
function importKinds(metafile: Metafile, name: string): string[] {
  const inside = `node_modules/${name}/`;
  return Object.entries(metafile.inputs)
    .filter(([path]) => !path.includes(inside))
    .flatMap(([, input]) => input.imports)
    .filter((record) => record.path.includes(inside))
    .map((record) => record.kind);
}

describe.each(["receiver", "provisioner", "reconciler"])("the bundled %s", (name) => {
  let metafile: Metafile;

  beforeAll(async () => {
    ({ metafile } = await bundleHandler(`functions/${name}.ts`, `/tmp/${name}.mjs`, {
      sourcemap: false,
      write: false,
    }));
  });

  it("carries zod/mini with English messages, not zod's classic API or other locales", () => {
    const zod = packageFiles(metafile, "zod");

    expect(zod.filter((path) => path.startsWith("v4/mini/"))).not.toEqual([]);
    expect(zod.filter((path) => path.startsWith("v4/classic/"))).toEqual([]);
    expect(zod.filter((path) => path.includes("locales/"))).toEqual(["v4/locales/en.js"]);
  });

  it("imports yaml, if at all, only dynamically (evaluated on first use)", () => {
    const kinds = importKinds(metafile, "yaml");

    expect(new Set(kinds)).toEqual(new Set(name === "receiver" ? [] : ["dynamic-import"]));
  });
});
