/**
 * Burst: N `stack.create` events queued at once, processed by the real provisioner handler in
 * `concurrency` separate processes (Lambda containers: reserved concurrency 2, batches of 10),
 * while IAM writes go through a proxy that throttles them at a fixed rate with IAM's own
 * `Throttling` error. Total time is compared with the floor, IAM writes needed ÷ rate.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { IAMClient, paginateListRoles } from "@aws-sdk/client-iam";
import { GetQueueAttributesCommand, PurgeQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { paginateGetParametersByPath, SSMClient } from "@aws-sdk/client-ssm";
import { SqsEventQueue } from "../../functions/adapters/sqs-event-queue.ts";
import {
  DEFAULT_EVENT_MAX_AGE_SECONDS,
  EVENT_CLOCK_SKEW_MS,
} from "../../functions/core/audit-event.ts";
import type { SpaceId } from "../../functions/core/identifiers.ts";
import { receiveWebhook, WEBHOOK_PATH } from "../../functions/core/receive.ts";
import { type CallTally, retriesOf, sumTallies, totalOf } from "../../testkit/aws/api-calls.ts";
import { createLocalAwsResources, localClientConfig } from "../../testkit/aws/local-aws.ts";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";
import { auditEvent, signedDelivery } from "../../testkit/spacelift/events.ts";
import { ACCOUNT, HOSTNAME, handlerEnv, WEBHOOK_SECRET } from "../lib/local-aws-env.ts";
import { type BenchOptions, formatCount, formatMs, type SectionResult } from "../lib/report.ts";
import { round, roundSummary, summarize } from "../lib/stats.ts";
import { startThrottlingProxy, TokenBucket } from "../lib/throttling-proxy.ts";
import type { WorkerMessage } from "./burst-worker.ts";

const SPACE = "platform-01HND497T9JKR76MR3KA2CDJHP";
/** serverless.yml: the provisioner's timeout and the queue's redrive limit. */
const LAMBDA_TIMEOUT_MS = 60_000;
const MAX_RECEIVE_COUNT = 5;

interface BurstRun {
  readonly events: number;
  readonly iamWritesNeeded: number;
  readonly floorMs: number;
  readonly totalMs: number;
  readonly ratioToFloor: number;
  readonly applied: number;
  readonly lost: number;
  readonly deadLettered: number;
  /** Not applied when the run was cut off, but still on the queue. */
  readonly stillQueued: number;
  readonly iamWritesForwarded: Readonly<Record<string, number>>;
  readonly iamWritesThrottled: Readonly<Record<string, number>>;
  /** Achieved rate of IAM writes let through, first to last. */
  readonly achievedWriteRate: number;
  readonly sdkRetries: { readonly iam: number; readonly ssm: number; readonly dynamodb: number };
  readonly sdkThrottled: number;
  readonly callsFailedAfterRetries: Readonly<Record<string, number>>;
  readonly batches: number;
  readonly batchFailures: number;
  readonly redeliveries: number;
  readonly invocationMs: ReturnType<typeof summarize>;
  readonly invocationsOverLambdaTimeout: number;
  readonly failureLogs: Readonly<Record<string, number>>;
  readonly tally: CallTally;
}

export async function run(options: BenchOptions): Promise<SectionResult> {
  const runs: BurstRun[] = [];
  const repetitions = options.burstRuns;
  const moto = await startMotoServer();
  try {
    for (let repetition = 0; repetition < repetitions; repetition++) {
      await moto.reset();
      const result = await runOnce(moto, options, repetition);
      process.stderr.write(
        `  run ${repetition + 1}/${repetitions}: ${formatMs(result.totalMs)} vs floor ${formatMs(result.floorMs)} (${result.ratioToFloor.toFixed(2)}×), lost ${result.lost}, throttled ${totalOf(result.iamWritesThrottled)}\n`,
      );
      runs.push(result);
    }
  } finally {
    await moto.stop();
  }
  return report(runs, options);
}

