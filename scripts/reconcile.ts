/**
 * `npm run reconcile -- [options]`: the scheduled reconciler's run, by hand, or the backfill.
 *
 *   --dry-run               print the plan (create / update / restore / revoke / delete, each
 *                           with its reason) and change nothing
 *   --apply                 apply the plan in this process, through the provisioner's own
 *                           message processing (needs LEDGER_TABLE), instead of sending it to
 *                           the event queue at EVENT_QUEUE_URL
 *   --backfill              plan every stack and space Spacelift lists (adoption), with a
 *                           progress bar on stderr; resumable from a checkpoint file
 *   --checkpoint <path>     backfill checkpoint (default .backfill-checkpoint.json)
 *   --concurrency <n>       resources converged at once (default RECONCILE_CONCURRENCY or 4)
 *   --max-deletions <n>     overrides MAX_DELETIONS_PER_RUN
 *   --max-revocations <n>   overrides MAX_REVOCATIONS_PER_RUN
 *   --grace-hours <h>       overrides ORPHAN_GRACE_PERIOD_HOURS
 *   --json                  one JSON line per decision on stdout instead of text
 *
 * Configuration comes from the same environment variables as the Lambda (docs/operations.md).
 * Without --dry-run, the plan goes to EVENT_QUEUE_URL (the deployed queue, or the local one
 * `npm start` drains), or is applied here with --apply; with neither, the run is refused.
 * Exit status: 0 done, 1 some decisions failed or were refused, 2 bad usage or configuration,
 * 130 interrupted (a backfill can be resumed by running the same command again).
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { composeProvisioner, composeReconciler } from "../functions/compose.ts";
import { ConfigurationError, SpaceliftUnavailableError } from "../functions/core/errors.ts";
import { type BackfillProgress, backfill } from "../functions/core/reconcile/backfill.ts";
import type { Decision } from "../functions/core/reconcile/decisions.ts";
import { describeError } from "../functions/core/reconcile/describe-error.ts";
import { reconcile } from "../functions/core/reconcile/pass.ts";
import { type ReconcileSettings, SETTING_BOUNDS } from "../functions/core/reconcile/settings.ts";
import { InProcessQueue } from "./lib/in-process-queue.ts";

export const DEFAULT_CHECKPOINT = ".backfill-checkpoint.json";

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
  /** Aborting stops a backfill after the resources in flight (SIGINT in a terminal). */
  readonly signal?: AbortSignal;
}

class UsageError extends Error {
  override readonly name = "UsageError";
}

const USAGE = `usage: npm run reconcile -- [--dry-run | --apply] [--backfill [--checkpoint PATH]] [--concurrency N]
                              [--max-deletions N] [--max-revocations N] [--grace-hours H] [--json]
`;

/** Runs the command; returns the exit status. */
export async function runReconcileCli(argv: readonly string[], io: CliIo): Promise<number> {
  let options: CliOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  let deps: Deps;
  try {
    const composed = await composeReconciler(io.env);
    const settings = { ...composed.settings, ...options.settings };
    deps = { ...composed, settings };
    if (options.apply) {
      const provisioner = await composeProvisioner(io.env);
      deps = { ...deps, events: new InProcessQueue(provisioner, settings.concurrency) };
    } else if (!settings.dryRun && composed.events === undefined) {
      throw new ConfigurationError(
        "EVENT_QUEUE_URL is not set: pass --apply to apply the plan in this process, or --dry-run",
      );
    }
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    io.stderr.write(`${error.message}\n`);
    return 2;
  }
  try {
    return await (options.backfill
      ? runBackfill(deps, options, io)
      : runReconcile(deps, options, io));
  } catch (error) {
    // Listing what we manage failed (credentials, permissions, an AWS outage): nothing was decided.
    io.stderr.write(`reconcile failed: ${describeError(error)}\n`);
    return 1;
  }
}

interface CliOptions {
  readonly help: boolean;
  readonly apply: boolean;
  readonly backfill: boolean;
  readonly json: boolean;
  readonly checkpoint: string;
  readonly settings: Partial<ReconcileSettings>;
}

