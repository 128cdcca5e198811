/**
 * Fault-injection convergence (bounded; `npm run soak` runs the larger version): for several
 * seeds, hundreds of stack and space events, delivered with duplicates and reordering through a
 * simulated SQS FIFO queue into `processMessage` with the real adapters against moto_server,
 * with throttling, 500s, timeouts, connection resets, lost answers, unretried conflicts, calls
 * the SDK gives up on and IAM eventual consistency injected below the SDK's retries. Afterwards
 * AWS must hold exactly what the model of the history says, and the decoys must be untouched.
 * A further seed runs with two AWS accounts (stacks moving between spaces of both and back,
 * AssumeRole throttled now and then) and reconcile passes interleaved with the deliveries,
 * while the fake Spacelift follows the history and moves on under each pass.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { type MotoServer, startMotoServer } from "../../testkit/aws/moto.ts";
import {
  type ConvergenceEnvironment,
  prepareConvergence,
  runConvergenceSeed,
  type SeedReport,
  summarize,
  TEST_FAULTS,
} from "../../testkit/faults/convergence-scenario.ts";
import { FAULT_KINDS } from "../../testkit/faults/fault-injection.ts";

const SEEDS = [11, 22, 33, 44];
const EVENTS = 150;

let moto: MotoServer;
let env: ConvergenceEnvironment;

beforeAll(async () => {
  moto = await startMotoServer();
  env = await prepareConvergence(moto);
});

afterAll(async () => {
  env?.close();
  await moto?.stop();
});

it("converges with two AWS accounts and reconcile passes interleaved with the deliveries, before and after a final pass", async () => {
  const report = await runConvergenceSeed(env, {
    seed: 5,
    events: 120,
    stacks: 10,
    spaces: 4,
    faults: TEST_FAULTS,
    accounts: 2,
    reconcilePasses: 3,
  });
  console.log(summarize([report]));

  expect(report.problems).toEqual([]);
  expect(report.crossAccountMoves, "stacks moved between accounts").toBeGreaterThan(0);
  expect(report.assumeRoleCalls, "the second account reached through STS").toBeGreaterThan(0);
  expect(report.reconcile.passes).toBe(4);
  expect(report.reconcile.passes - report.reconcile.failed, "passes that planned").toBeGreaterThan(
    0,
  );
  expect(report.reconcile.enqueued, "pass messages in the FIFO queue").toBeGreaterThan(0);
  expect(report.poisonDeadLettered, "poison message dead-lettered").toBeGreaterThan(0);
}, 240_000);

it(`converges to the model of the event history for ${SEEDS.length} seeds × ${EVENTS} events under injected faults`, async () => {
  const reports: SeedReport[] = [];
  for (const seed of SEEDS) {
    reports.push(
      await runConvergenceSeed(env, {
        seed,
        events: EVENTS,
        stacks: 16,
        spaces: 6,
        faults: TEST_FAULTS,
      }),
    );
  }
  console.log(summarize(reports));

  for (const report of reports) {
    expect(report.problems, `seed ${report.seed}`).toEqual([]);
    expect(report.events).toBe(EVENTS);
    expect(report.deliveries, "duplicates delivered").toBeGreaterThan(EVENTS);
    expect(report.poisonDeadLettered, "poison message dead-lettered").toBeGreaterThan(0);
    expect(report.redeliveries, "message-level retries").toBeGreaterThan(report.poisonDeadLettered);
  }
  // Every kind of fault struck at least once across the seeds.
  for (const kind of FAULT_KINDS) {
    expect(
      reports.reduce((sum, report) => sum + report.injected[kind], 0),
      kind,
    ).toBeGreaterThan(0);
  }
}, 240_000);
