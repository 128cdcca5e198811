/**
 * Reconcile at scale (issue 14): the reconciler's plan over 1,000 and 10,000 stacks (plus a
 * few hundred spaces) on moto_server, and a model of how long the queue takes to apply a
 * 10,000-stack backfill at IAM's write rate.
 *
 * - The roles and parameters are created by the product's own converge (`convergeStack` /
 *   `convergeSpace`, fresh, many at a time, unthrottled), so the next pass finds them in sync.
 * - The pass is the reconcile use case as `composeReconciler` wires it, in dry-run mode: on this
 *   branch planning and the dry run go through the same code. Calls are counted per API by SDK
 *   middleware on the product's module-scope clients; a resource is a listed stack or space.
 * - 1% drift: every hundredth stack's role loses one of its managed policies; the pass must find exactly
 *   those, with no more calls per resource. The drift is then put back by hand.
 * - Peak RSS: the process's RSS sampled every 20 ms during the pass (the seeding is excluded).
 * - Backfill model: a sample of stacks created through the throttling proxy (IAM writes at
 *   `--burst-rate`/s, a one-second bucket), as the provisioner applies the reconciler's queued
 *   messages (`processMessage`, as many at once as the event source's maximum concurrency),
 *   extrapolated to 10,000 stacks; the floor is the IAM writes those stacks need ÷ the rate.
 */
