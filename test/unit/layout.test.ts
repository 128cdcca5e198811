/**
 * The shape of the tree, as docs/architecture.md describes it: imports point down (the core
 * imports no adapter and no AWS SDK, `functions/` imports no test code), no cycles, tests mirror
 * the code, and the test helpers live in the one kit every other directory imports.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const TOP = ["functions", "testkit", "test", "scripts", "bench"] as const;

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mjs)$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .filter((file) => !file.startsWith("bench/out/"));
}

const files = TOP.flatMap(sources);
const SPECIFIER = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
/** `import type … from "…";`: erased at build time, no edge at run time. */
const TYPE_ONLY = /\b(?:import|export)\s+type\s[^;]*?\bfrom\s+["'][^"']+["'];?/g;

function importsIn(file: string, text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((match) => {
    const specifier = match[1] ?? "";
    return specifier.startsWith(".")
      ? relative(ROOT, resolve(ROOT, dirname(file), specifier))
      : specifier;
  });
}

const texts = new Map(files.map((file) => [file, readFileSync(join(ROOT, file), "utf8")]));
/** Each file's imports: repository-relative paths for local modules, package names otherwise. */
const imports = new Map(files.map((file) => [file, importsIn(file, texts.get(file) ?? "")]));
/** The same without type-only imports: what loads what at run time. */
const runtimeImports = new Map(
  files.map((file) => [file, importsIn(file, (texts.get(file) ?? "").replace(TYPE_ONLY, ""))]),
);

function importersOf(predicate: (target: string) => boolean, from: (file: string) => boolean) {
  return [...imports]
    .filter(([file]) => from(file))
    .flatMap(([file, targets]) =>
      targets.filter(predicate).map((target) => `${file} -> ${target}`),
    );
}

describe("the tree's layout", () => {
  it("has found the sources it checks", () => {
    expect(files.filter((file) => file.startsWith("functions/core/")).length).toBeGreaterThan(40);
    expect(files.filter((file) => file.endsWith(".test.ts")).length).toBeGreaterThan(90);
    expect(imports.get("functions/core/provision.ts")).toContain("functions/core/ports.ts");
    expect(imports.get("functions/core/errors.ts")).toContain("functions/core/catch-up.ts");
    expect(runtimeImports.get("functions/core/errors.ts")).not.toContain(
      "functions/core/catch-up.ts",
    );
  });

  it("nothing outside test/ imports test/", () => {
    expect(
      importersOf(
        (target) => target.startsWith("test/"),
        (file) => !file.startsWith("test/"),
      ),
    ).toEqual([]);
  });

  it("functions/ imports no test kit, script or bench code", () => {
    expect(
      importersOf(
        (target) => /^(test|testkit|scripts|bench)\//.test(target),
        (file) => file.startsWith("functions/"),
      ),
    ).toEqual([]);
  });

  it("the core imports only the core, zod, yaml and Node: no adapter, no AWS SDK", () => {
    expect(
      importersOf(
        (target) =>
          target.startsWith("@aws-sdk/") ||
          (target.startsWith("functions/") && !target.startsWith("functions/core/")),
        (file) => file.startsWith("functions/core/"),
      ),
    ).toEqual([]);
  });

  it("functions/ has no import cycle at run time", () => {
    const graph = new Map(
      [...runtimeImports]
        .filter(([file]) => file.startsWith("functions/"))
        .map(([file, targets]) => [
          file,
          targets.filter((target) => target.startsWith("functions/")),
        ]),
    );
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const visit = (file: string, path: readonly string[]): void => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
        return;
      }
      state.set(file, "open");
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, "done");
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it("no module in functions/ is longer than 400 lines", () => {
    const long = files
      .filter((file) => file.startsWith("functions/"))
      .map((file) => [file, (texts.get(file) ?? "").split("\n").length] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });

  it("test/ holds tests only, each in the folder of its kind", () => {
    const misplaced = files
      .filter((file) => file.startsWith("test/"))
      .filter(
        (file) =>
          !file.endsWith(".test.ts") ||
          !/^test\/(unit|integration|e2e|faults|policy|package|infra)\//.test(file),
      );
    expect(misplaced).toEqual([]);
  });

  it("unit tests never reach moto_server", () => {
    const moto = "testkit/aws/moto.ts";
    const reaches = (file: string, seen = new Set<string>()): boolean => {
      if (file === moto) return true;
      if (seen.has(file)) return false;
      seen.add(file);
      return (imports.get(file) ?? [])
        .filter((target) => target.startsWith("testkit/"))
        .some((target) => reaches(target, seen));
    };
    const unit = files.filter((file) => file.startsWith("test/unit/"));
    expect(unit.filter((file) => reaches(file))).toEqual([]);
  });
});
