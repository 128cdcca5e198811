/**
 * The chunks-per-entry plugin on a small build of its own: nested import()s, a chunk shared by
 * the entry and one of its lazy chunks, an import() that tree shaking removed, and a second
 * entry built into the same directory (serverless-esbuild's layout). The zip test
 * (test/package/template.test.ts) checks the real handlers; this pins the shapes they may not
 * have yet.
 */
import { execFileSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import { afterEach, describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);
const plugins = require("../../../../tools/esbuild/chunks-per-entry.cjs") as Plugin[];

const SOURCES: Record<string, string> = {
  "entry.mjs": `import { shared } from "./shared.mjs";
const never = () => import("./dead.mjs");
export async function handler() {
  const a = await import("./a.mjs");
  return shared() + (await a.run());
}`,
  "a.mjs": `import { shared } from "./shared.mjs";
export async function run() {
  const b = await import("./b.mjs");
  return shared() + b.value;
}`,
  "b.mjs": `export const value = "b-marker";`,
  "shared.mjs": `export function shared() { return "shared-marker;"; }`,
  "dead.mjs": `export const dead = "dead-marker";`,
  "other.mjs": `import { shared } from "./shared.mjs";
export async function handler() { return shared() + (await import("./c.mjs")).value; }`,
  "c.mjs": `export const value = "c-marker";`,
};

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0))
    rmSync(directory, { recursive: true, force: true });
});

/** Every file under `directory`, relative to it. */
function filesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1))
    .sort();
}

describe("chunks-per-entry", () => {
  it("gives an entry every chunk its nested import()s and shared modules need, in its own folder, and none of a tree-shaken import() or another entry", async () => {
    const root = mkdtempSync(join(tmpdir(), "chunks-per-entry-"));
    directories.push(root);
    mkdirSync(join(root, "src"));
    for (const [name, text] of Object.entries(SOURCES))
      writeFileSync(join(root, "src", name), text);
    // Like serverless-esbuild: one build per entry, all into one output directory.
    for (const entry of ["entry", "other"]) {
      await build({
        absWorkingDir: root,
        entryPoints: [`src/${entry}.mjs`],
        outdir: "out",
        outbase: "src",
        bundle: true,
        splitting: true,
        format: "esm",
        outExtension: { ".js": ".mjs" },
        sourcemap: true,
        treeShaking: true,
        plugins,
        logLevel: "silent",
      });
    }
    const out = join(root, "out");
    // What the entry's zip holds: its handler and what "looks derived" from it.
    const zip = join(root, "zip");
    for (const file of filesUnder(out).filter((file) => file.startsWith("entry."))) {
      cpSync(join(out, file), join(zip, file), { recursive: true });
    }

    const answer = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { handler } = await import(${JSON.stringify(pathToFileURL(join(zip, "entry.mjs")).href)}); process.stdout.write(await handler());`,
      ],
      { encoding: "utf8" },
    );

    expect(answer).toBe("shared-marker;shared-marker;b-marker");
    const everything = filesUnder(out).map((file) => readFileSync(join(out, file), "utf8"));
    expect(everything.some((text) => text.includes("dead-marker"))).toBe(false);
    const zipped = filesUnder(zip).map((file) => readFileSync(join(zip, file), "utf8"));
    expect(zipped.some((text) => text.includes("c-marker"))).toBe(false);
    expect(filesUnder(zip).filter((file) => file.endsWith(".mjs"))).toHaveLength(4);
  });
});
