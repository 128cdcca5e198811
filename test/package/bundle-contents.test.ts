/**
 * What each handler bundle carries, as serverless.yml's esbuild options build it, of the
 * libraries that weigh on a cold start:
 * - zod: zod/mini and its English messages, never zod's classic API (a method-laden object per
 *   schema, and its JSON Schema code: about 80 KB and 7 ms of every cold start) nor its other
 *   locales (about 260 KB, which `z.locales.en()` would bring in);
 * - yaml: reached only through a dynamic import, which esbuild's code splitting (serverless.yml)
 *   puts in a chunk of its own, so a JSON or default permissions configuration never loads it;
 *   nor does any cold start load the SDK's event-stream codec, which none of our calls uses;
 * - STS, which the provisioner and reconciler need only with the permissions file's `accounts`:
 *   reached only through a dynamic import, so a one-account deployment never loads it;
 * - the receiver's SSM client, its fallback when the Parameters and Secrets extension fails to
 *   answer: reached only through a dynamic import, so its cold start does not load it.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import {
  bundledInputs,
  bundleHandler,
  type HandlerBundle,
  startupOutputs,
} from "../../testkit/lambda/lambda-bundle.ts";

/** The files of a package that reached the outputs, relative to the package. */
function packageFiles(metafile: Metafile, name: string): string[] {
  const prefix = `node_modules/${name}/`;
  return [...bundledInputs(metafile).keys()]
    .filter((path) => path.includes(prefix))
    .map((path) => path.slice(path.indexOf(prefix) + prefix.length));
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

/** Inputs that reached the outputs a cold start loads: the entry and its static imports. */
function startupInputs(metafile: Metafile, entryFile: string): string[] {
  return [...bundledInputs(metafile, startupOutputs(metafile, entryFile)).keys()];
}

describe.each(["receiver", "provisioner", "reconciler"])("the bundled %s", (name) => {
  let metafile: Metafile;
  let bundle: HandlerBundle;

  beforeAll(async () => {
    bundle = await bundleHandler(
      `functions/${name}.ts`,
      mkdtempSync(join(tmpdir(), `bundle-${name}-`)),
      { sourcemap: false, write: false },
    );
    ({ metafile } = bundle);
  });

  it("carries zod/mini with English messages, not zod's classic API or other locales", () => {
    const zod = packageFiles(metafile, "zod");

    expect(zod.filter((path) => path.startsWith("v4/mini/"))).not.toEqual([]);
    expect(zod.filter((path) => path.startsWith("v4/classic/"))).toEqual([]);
    expect(zod.filter((path) => path.includes("locales/"))).toEqual(["v4/locales/en.js"]);
  });

  it("imports yaml, if at all, only dynamically (loaded on first use)", () => {
    const kinds = importKinds(metafile, "yaml");

    expect(new Set(kinds)).toEqual(new Set(name === "receiver" ? [] : ["dynamic-import"]));
  });

  it("loads neither yaml nor the SDK's event-stream codec at a cold start", () => {
    const startup = startupInputs(metafile, bundle.entryFile);

    expect(startup.some((path) => path.includes("node_modules/@smithy/core/"))).toBe(true);
    expect(startup.filter((path) => path.includes("node_modules/yaml/"))).toEqual([]);
    expect(startup.filter((path) => path.includes("/event-streams/"))).toEqual([]);
    expect(bundle.lazyBytes).toBeGreaterThan(0);
  });

  it("counts as loaded on use only chunks an import() reaches, not the chunk of a tree-shaken one", () => {
    const scripts = Object.entries(metafile.outputs).filter(([key]) => !key.endsWith(".map"));
    // esbuild writes a chunk for the SDK's browser user-agent parser, whose import() it removed.
    const unreachable = scripts.filter(([key]) => basename(key).startsWith("bowser-"));
    const total = scripts.reduce((sum, [, output]) => sum + output.bytes, 0);

    expect(unreachable).toHaveLength(1);
    expect(bundle.startupBytes + bundle.lazyBytes).toBe(total - (unreachable[0]?.[1].bytes ?? 0));
  });

  it("loads STS only for target accounts (a dynamic import), never at a cold start", () => {
    const sts = (paths: Iterable<string>) =>
      [...paths].filter((path) => path.includes("node_modules/@aws-sdk/client-sts/"));

    expect(sts(startupInputs(metafile, bundle.entryFile))).toEqual([]);
    expect(new Set(importKinds(metafile, "@aws-sdk/client-sts"))).toEqual(
      new Set(name === "receiver" ? [] : ["import-statement"]),
    );
    // The product's own STS modules are reached from the entry only through import().
    const stsModules = Object.entries(metafile.inputs)
      .flatMap(([, input]) => input.imports)
      .filter(({ path }) => /functions\/adapters\/sts-(client|account-access)\.ts$/.test(path));
    expect(new Set(stsModules.map(({ kind }) => kind))).toEqual(
      new Set(name === "receiver" ? [] : ["dynamic-import"]),
    );
  });
});

describe("the bundled receiver's SSM client", () => {
  it("is only in a chunk loaded when the extension fails, never in the cold start", async () => {
    const bundle = await bundleHandler(
      "functions/receiver.ts",
      mkdtempSync(join(tmpdir(), "bundle-receiver-ssm-")),
      { sourcemap: false, write: false },
    );
    const ssmFiles = (paths: Iterable<string>) =>
      [...paths].filter((path) => path.includes("node_modules/@aws-sdk/client-ssm/"));

    expect(ssmFiles(startupInputs(bundle.metafile, bundle.entryFile))).toEqual([]);
    expect(ssmFiles(bundledInputs(bundle.metafile).keys())).not.toEqual([]);
    expect(
      Object.entries(bundle.metafile.inputs)
        .flatMap(([, input]) => input.imports)
        .filter((record) => record.path.endsWith("functions/adapters/ssm-secret-reader.ts"))
        .map((record) => record.kind),
    ).toEqual(["dynamic-import"]);
  });
});
