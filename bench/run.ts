/**
 * `npm run bench`: runs each benchmark section in a fresh Node process, one after another (so
 * they never compete for this machine's cores), prints one table and writes bench/results.json.
 *
 *   npm run bench                                  all sections, default sizes (~3 min)
 *   npm run bench -- --only receiver,cold-start    some sections (results.json keeps the others)
 *   npm run bench -- --only burst --burst-events 1000 --burst-rate 10   the issue's full burst (~6 min)
 *
 *   npm run bench -- --only reconcile-scale        the reconciler at 1,000 and 10,000 stacks (long)
 *
 * Sections: receiver, api-economy, cold-start, burst, role-latency, accounts, reconcile-scale (not
 * in the default run: it takes many minutes). Options: --receiver-events,
 * --receiver-runs, --reconcile-stacks, --cold-start-runs, --burst-events, --burst-rate,
 * --burst-bucket, --burst-policies, --burst-concurrency, --burst-visibility, --burst-runs,
 * --role-latency-events, --reconcile-scale-sizes (default 1000,10000), --reconcile-scale-spaces
 * (300), --reconcile-scale-sample (100), --account-creates (50) (see BENCHMARKS.md).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type BenchOptions, renderTable, type SectionResult } from "./lib/report.ts";

const SECTIONS = [
  "receiver",
  "api-economy",
  "cold-start",
  "burst",
  "role-latency",
  "accounts",
  "reconcile-scale",
] as const;
/** Sections run only when named with --only. */
const ON_REQUEST: readonly string[] = ["reconcile-scale"];
const root = fileURLToPath(new URL("..", import.meta.url));
const resultsFile = join(root, "bench", "results.json");

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    "receiver-events": { type: "string", default: "10000" },
    "receiver-runs": { type: "string", default: "7" },
    "reconcile-stacks": { type: "string", default: "100" },
    "cold-start-runs": { type: "string", default: "15" },
    "burst-events": { type: "string", default: "300" },
    "burst-rate": { type: "string", default: "10" },
    "burst-bucket": { type: "string" },
    "burst-policies": { type: "string", default: "0" },
    "burst-concurrency": { type: "string", default: "2" },
    "burst-visibility": { type: "string", default: "360" },
    "burst-runs": { type: "string" },
    "role-latency-events": { type: "string", default: "40" },
    "reconcile-scale-sizes": { type: "string", default: "1000,10000" },
    "reconcile-scale-spaces": { type: "string", default: "300" },
    "reconcile-scale-sample": { type: "string", default: "100" },
    "account-creates": { type: "string", default: "50" },
    help: { type: "boolean", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    `${readFileSync(fileURLToPath(import.meta.url), "utf8")
      .split("*/")[0]
      ?.replace(/^\/\*\*?|^ \* ?/gm, "")}\n`,
  );
  process.exit(0);
}

const positive = (name: string, value: string | undefined): number => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    process.stderr.write(`--${name} must be a positive number (got ${value})\n`);
    process.exit(2);
  }
  return parsed;
};
const nonNegative = (name: string, value: string | undefined): number =>
  value === "0" ? 0 : positive(name, value);

const burstRate = positive("burst-rate", values["burst-rate"]);
const burstEvents = positive("burst-events", values["burst-events"]);
const burstPolicies = nonNegative("burst-policies", values["burst-policies"]);
// Three runs give a spread; a burst whose floor is a minute or more runs once (time budget).
const burstFloorSeconds = (burstEvents * (1 + burstPolicies)) / burstRate;
const options: BenchOptions = {
  receiverEvents: positive("receiver-events", values["receiver-events"]),
  receiverRuns: positive("receiver-runs", values["receiver-runs"]),
  reconcileStacks: positive("reconcile-stacks", values["reconcile-stacks"]),
  coldStartRuns: positive("cold-start-runs", values["cold-start-runs"]),
  burstEvents,
  burstRate,
  // One second's worth of writes, as AWS token buckets usually hold (at least one).
  burstBucket: positive("burst-bucket", values["burst-bucket"] ?? String(Math.max(1, burstRate))),
  burstPolicies,
  burstConcurrency: positive("burst-concurrency", values["burst-concurrency"]),
  burstVisibilitySeconds: positive("burst-visibility", values["burst-visibility"]),
  burstRuns: positive("burst-runs", values["burst-runs"] ?? (burstFloorSeconds >= 60 ? "1" : "3")),
  roleLatencyEvents: positive("role-latency-events", values["role-latency-events"]),
  reconcileScaleSizes: (values["reconcile-scale-sizes"] ?? "")
    .split(",")
    .map((size) => positive("reconcile-scale-sizes", size.trim())),
  reconcileScaleSpaces: positive("reconcile-scale-spaces", values["reconcile-scale-spaces"]),
  reconcileScaleSample: positive("reconcile-scale-sample", values["reconcile-scale-sample"]),
  accountCreates: positive("account-creates", values["account-creates"]),
};

