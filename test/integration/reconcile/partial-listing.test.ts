/**
 * Issue 14 goal 3: a Spacelift listing that fails half-way is never taken for the truth. The
 * stacks whose roles exist are on the listing's last page, so a reconciler that acted on the
 * pages it did read would see them as orphans, revoke their trust, and (past the grace period)
 * delete them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Harness,
  readResource,
  snapshotAws,
  startHarness,
  writeCommands,
} from "../../../testkit/reconcile-harness.ts";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

beforeEach(async () => {
  await h.reset();
});

const T0 = new Date("2026-11-20T12:00:00.000Z");
/** Far past every grace period: an orphan seen now would be deleted. */
const LATER = new Date("2027-06-01T12:00:00.000Z");

/** The managed stacks sort after the 100 unmanaged ones, so they are on page 3 (50 a page). */
const MANAGED = ["zz-kept-1", "zz-kept-2"];

async function managedStacksOnPageThree(): Promise<unknown> {
  for (const id of MANAGED) h.spacelift.state.addStack({ id, space: "root", labels: [] });
  await h.reconcile({ now: T0 });
  for (const id of MANAGED) expect((await readResource(h, "stack", id)).roles).not.toEqual([]);
  for (let index = 0; index < 100; index++) {
    h.spacelift.state.addStack({
      id: `aa-${String(index).padStart(3, "0")}`,
      space: "root",
      labels: [],
    });
  }
  return snapshotAws(h);
}

describe("reconcile when the Spacelift listing fails on page 3", () => {
  it.each([
    [
      "a GraphQL error",
      (h: Harness) =>
        h.spacelift.faults.graphqlErrors(Infinity, ["internal error"], {
          operation: "searchStacks",
          skip: 2,
        }),
    ],
    [
      "throttling past the retries",
      (h: Harness) =>
        h.spacelift.faults.rateLimit(Infinity, {
          operation: "searchStacks",
          skip: 2,
          retryAfter: "0",
        }),
    ],
  ])("%s: revokes nothing, deletes nothing, creates nothing", async (_label, fault) => {
    const before = await managedStacksOnPageThree();
    fault(h);
    h.commands.length = 0;

    // Planned and applied: the provisioner drains whatever the plan queued.
    const outcome = await h.reconcile({ now: LATER }).then(
      (report) => report.decisions.map(({ action, resource }) => `${action} ${resource}`),
      (error: unknown) => error,
    );

    // Either the run fails, or it refuses: it never decides on a partial listing.
    if (Array.isArray(outcome)) {
      expect(outcome.filter((line) => /^(create|revoke|delete|update)\b/.test(line))).toEqual([]);
    } else {
      expect(outcome).toBeInstanceOf(Error);
    }
    expect(
      h.spacelift.requests.filter(({ operation }) => operation === "searchStacks").length,
    ).toBeGreaterThanOrEqual(3);
    expect(writeCommands(h.commands)).toEqual([]);
    expect(await snapshotAws(h)).toEqual(before);
  });
});
