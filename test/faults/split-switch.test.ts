/**
 * Fault-injection convergence while the read/write split is switched on and then off again
 * (`npm run soak -- --switch-split` runs the larger version): the history of
 * test/faults/convergence.test.ts, delivered with duplicates and reordering under injected
 * faults, with each receive deployed with the configuration of its moment, and one stack whose
 * switch to the split fails half-way (its unsplit role cannot be deleted) until the split is
 * off again. Afterwards no role or read-role parameter of the split may be left: the
 * provisioner looks for the other shape's roles whenever the ledger cannot vouch they are gone.
 * Every parameter carries exactly its role's tags: the write role's `spacelift:scope` leaves
 * the stack's `role-arn` parameter once the split is off again.
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

// Seeds whose half-way stack has events on both sides of the switch back.
const SEEDS = [1, 5];
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

it(`leaves nothing of the split behind after it is switched on and off, for ${SEEDS.length} seeds × ${EVENTS} events under injected faults`, async () => {
  const reports: SeedReport[] = [];
  for (const seed of SEEDS) {
    reports.push(
      await runConvergenceSeed(env, {
        seed,
        events: EVENTS,
        stacks: 9,
        spaces: 4,
        faults: TEST_FAULTS,
        switchSplit: true,
      }),
    );
  }
  console.log(summarize(reports));

  for (const report of reports) {
    expect(report.problems, `seed ${report.seed}`).toEqual([]);
    expect(report.events).toBe(EVENTS);
    expect(report.halfWayFailures, "switches that failed half-way").toBeGreaterThan(0);
  }
}, 240_000);