const selected =
  values.only === undefined
    ? SECTIONS.filter((name) => !ON_REQUEST.includes(name))
    : values.only.split(",").map((s) => s.trim());
for (const name of selected) {
  if (!(SECTIONS as readonly string[]).includes(name)) {
    process.stderr.write(`unknown section ${name}; sections: ${SECTIONS.join(", ")}\n`);
    process.exit(2);
  }
}

const scratch = mkdtempSync(join(tmpdir(), "bench-"));
type SectionRecord = SectionResult & {
  generatedAt: string;
  wallSeconds: number;
  /** 1-minute load average before and after: other work on the machine skews timings. */
  loadAverage: { before: number; after: number };
};
const results: SectionRecord[] = [];
let failures = 0;
for (const name of selected) {
  process.stderr.write(`\n▶ ${name}\n`);
  const resultFile = join(scratch, `${name}.json`);
  const started = performance.now();
  const loadBefore = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", join(root, "bench", "section.ts"), name, resultFile],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit"],
      env: {
        ...process.env,
        BENCH_OPTIONS: JSON.stringify(options),
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        POWERTOOLS_METRICS_DISABLED: "true",
        POWERTOOLS_LOG_LEVEL: "SILENT",
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_REGION: "us-east-1",
      },
    },
  );
  const wallSeconds = Math.round((performance.now() - started) / 100) / 10;
  const loadAverage = {
    before: loadBefore,
    after: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
  if (child.status !== 0 || !existsSync(resultFile)) {
    failures++;
    results.push({
      section: name,
      title: `${name} FAILED (exit ${child.status ?? child.signal}); see the output above`,
      rows: [],
      notes: [],
      data: { error: `exit ${child.status ?? child.signal}` },
      generatedAt: new Date().toISOString(),
      wallSeconds,
      loadAverage,
    });
    continue;
  }
  const result = JSON.parse(readFileSync(resultFile, "utf8")) as SectionResult;
  results.push({ ...result, generatedAt: new Date().toISOString(), wallSeconds, loadAverage });
  process.stderr.write(
    `  done in ${wallSeconds} s (load average ${loadAverage.before} → ${loadAverage.after} on ${cpus().length} cores)\n`,
  );
}
rmSync(scratch, { recursive: true, force: true });

process.stdout.write(`\n${renderTable(results)}\n`);
for (const result of results) {
  for (const note of result.notes) process.stdout.write(`\n[${result.section}] ${note}`);
}
process.stdout.write("\n");

// Sections not run this time keep their last figures, each with its own date.
const previous = existsSync(resultsFile)
  ? (JSON.parse(readFileSync(resultsFile, "utf8")) as {
      sections?: Record<string, unknown>;
      reconcileScale?: unknown;
    })
  : {};
const sections: Record<string, unknown> = { ...(previous.sections ?? {}) };
for (const [index, name] of selected.entries()) sections[name] = results[index];
// The reconciler's scale figures, also at the top level (issue 14): one entry per size.
const scale = sections["reconcile-scale"] as { data?: { reconcileScale?: unknown } } | undefined;
const reconcileScale = scale?.data?.reconcileScale ?? previous.reconcileScale;
mkdirSync(join(root, "bench"), { recursive: true });
writeFileSync(
  resultsFile,
  `${JSON.stringify(
    {
      generatedAt: new Date().toISOString(),
      commit: gitCommit(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? "unknown",
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
      },
      options,
      ...(reconcileScale !== undefined && { reconcileScale }),
      sections,
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(`\nwrote ${resultsFile}\n`);
process.exit(failures > 0 ? 1 : 0);

function gitCommit(): string {
  const git = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" });
  return git.status === 0 ? git.stdout.trim() : "unknown";
}