function parseOptions(argv: readonly string[]): CliOptions {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const settings: { -readonly [K in keyof ReconcileSettings]?: ReconcileSettings[K] } = {};
  if (values["dry-run"]) settings.dryRun = true;
  if (values.concurrency !== undefined) {
    settings.concurrency = integer("--concurrency", values.concurrency, SETTING_BOUNDS.concurrency);
  }
  if (values["max-deletions"] !== undefined) {
    settings.maxDeletionsPerRun = integer(
      "--max-deletions",
      values["max-deletions"],
      SETTING_BOUNDS.maxDeletionsPerRun,
    );
  }
  if (values["max-revocations"] !== undefined) {
    settings.maxRevocationsPerRun = integer(
      "--max-revocations",
      values["max-revocations"],
      SETTING_BOUNDS.maxRevocationsPerRun,
    );
  }
  if (values["grace-hours"] !== undefined) {
    const hours = Number(values["grace-hours"]);
    const { min, max } = SETTING_BOUNDS.orphanGracePeriodHours;
    if (!(hours >= min && hours <= max)) {
      throw new UsageError(`--grace-hours must be a number of hours between ${min} and ${max}`);
    }
    settings.orphanGracePeriodHours = hours;
  }
  if (values.apply && values["dry-run"]) {
    throw new UsageError("--apply and --dry-run exclude each other");
  }
  if (values.checkpoint !== undefined && !values.backfill) {
    throw new UsageError("--checkpoint only applies to --backfill");
  }
  return {
    help: values.help === true,
    apply: values.apply === true,
    backfill: values.backfill === true,
    json: values.json === true,
    checkpoint: values.checkpoint ?? DEFAULT_CHECKPOINT,
    settings,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: false,
    strict: true,
    options: {
      "dry-run": { type: "boolean" },
      apply: { type: "boolean" },
      backfill: { type: "boolean" },
      checkpoint: { type: "string" },
      concurrency: { type: "string" },
      "max-deletions": { type: "string" },
      "max-revocations": { type: "string" },
      "grace-hours": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function integer(
  name: string,
  value: string,
  { min, max }: { readonly min: number; readonly max: number },
): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${name} must be an integer between ${min} and ${max}`);
  }
  return parsed;
}

type Deps = Awaited<ReturnType<typeof composeReconciler>>;

async function runReconcile(deps: Deps, options: CliOptions, io: CliIo): Promise<number> {
  const report = await reconcile(deps);
  if (options.json) {
    for (const decision of report.decisions) {
      io.stdout.write(`${JSON.stringify({ ...decision, dryRun: report.dryRun })}\n`);
    }
  } else {
    const { counts } = report;
    const source =
      report.mode === "spacelift"
        ? `Spacelift lists ${plural(counts.spaceliftStacks, "stack")} and ${plural(counts.spaceliftSpaces, "space")}`
        : "Spacelift not consulted: roles checked against parameters only";
    io.stdout.write(
      `${report.dryRun ? "DRY RUN, nothing was changed. Plan" : options.apply ? "Planned and applied" : "Planned and enqueued"} for Spacelift account ${report.account}: ${source}; AWS holds ${plural(counts.managedRoles, "managed role")} and ${plural(counts.parameters, "parameter")}.\n`,
    );
    io.stdout.write(formatDecisions(report.decisions));
    io.stdout.write(`${summaryLine(report.decisions, counts.inSync)}\n`);
    if (!report.dryRun && !options.apply && counts.enqueued > 0) {
      io.stdout.write(
        `${plural(counts.enqueued, "message")} enqueued in ${plural(counts.queueCalls, "call")}; the provisioner applies them.\n`,
      );
    }
  }
  return exitStatus(report.decisions) || droppedStatus(deps, io);
}

async function runBackfill(deps: Deps, options: CliOptions, io: CliIo): Promise<number> {
  const { config } = deps;
  const dryRun = deps.settings.dryRun;
  let checkpoint: FileCheckpoint | undefined;
  try {
    checkpoint = dryRun
      ? undefined
      : openCheckpoint(options.checkpoint, {
          spaceliftHostname: config.spaceliftHostname,
          awsAccountId: config.awsAccountId,
        });
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const bar = createProgressBar(io.stderr);
  let report: Awaited<ReturnType<typeof backfill>>;
  try {
    report = await backfill(deps, {
      ...(checkpoint !== undefined && {
        completed: checkpoint.completed,
        onCompleted: (resource: string) => checkpoint.markCompleted(resource),
      }),
      onProgress: (progress) => bar.update(progress),
      ...(io.signal !== undefined && { signal: io.signal }),
    });
  } catch (error) {
    bar.finish();
    if (!(error instanceof SpaceliftUnavailableError)) throw error;
    io.stderr.write(`${error.message}\n`);
    return 2;
  }
  bar.finish();
  const { progress } = report;
  if (options.json) {
    for (const decision of report.decisions) {
      io.stdout.write(`${JSON.stringify({ ...decision, dryRun })}\n`);
    }
  } else {
    io.stdout.write(
      formatDecisions(
        report.decisions.filter(({ outcome }) => outcome !== "applied" && outcome !== "enqueued"),
      ),
    );
  }
  const parts = [
    `${dryRun ? "Backfill plan (dry run, nothing changed)" : "Backfill"} for Spacelift account ${report.account}: ${progress.done}/${progress.total} resources`,
    `${progress.created} ${dryRun ? "to create" : options.apply ? "created" : "to create (enqueued)"}`,
    `${progress.updated} ${dryRun ? "to repair" : options.apply ? "repaired" : "to repair (enqueued)"}`,
    `${progress.unchanged} already right`,
    `${progress.skipped} skipped (already in checkpoint)`,
    `${progress.failed} failed`,
  ];
  io.stdout.write(`${parts.join(", ")}.\n`);
  if (report.interrupted) {
    io.stdout.write(
      `Interrupted: run the same command again to resume from ${options.checkpoint}.\n`,
    );
    return 130;
  }
  if (checkpoint !== undefined && progress.failed === 0) {
    // Everything converged: a later backfill starts from scratch (and converge is idempotent).
    checkpoint.remove();
  } else if (checkpoint !== undefined) {
    io.stdout.write(
      `Failed resources are not in ${options.checkpoint}; run the same command again to retry them.\n`,
    );
  }
  return exitStatus(report.decisions) || droppedStatus(deps, io);
}

/** With --apply: 1 when the provisioner refused and dropped messages (each printed). */
function droppedStatus(deps: Deps, io: CliIo): number {
  if (!(deps.events instanceof InProcessQueue)) return 0;
  const dropped = deps.events.outcomes.filter(({ result }) => result === "dropped");
  for (const outcome of dropped) {
    if (outcome.result === "dropped")
      io.stdout.write(`  dropped by the provisioner: ${outcome.reason}\n`);
  }
  return dropped.length > 0 ? 1 : 0;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function exitStatus(decisions: readonly Decision[]): number {
  return decisions.some(({ outcome }) => outcome === "failed" || outcome === "refused") ? 1 : 0;
}

/** The decisions as an aligned, human-readable plan. */
export function formatDecisions(decisions: readonly Decision[]): string {
  const width = Math.min(48, Math.max(0, ...decisions.map(({ resource }) => resource.length)));
  return decisions
    .map((decision) => {
      const flag =
        decision.outcome === "planned" ||
        decision.outcome === "applied" ||
        decision.outcome === "enqueued"
          ? ""
          : ` [${decision.outcome}]`;
      const lines = [
        `  ${`${decision.action}${flag}`.padEnd(18)} ${decision.resource.padEnd(width)}  ${decision.reason}`,
      ];
      if (decision.changes.length > 0) lines.push(`      ${decision.changes.join(", ")}`);
      if (decision.error !== undefined) lines.push(`      error: ${decision.error}`);
      return `${lines.join("\n")}\n`;
    })
    .join("");
}

function summaryLine(decisions: readonly Decision[], inSync: number): string {
  const tally = new Map<string, number>();
  for (const { action, outcome } of decisions) {
    const key =
      outcome === "planned" || outcome === "applied" || outcome === "enqueued"
        ? action
        : `${action} ${outcome}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [`${inSync} in sync`, ...[...tally].map(([key, n]) => `${n} ${key}`)].join(" · ");
}

// ---------------------------------------------------------------------------------------------

export interface CheckpointIdentity {
  readonly spaceliftHostname: string;
  readonly awsAccountId: string;
}

export interface FileCheckpoint {
  readonly path: string;
  readonly completed: ReadonlySet<string>;
  markCompleted(resource: string): void;
  remove(): void;
}

/**
 * The backfill's record of completed resources, rewritten atomically (write, then rename) after
 * each one, so an interruption at any moment leaves a readable file.
 */
export function openCheckpoint(path: string, identity: CheckpointIdentity): FileCheckpoint {
  const completed = new Set<string>();
  if (existsSync(path)) {
    let saved: { version?: unknown; completed?: unknown } & Partial<CheckpointIdentity>;
    try {
      saved = JSON.parse(readFileSync(path, "utf8")) as typeof saved;
    } catch (error) {
      throw new ConfigurationError(
        `checkpoint ${path} is not readable JSON (${describeError(error)}); remove it to start over`,
      );
    }
    if (
      saved.spaceliftHostname !== identity.spaceliftHostname ||
      saved.awsAccountId !== identity.awsAccountId
    ) {
      throw new ConfigurationError(
        `checkpoint ${path} belongs to ${saved.spaceliftHostname} in AWS account ${saved.awsAccountId}, not ${identity.spaceliftHostname} in ${identity.awsAccountId}; remove it or pass --checkpoint`,
      );
    }
    if (Array.isArray(saved.completed)) {
      for (const resource of saved.completed) {
        if (typeof resource === "string") completed.add(resource);
      }
    }
  }
  const save = () => {
    const temporary = `${path}.tmp`;
    writeFileSync(
      temporary,
      `${JSON.stringify({ version: 1, ...identity, completed: [...completed] }, null, 1)}\n`,
    );
    renameSync(temporary, path);
  };
  return {
    path,
    completed,
    markCompleted(resource) {
      completed.add(resource);
      save();
    },
    remove() {
      rmSync(path, { force: true });
    },
  };
}

/**
 * A progress bar on a terminal (redrawn in place with `\r`), or a line per tenth of the work
 * when stderr is a file or a pipe, so logs stay readable.
 */
export function createProgressBar(stream: CliIo["stderr"]): {
  update(progress: BackfillProgress): void;
  finish(): void;
} {
  const tty = stream.isTTY === true;
  let lastTenth = -1;
  let drawn = false;
  return {
    update(progress) {
      const fraction = progress.total === 0 ? 1 : progress.done / progress.total;
      const counts = `created ${progress.created} · repaired ${progress.updated} · unchanged ${progress.unchanged} · skipped ${progress.skipped} · failed ${progress.failed}`;
      const line = `${progress.done}/${progress.total} (${Math.floor(fraction * 100)}%) ${counts}`;
      if (tty) {
        const filled = Math.round(fraction * 30);
        stream.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(30 - filled)}] ${line}`);
        drawn = true;
        return;
      }
      const tenth = Math.floor(fraction * 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        stream.write(`backfill ${line}\n`);
      }
    },
    finish() {
      if (tty && drawn) stream.write("\n");
      drawn = false;
    },
  };
}

const invokedPath = process.argv[1];
if (invokedPath !== undefined && import.meta.url === pathToFileURL(invokedPath).href) {
  const controller = new AbortController();
  // First Ctrl-C: finish the resources in flight, save the checkpoint, exit 130. Second: default.
  process.once("SIGINT", () => {
    process.stderr.write("\nstopping after the resources in flight (Ctrl-C again to kill)\n");
    controller.abort();
  });
  const status = await runReconcileCli(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
  process.exit(status);
}
