/**
 * The larger fault-injection convergence run (the bounded one is test/faults/convergence.test.ts):
 *
 *   npm run soak -- --seeds 25 --events 500
 *
 * Options: --seeds N (seeds 1..N) or --seed S (one seed), --events N (per seed), --stacks N,
 * --spaces N, --concurrency N, --no-faults, --rates kind=p,... (per-attempt probabilities that
 * replace the defaults' for those kinds, e.g. `--rates throttling=0.02,answerLost=0.05`),
 * --switch-split (the read/write split is switched on, then off, during each seed; see
 * ScenarioOptions.switchSplit), --accounts 1|2 (2: a second AWS account that every
 * odd-numbered space is routed to, reached through AssumeRole; see ScenarioOptions.accounts),
 * --reconcile-passes N (reconcile passes interleaved with the deliveries, against a Spacelift
 * that follows the history, plus one after the last; see ScenarioOptions.reconcilePasses).
 * Prints one line per seed and the totals; exits 1 if any seed did not converge, listing its
 * problems.
 */
import { parseArgs } from "node:util";
import { startMotoServer } from "../testkit/aws/moto.ts";
import {
  DEFAULT_FAULTS,
  prepareConvergence,
  runConvergenceSeed,
  type SeedReport,
  summarize,
} from "../testkit/faults/convergence-scenario.ts";
import type { AttemptFaultKind, FaultPlan } from "../testkit/faults/fault-injection.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "25" },
    seed: { type: "string" },
    events: { type: "string", default: "500" },
    stacks: { type: "string" },
    spaces: { type: "string" },
    concurrency: { type: "string", default: "4" },
    "no-faults": { type: "boolean", default: false },
    "switch-split": { type: "boolean", default: false },
    accounts: { type: "string", default: "1" },
    "reconcile-passes": { type: "string", default: "0" },
    rates: { type: "string" },
  },
});

function positive(name: string, value: string | undefined): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) {
    console.error(`--${name} must be a positive integer, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return number;
}

const events = positive("events", values.events);
const seeds =
  values.seed !== undefined
    ? [positive("seed", values.seed)]
    : Array.from({ length: positive("seeds", values.seeds) }, (_, index) => index + 1);
const stacks =
  values.stacks === undefined
    ? Math.max(8, Math.round(events / 16))
    : positive("stacks", values.stacks);
const spaces =
  values.spaces === undefined
    ? Math.max(4, Math.round(stacks / 3))
    : positive("spaces", values.spaces);
const concurrency = positive("concurrency", values.concurrency);
const accounts = positive("accounts", values.accounts);
if (accounts > 2) {
  console.error(`--accounts must be 1 or 2, not ${accounts}`);
  process.exit(2);
}
const reconcilePasses =
  values["reconcile-passes"] === "0" ? 0 : positive("reconcile-passes", values["reconcile-passes"]);
if (values["switch-split"] && (accounts > 1 || reconcilePasses > 0)) {
  console.error("--switch-split runs with one account and without reconcile passes");
  process.exit(2);
}
const faults = values["no-faults"] ? {} : withRates(values.rates);

/** The default fault plan, with the per-attempt probabilities given on the command line. */
function withRates(rates: string | undefined): Omit<FaultPlan, "seed"> {
  if (rates === undefined) return DEFAULT_FAULTS;
  const perAttempt: Partial<Record<AttemptFaultKind, number>> = { ...DEFAULT_FAULTS.perAttempt };
  for (const pair of rates.split(",")) {
    const [kind, rate] = pair.split("=");
    const probability = Number(rate);
    if (!(kind !== undefined && kind in perAttempt) || !(probability >= 0 && probability < 1)) {
      console.error(`--rates: ${JSON.stringify(pair)} is not kind=probability`);
      process.exit(2);
    }
    perAttempt[kind as AttemptFaultKind] = probability;
  }
  return { ...DEFAULT_FAULTS, perAttempt };
}

// The SDK's Node 20 deprecation notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const moto = await startMotoServer();
const env = await prepareConvergence(moto);
const reports: SeedReport[] = [];
let failed = false;
try {
  console.log(
    `fault soak: ${seeds.length} seeds × ${events} events, ${stacks} stacks, ${spaces} spaces, concurrency ${concurrency}${values["no-faults"] ? ", no faults" : ""}${values["switch-split"] ? ", read/write split switched on then off" : ""}${accounts === 2 ? ", 2 AWS accounts" : ""}${reconcilePasses > 0 ? `, ${reconcilePasses} reconcile passes interleaved (+1 at the end)` : ""}`,
  );
  for (const seed of seeds) {
    const report = await runConvergenceSeed(env, {
      seed,
      events,
      stacks,
      spaces,
      concurrency,
      faults,
      switchSplit: values["switch-split"],
      accounts: accounts === 2 ? 2 : 1,
      reconcilePasses,
    });
    reports.push(report);
    console.log(summarize([report]).split("\n")[0]);
    if (report.problems.length > 0) {
      failed = true;
      for (const problem of report.problems) console.log(`  problem: ${problem}`);
    }
  }
  console.log(summarize(reports).split("\n").at(-1));
} finally {
  env.close();
  await moto.stop();
}
process.exit(failed ? 1 : 0);