async function runOnce(
  moto: MotoServer,
  options: BenchOptions,
  repetition: number,
): Promise<BurstRun> {
  const resources = await createLocalAwsResources({
    endpoint: moto.endpoint,
    spaceliftHostname: HOSTNAME,
    name: `burst-${repetition}`,
    maxReceiveCount: MAX_RECEIVE_COUNT,
    visibilityTimeoutSeconds: options.burstVisibilitySeconds,
  });
  const proxy = await startThrottlingProxy({
    target: moto.endpoint,
    bucket: new TokenBucket(options.burstRate, options.burstBucket),
  });
  const sqs = new SQSClient(localClientConfig(moto.endpoint));
  const workers: ChildProcess[] = [];
  try {
    const stacks = await enqueueCreates(sqs, resources.queueUrl, options.burstEvents, repetition);
    const env = {
      ...process.env,
      ...handlerEnv(moto.endpoint, resources, { policies: options.burstPolicies }),
      // Only IAM goes through the throttling proxy; SSM, DynamoDB and SQS talk to moto directly.
      AWS_ENDPOINT_URL_IAM: proxy.endpoint,
      POWERTOOLS_LOG_LEVEL: "WARN",
    };
    const workerPath = fileURLToPath(new URL("./burst-worker.ts", import.meta.url));
    const applied = new Set<string>();
    const durations: number[] = [];
    const failureLogs = new Map<string, number>();
    let batches = 0;
    let batchFailures = 0;
    let redeliveries = 0;
    let lastAppliedAt = 0;
    let lastProgressAt = performance.now();
    const tallies: CallTally[] = [];
    const ready: Promise<void>[] = [];
    const finished: Promise<void>[] = [];
    for (let index = 0; index < options.burstConcurrency; index++) {
      const worker = fork(workerPath, [], {
        execArgv: ["--import", "tsx"],
        env,
        stdio: ["ignore", "pipe", "inherit", "ipc"],
        serialization: "json",
      });
      workers.push(worker);
      worker.stdout?.setEncoding("utf8");
      let pending = "";
      worker.stdout?.on("data", (chunk: string) => {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) countFailureLog(line, failureLogs);
      });
      ready.push(
        new Promise((resolve, reject) => {
          worker.once("exit", (code) => reject(new Error(`burst worker exited early (${code})`)));
          worker.on("message", (message: WorkerMessage) => {
            if (message.type === "ready") resolve();
          });
        }),
      );
      finished.push(
        new Promise((resolve) => {
          worker.on("message", (message: WorkerMessage) => {
            if (message.type === "batch") {
              batches++;
              durations.push(message.durationMs);
              batchFailures += message.failed;
              redeliveries += message.redelivered;
              for (const stack of message.applied) applied.add(stack);
              if (message.applied.length > 0) {
                lastAppliedAt = performance.now();
                lastProgressAt = lastAppliedAt;
              }
            }
            if (message.type === "done") {
              tallies.push(message.tally);
              resolve();
            }
          });
        }),
      );
    }
    await Promise.all(ready);
    const iamWritesNeeded = options.burstEvents * (1 + options.burstPolicies);
    const floorMs = (iamWritesNeeded / options.burstRate) * 1000;
    // Give up when nothing has been applied for two visibility timeouts (everything left is
    // dead-lettered or stuck), or at 10× the floor.
    const stallMs = 2 * options.burstVisibilitySeconds * 1000 + 10_000;
    const started = performance.now();
    for (const worker of workers) worker.send({ type: "start" });
    while (applied.size < options.burstEvents) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = performance.now();
      if (now - lastProgressAt > stallMs || now - started > Math.max(10 * floorMs, 120_000)) break;
    }
    const totalMs =
      (applied.size === options.burstEvents ? lastAppliedAt : performance.now()) - started;
    for (const worker of workers) worker.send({ type: "stop" });
    await Promise.all(finished);

    const published = await publishedStacks(moto.endpoint);
    const unpublished = stacks.filter((stack) => !published.has(stack)).length;
    const deadLettered = await queuedMessages(sqs, resources.deadLetterQueueUrl);
    // Still on the queue (waiting out a visibility timeout) is late, not lost.
    const stillQueued = await queuedMessages(sqs, resources.queueUrl);
    const stats = proxy.stats();
    const tally = sumTallies(tallies);
    const writesLetThrough = totalOf(stats.forwardedWrites);
    const writeWindowMs =
      stats.firstWriteAt !== undefined && stats.lastWriteAt !== undefined
        ? stats.lastWriteAt - stats.firstWriteAt
        : Number.NaN;
    await sqs.send(new PurgeQueueCommand({ QueueUrl: resources.queueUrl })).catch(() => undefined);
    return {
      events: options.burstEvents,
      iamWritesNeeded,
      floorMs,
      totalMs,
      ratioToFloor: totalMs / floorMs,
      applied: applied.size,
      lost: Math.max(0, unpublished - stillQueued),
      deadLettered,
      stillQueued,
      iamWritesForwarded: stats.forwardedWrites,
      iamWritesThrottled: stats.throttledWrites,
      achievedWriteRate: writeWindowMs > 0 ? ((writesLetThrough - 1) / writeWindowMs) * 1000 : 0,
      sdkRetries: {
        iam: retriesOf(tally, "IAM"),
        ssm: retriesOf(tally, "SSM"),
        dynamodb: retriesOf(tally, "DynamoDB"),
      },
      sdkThrottled: totalOf(tally.throttled),
      callsFailedAfterRetries: tally.failed,
      batches,
      batchFailures,
      redeliveries,
      invocationMs: summarize(durations),
      invocationsOverLambdaTimeout: durations.filter((ms) => ms > LAMBDA_TIMEOUT_MS).length,
      failureLogs: Object.fromEntries(failureLogs),
      tally,
    };
  } finally {
    for (const worker of workers) if (worker.exitCode === null) worker.kill();
    await proxy.stop();
    sqs.destroy();
  }
}