import { AttachRolePolicyCommand, DetachRolePolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { PutParameterCommand } from "@aws-sdk/client-ssm";
import { AWS_CLIENT_SETTINGS } from "../../functions/adapters/aws-client-settings.ts";
import { dynamodbClient, iamClient, ssmClient } from "../../functions/adapters/aws-clients.ts";
import { IamRoleStore } from "../../functions/adapters/iam-role-store.ts";
import { composeProvisioner, composeReconciler } from "../../functions/compose.ts";
import { convergeSpace, convergeStack } from "../../functions/core/converge.ts";
import type { SpaceId, StackId } from "../../functions/core/identifiers.ts";
import { processMessage } from "../../functions/core/process-queue-message.ts";
import { reconcile } from "../../functions/core/reconcile/pass.ts";
import { mapWithConcurrency } from "../../functions/core/reconcile/pool.ts";
import { stackRoleName } from "../../functions/core/role-names.ts";
import { synthesizedMessage } from "../../functions/core/synthesized-event.ts";
import { ApiCallCounter, type CallTally, callsOf } from "../../testkit/aws/api-calls.ts";
import { localClientConfig } from "../../testkit/aws/local-aws.ts";
import {
  FAKE_API_KEY_ID,
  FAKE_API_KEY_SECRET,
  ROOT_SPACE,
  startFakeSpacelift,
} from "../../testkit/spacelift/fake-spacelift.ts";
import { ACCOUNT, MANAGED_POLICIES, withBenchAws } from "../lib/local-aws-env.ts";
import type { BenchOptions, Row, SectionResult } from "../lib/report.ts";
import { startThrottlingProxy, TokenBucket } from "../lib/throttling-proxy.ts";

/** Managed policies per role: 3 IAM writes a new stack, the "about 30,000" for 10,000. */
const POLICIES = 2;
const API_KEY_PARAMETER = "/spacelift-role-vending/spacelift-api-key";
/** The provisioner's event source (serverless.yml `maximumConcurrency`). */
const PROVISIONER_CONCURRENCY = 2;
const SEED_CONCURRENCY = 16;
const BACKFILL_STACKS = 10_000;
const TARGET_CALLS_PER_RESOURCE = 0.2;

export interface ReconcileScaleEntry {
  readonly stacks: number;
  readonly spaces: number;
  readonly inSyncCallsPerResource: number;
  readonly driftCallsPerResource: number;
  readonly planSeconds: number;
  readonly peakRssMb: number;
  readonly modelledBackfillSeconds: number;
  readonly floorSeconds: number;
}

interface PassMeasure {
  readonly calls: Record<string, number>;
  readonly awsCalls: number;
  readonly awsWrites: number;
  readonly dynamodbCalls: number;
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly decisions: number;
}

const spaceIdOf = (index: number) =>
  `team-${index}-01HND497T9JKR76MR3KA2C${String(index).padStart(4, "0")}` as SpaceId;
const stackIdOf = (index: number) => `scale-${index}` as StackId;

export async function run(options: BenchOptions): Promise<SectionResult> {
  const sizes = [...options.reconcileScaleSizes].sort((a, b) => a - b);
  const spaceCount = options.reconcileScaleSpaces;
  return withBenchAws({ policies: POLICIES, boundary: true }, async (moto) => {
    const provisioner = await composeProvisioner(process.env);
    const counter = new ApiCallCounter();
    for (const client of [iamClient(), ssmClient(), dynamodbClient()]) counter.attach(client);
    const spaces = Array.from({ length: spaceCount }, (_, index) => spaceIdOf(index));
    const spacelift = await startFakeSpacelift({
      stacks: [],
      spaces: [
        ROOT_SPACE,
        ...spaces.map((id, index) => ({
          id,
          name: `team-${index}`,
          parentSpace: "root",
          labels: [],
        })),
      ],
    });
    const entries: ReconcileScaleEntry[] = [];
    const details: Record<string, unknown>[] = [];
    try {
      await putApiKey(API_KEY_PARAMETER);
      Object.assign(process.env, {
        SPACELIFT_API_KEY_PARAMETER: API_KEY_PARAMETER,
        SPACELIFT_API_ENDPOINT: spacelift.endpoint,
        RECONCILE_DRY_RUN: "true",
      });
      await mapWithConcurrency(["root" as SpaceId, ...spaces], SEED_CONCURRENCY, (spaceId) =>
        convergeSpace({ spaceId }, provisioner, { fresh: true }),
      );
      let created = 0;
      for (const size of sizes) {
        // Grow the account to `size` stacks, created as the provisioner would create them.
        const started = performance.now();
        const batch = Array.from({ length: size - created }, (_, offset) => created + offset);
        await mapWithConcurrency(batch, SEED_CONCURRENCY, async (index) => {
          const stack = {
            stackId: stackIdOf(index),
            spaceId: spaces[index % spaces.length] as SpaceId,
            labels: [],
          };
          spacelift.state.addStack({ id: stack.stackId, space: stack.spaceId, labels: [] });
          await convergeStack(stack, provisioner, { fresh: true });
        });
        created = size;
        process.stderr.write(
          `  ${size} stacks in place (${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
        );
        const resources = size + spaces.length + 1;
        const reconciler = await composeReconciler(process.env);
        const inSync = await measurePass(counter, () => reconcile(reconciler));

        // 1% drift: every hundredth stack's role loses its managed policy.
        const iam = new IAMClient(localClientConfig(moto.endpoint));
        const drifted = Array.from({ length: Math.ceil(size / 100) }, (_, n) => n * 100);
        const policy = MANAGED_POLICIES[0];
        await mapWithConcurrency(drifted, SEED_CONCURRENCY, (index) =>
          iam.send(
            new DetachRolePolicyCommand({
              RoleName: stackRoleName(reconciler.config, stackIdOf(index)),
              PolicyArn: policy,
            }),
          ),
        );
        const drift = await measurePass(counter, () => reconcile(reconciler));
        await mapWithConcurrency(drifted, SEED_CONCURRENCY, (index) =>
          iam.send(
            new AttachRolePolicyCommand({
              RoleName: stackRoleName(reconciler.config, stackIdOf(index)),
              PolicyArn: policy,
            }),
          ),
        );
        iam.destroy();

        entries.push({
          stacks: size,
          spaces: spaces.length + 1,
          inSyncCallsPerResource: round(inSync.awsCalls / resources, 4),
          driftCallsPerResource: round(drift.awsCalls / resources, 4),
          planSeconds: round(Math.max(inSync.seconds, drift.seconds), 2),
          peakRssMb: Math.max(inSync.peakRssMb, drift.peakRssMb),
          modelledBackfillSeconds: 0,
          floorSeconds: 0,
        });
        details.push({
          stacks: size,
          resources,
          inSync,
          drift: { ...drift, drifted: drifted.length, found: drift.decisions },
        });
        if (drift.decisions !== drifted.length) {
          throw new Error(
            `drift: ${drifted.length} stacks drifted, the plan found ${drift.decisions}`,
          );
        }
      }
      // Last: its stacks are not in Spacelift's listing, so a pass would see them as orphans.
      const backfill = await modelBackfill(moto.endpoint, options, spaces);
      const reconcileScale = entries.map((entry) => ({
        ...entry,
        modelledBackfillSeconds: backfill.modelledSeconds,
        floorSeconds: backfill.floorSeconds,
      }));
      return {
        section: "reconcile-scale",
        title: `Reconcile at scale: dry-run plan over ${sizes.join(" and ")} stacks + ${spaces.length + 1} spaces (moto)`,
        rows: rowsOf(reconcileScale, backfill),
        notes: [
          "moto 5.2 returns GetAccountAuthorizationDetails in one page whatever MaxItems says; AWS pages at 1,000 roles: add one call per 1,000 roles (0.001 a resource).",
          "The in-sync and drift passes are dry runs (planning); DynamoDB calls are counted apart (the ledger), see data.",
          `Backfill model: ${backfill.sampleStacks} stacks applied through the throttling proxy at ${options.burstRate} IAM writes/s by ${PROVISIONER_CONCURRENCY} provisioners, ${backfill.writesPerStack} IAM writes a stack, ${backfill.throttled} throttled attempts, extrapolated to ${BACKFILL_STACKS}.`,
        ],
        data: { reconcileScale, details, backfill },
      };
    } finally {
      await spacelift.close();
    }
  });
}

async function measurePass(
  counter: ApiCallCounter,
  pass: () => Promise<{ decisions: readonly unknown[] }>,
): Promise<PassMeasure> {
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const started = performance.now();
  const { result, tally } = await counter.measure(pass);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const iam = callsOf(tally, "IAM");
  const ssm = callsOf(tally, "SSM");
  const dynamodb = callsOf(tally, "DynamoDB");
  return {
    calls: tally.calls as Record<string, number>,
    awsCalls: iam.readCount + iam.writeCount + ssm.readCount + ssm.writeCount,
    awsWrites: iam.writeCount + ssm.writeCount,
    dynamodbCalls: dynamodb.readCount + dynamodb.writeCount,
    seconds: round(seconds, 2),
    peakRssMb: Math.round(peak / 2 ** 20),
    decisions: result.decisions.length,
  };
}

/**
 * Applies the reconciler's messages for `--reconcile-scale-sample` new stacks through the
 * throttling proxy, as the provisioner would take them off the queue, and extrapolates.
 */
async function modelBackfill(
  endpoint: string,
  options: BenchOptions,
  spaces: readonly SpaceId[],
): Promise<{
  sampleStacks: number;
  writesPerStack: number;
  throttled: number;
  sampleSeconds: number;
  modelledSeconds: number;
  floorSeconds: number;
}> {
  const proxy = await startThrottlingProxy({
    target: endpoint,
    bucket: new TokenBucket(options.burstRate, options.burstBucket),
  });
  const iam = new IAMClient({ ...localClientConfig(proxy.endpoint), ...AWS_CLIENT_SETTINGS });
  const counter = new ApiCallCounter();
  counter.attach(iam);
  try {
    const deps = { ...(await composeProvisioner(process.env)), roles: new IamRoleStore(iam) };
    const sample = options.reconcileScaleSample;
    const timestamp = Date.now();
    const messages = Array.from({ length: sample }, (_, index) =>
      synthesizedMessage(
        {
          kind: "stack.update",
          stack: {
            stackId: `backfill-${index}` as StackId,
            spaceId: spaces[index % spaces.length] as SpaceId,
            labels: [],
          },
        },
        { account: ACCOUNT, timestamp, source: "reconciler" },
      ),
    );
    const started = performance.now();
    await mapWithConcurrency(messages, PROVISIONER_CONCURRENCY, async ({ body }) => {
      const outcome = await processMessage(body, deps);
      if (outcome.result !== "applied") throw new Error(`backfill: ${outcome.reason}`);
    });
    const sampleSeconds = (performance.now() - started) / 1000;
    const tally: CallTally = counter.snapshot();
    const writes = callsOf(tally, "IAM").writeCount;
    const writesPerStack = writes / sample;
    const stats = proxy.stats();
    const throttled = Object.values(stats.throttledWrites).reduce((sum, n) => sum + n, 0);
    return {
      sampleStacks: sample,
      writesPerStack: round(writesPerStack, 2),
      throttled,
      sampleSeconds: round(sampleSeconds, 1),
      // The bucket lets its first `burstBucket` writes through at once: the steady pace is
      // what the writes after those took, and the full backfill gets that burst once too.
      modelledSeconds: Math.round(
        (sampleSeconds / Math.max(1, writes - options.burstBucket)) *
          Math.max(0, writesPerStack * BACKFILL_STACKS - options.burstBucket),
      ),
      floorSeconds: Math.round((writesPerStack * BACKFILL_STACKS) / options.burstRate),
    };
  } finally {
    iam.destroy();
    await proxy.stop();
  }
}

function rowsOf(
  entries: readonly ReconcileScaleEntry[],
  backfill: { modelledSeconds: number; floorSeconds: number },
): Row[] {
  const rows: Row[] = [];
  for (const entry of entries) {
    const at = `${entry.stacks.toLocaleString("en-US")} stacks`;
    rows.push(
      {
        metric: `${at}: IAM+SSM calls per resource, in sync`,
        value: `${entry.inSyncCallsPerResource}`,
        target: `≤ ${TARGET_CALLS_PER_RESOURCE}, 0 writes`,
        met: entry.inSyncCallsPerResource <= TARGET_CALLS_PER_RESOURCE,
      },
      {
        metric: `${at}: IAM+SSM calls per resource, 1% drift`,
        value: `${entry.driftCallsPerResource}`,
        target: `≤ ${TARGET_CALLS_PER_RESOURCE}`,
        met: entry.driftCallsPerResource <= TARGET_CALLS_PER_RESOURCE,
      },
      { metric: `${at}: planning time`, value: `${entry.planSeconds} s` },
      { metric: `${at}: peak RSS during the pass`, value: `${entry.peakRssMb} MB` },
    );
  }
  rows.push({
    metric: `backfill of ${BACKFILL_STACKS.toLocaleString("en-US")} stacks through the queue (modelled)`,
    value: `${backfill.modelledSeconds} s`,
    target: `floor ${backfill.floorSeconds} s (writes ÷ rate)`,
  });
  return rows;
}

async function putApiKey(name: string): Promise<void> {
  await ssmClient().send(
    new PutParameterCommand({
      Name: name,
      Type: "SecureString",
      Overwrite: true,
      Value: JSON.stringify({ id: FAKE_API_KEY_ID, secret: FAKE_API_KEY_SECRET }),
    }),
  );
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
