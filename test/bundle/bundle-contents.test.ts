/**
 * What each handler bundle carries of zod, as serverless.yml's esbuild options build it: zod/mini
 * and its English messages, never zod's classic API (a method-laden object per schema, and its
 * JSON Schema code: about 80 KB and 7 ms of every cold start) nor its other locales (about
 * 260 KB, which `z.locales.en()` would bring in).
 */
import type { Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { bundleHandler } from "../../scripts/lib/lambda-bundle.ts";

/** The files of a package that reached the output, relative to the package. */
function packageFiles(metafile: Metafile, name: string): string[] {
  const inputs = Object.values(metafile.outputs).flatMap((output) => Object.entries(output.inputs));
  const prefix = `node_modules/${name}/`;
  return inputs
    .filter(([path, input]) => path.includes(prefix) && input.bytesInOutput > 0)
    .map(([path]) => path.slice(path.indexOf(prefix) + prefix.length));
}

describe.each(["receiver", "provisioner", "reconciler"])("the bundled %s", (name) => {
  it("carries zod/mini with English messages, not zod's classic API or other locales", async () => {
    const { metafile } = await bundleHandler(`functions/${name}.ts`, `/tmp/${name}.mjs`, {
      sourcemap: false,
      write: false,
    });
    const zod = packageFiles(metafile, "zod");

    expect(zod.filter((path) => path.startsWith("v4/mini/"))).not.toEqual([]);
    expect(zod.filter((path) => path.startsWith("v4/classic/"))).toEqual([]);
    expect(zod.filter((path) => path.includes("locales/"))).toEqual(["v4/locales/en.js"]);
  });
});