/** Queues the events through the real receiver core, as the webhook would. */
async function enqueueCreates(
  sqs: SQSClient,
  queueUrl: string,
  count: number,
  repetition: number,
): Promise<string[]> {
  const queue = new SqsEventQueue(sqs, queueUrl);
  const deps = {
    account: ACCOUNT,
    defaultSpaceId: "root" as SpaceId,
    secrets: async () => [WEBHOOK_SECRET],
    queue,
    now: Date.now,
    eventWindow: { maxAgeMs: DEFAULT_EVENT_MAX_AGE_SECONDS * 1000, maxSkewMs: EVENT_CLOCK_SKEW_MS },
  };
  const stacks = Array.from({ length: count }, (_, index) => `burst-${repetition}-${index}`);
  let next = 0;
  const enqueueNext = async (): Promise<void> => {
    while (next < stacks.length) {
      const stack = stacks[next++] as string;
      const delivery = signedDelivery(
        auditEvent("stack.create", { account: ACCOUNT, stack, space: SPACE }),
        WEBHOOK_SECRET,
      );
      const { response } = await receiveWebhook(
        {
          method: "POST",
          path: WEBHOOK_PATH,
          headers: delivery.headers,
          body: Buffer.from(delivery.body),
        },
        deps,
      );
      if (response.statusCode !== 202) {
        throw new Error(`receiver answered ${response.statusCode}: ${response.body}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, enqueueNext));
  return stacks;
}

/** Stacks whose role exists and whose ARN parameter is published (read straight from moto). */
async function publishedStacks(endpoint: string): Promise<Set<string>> {
  const config = localClientConfig(endpoint);
  const ssm = new SSMClient(config);
  const iam = new IAMClient(config);
  const parameters = new Map<string, string>();
  for await (const page of paginateGetParametersByPath(
    { client: ssm },
    { Path: `/spacelift/${ACCOUNT}/stacks`, Recursive: true, MaxResults: 10 },
  )) {
    for (const parameter of page.Parameters ?? []) {
      const stack = /\/stacks\/([^/]+)\/role-arn$/.exec(parameter.Name ?? "")?.[1];
      if (stack !== undefined) parameters.set(stack, parameter.Value ?? "");
    }
  }
  const roles = new Set<string>();
  for await (const page of paginateListRoles({ client: iam }, { PathPrefix: "/spacelift/" })) {
    for (const role of page.Roles ?? []) if (role.Arn) roles.add(role.Arn);
  }
  ssm.destroy();
  iam.destroy();
  const published = new Set<string>();
  for (const [stack, arn] of parameters) if (roles.has(arn)) published.add(stack);
  return published;
}

/** Messages on a queue, visible or in flight. */
async function queuedMessages(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? "0") +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? "0")
  );
}

/** The provisioner logs each failed event (JSON, Powertools); count them by cause. */
function countFailureLog(line: string, counts: Map<string, number>): void {
  if (!line.startsWith("{")) return;
  try {
    const entry = JSON.parse(line) as {
      message?: string;
      error?: { message?: string; cause?: { name?: string; message?: string } };
    };
    if (entry.error === undefined) return;
    const cause = entry.error.cause;
    const key =
      `${entry.message ?? "?"}: ${entry.error.message ?? "?"}${cause ? ` ← ${cause.name ?? ""} ${cause.message ?? ""}` : ""}`
        .replace(/burst-\d+-\d+/g, "<stack>")
        .slice(0, 240);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  } catch {
    // not a log line
  }
}

function report(runs: readonly BurstRun[], options: BenchOptions): SectionResult {
  const total = summarize(runs.map((run) => run.totalMs));
  const ratio = summarize(runs.map((run) => run.ratioToFloor));
  const first = runs[0];
  const lost = Math.max(...runs.map((run) => run.lost));
  const throttled = summarize(runs.map((run) => totalOf(run.iamWritesThrottled)));
  const sdkRetries = summarize(runs.map((run) => run.sdkRetries.iam));
  const redeliveries = summarize(runs.map((run) => run.redeliveries));
  const rate = summarize(runs.map((run) => run.achievedWriteRate));
  const overTimeout = Math.max(...runs.map((run) => run.invocationsOverLambdaTimeout));
  const invocationMax = Math.max(...runs.map((run) => run.invocationMs.max));
  const spread = (summary: ReturnType<typeof summarize>, format: (value: number) => string) =>
    runs.length > 1
      ? ` (min–max ${format(summary.min)}–${format(summary.max)}, ${runs.length} runs)`
      : " (1 run)";
  const failures = new Map<string, number>();
  for (const run of runs) {
    for (const [key, count] of Object.entries(run.failureLogs)) {
      failures.set(key, (failures.get(key) ?? 0) + count);
    }
  }
  return {
    section: "4",
    title: `Burst: ${formatCount(options.burstEvents)} stack.create, IAM writes throttled at ${options.burstRate}/s (bucket ${options.burstBucket}), concurrency ${options.burstConcurrency} × batches of 10`,
    rows: [
      {
        metric: "total time vs floor",
        value: `${formatMs(total.median)} vs floor ${formatMs(first?.floorMs ?? Number.NaN)} (${first?.iamWritesNeeded ?? "?"} IAM writes ÷ ${options.burstRate}/s) = ${ratio.median.toFixed(2)}×${spread(ratio, (value) => `${value.toFixed(2)}×`)}`,
        target: "≤ 1.2× floor",
        met: ratio.median <= 1.2,
      },
      {
        metric: "events lost",
        value: `${lost} (dead-lettered ${Math.max(...runs.map((run) => run.deadLettered))}, still queued at cut-off ${Math.max(...runs.map((run) => run.stillQueued))}); worst run`,
        target: "0",
        met: lost === 0,
      },
      {
        metric: "IAM writes throttled (proxy)",
        value: `${formatCount(throttled.median)}${spread(throttled, formatCount)}`,
      },
      {
        metric: "SDK retries (IAM)",
        value: `${formatCount(sdkRetries.median)}${spread(sdkRetries, formatCount)}; calls failed after retries: ${JSON.stringify(first?.callsFailedAfterRetries ?? {})}`,
      },
      {
        metric: "queue redeliveries",
        value: `${formatCount(redeliveries.median)} messages; batch items failed ${formatCount(summarize(runs.map((run) => run.batchFailures)).median)}`,
      },
      {
        metric: "achieved IAM write rate",
        value: `${rate.median.toFixed(2)}/s of ${options.burstRate}/s allowed${spread(rate, (value) => value.toFixed(2))}`,
      },
      {
        metric: "longest invocation (batch of ≤ 10)",
        value: `${formatMs(invocationMax)}; ${overTimeout} over the 60 s Lambda timeout`,
        target: "< 60 s",
        met: overTimeout === 0,
      },
    ],
    notes: [
      `Sizes: ${formatCount(options.burstEvents)} events at ${options.burstRate} writes/s${options.burstPolicies > 0 ? `, ${options.burstPolicies} attached policies` : ""} (floor ${formatMs(first?.floorMs ?? Number.NaN)}); \`npm run bench -- --only burst --burst-events 1000 --burst-rate 10\` runs the issue's full size.`,
      ...(failures.size > 0
        ? [
            `Provisioner failure logs: ${[...failures]
              .sort(([, a], [, b]) => b - a)
              .slice(0, 4)
              .map(([key, count]) => `${count}× ${key}`)
              .join(" | ")}`,
          ]
        : []),
      "Limiting factor: IAM's write rate (the token bucket). The SDK's adaptive mode keeps a client-side rate per client, i.e. per Lambda container; the containers do not share it.",
    ],
    data: {
      options: {
        events: options.burstEvents,
        rate: options.burstRate,
        bucket: options.burstBucket,
        policies: options.burstPolicies,
        concurrency: options.burstConcurrency,
        visibilityTimeoutSeconds: options.burstVisibilitySeconds,
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
      totalMs: roundSummary(total, 0),
      ratioToFloor: roundSummary(ratio, 3),
      runs: runs.map((run) => ({
        ...run,
        totalMs: round(run.totalMs, 0),
        ratioToFloor: round(run.ratioToFloor, 3),
        achievedWriteRate: round(run.achievedWriteRate, 2),
        invocationMs: roundSummary(run.invocationMs, 0),
      })),
    },
  };
}
