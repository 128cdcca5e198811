/**
 * Runs one benchmark section in its own Node process (handlers read their environment and
 * create their SDK clients at import, so sections must not share a process) and writes its
 * result as JSON: `node --import tsx bench/section.ts <name> <result-file>`, options in
 * BENCH_OPTIONS.
 */
import { writeFileSync } from "node:fs";
import type { BenchOptions, SectionResult } from "./lib/report.ts";

const SECTIONS: Record<
  string,
  () => Promise<{ run(options: BenchOptions): Promise<SectionResult> }>
> = {
  receiver: () => import("./sections/receiver-cost.ts"),
  "api-economy": () => import("./sections/api-economy.ts"),
  "cold-start": () => import("./sections/cold-start.ts"),
  burst: () => import("./sections/burst.ts"),
  "role-latency": () => import("./sections/role-latency.ts"),
  "reconcile-scale": () => import("./sections/reconcile-scale.ts"),
  accounts: () => import("./sections/accounts.ts"),
};

const SECTION_NAMES = Object.keys(SECTIONS);

const [name, resultFile] = process.argv.slice(2);
const load = name === undefined ? undefined : SECTIONS[name];
if (load === undefined || resultFile === undefined) {
  process.stderr.write(`usage: section.ts <${SECTION_NAMES.join("|")}> <result-file>\n`);
  process.exit(2);
}
const options = JSON.parse(process.env.BENCH_OPTIONS ?? "{}") as BenchOptions;
const result = await (await load()).run(options);
writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
// Handlers keep SDK sockets and timers alive; the section is done.
process.exit(0);
