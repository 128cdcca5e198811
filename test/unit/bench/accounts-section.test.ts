/**
 * The bench's accounts section against a real moto_server, small: a create in a target
 * account assumes its vending role once (cold), then reuses the session (warm), and a clock
 * that outruns the session's lifetime renews it once per 55-minute window, no more.
 */
import { describe, expect, it } from "vitest";
import { measureAccounts, report } from "../../../bench/sections/accounts.ts";

describe("bench accounts section", () => {
  it("counts one AssumeRole for the first create in a target account and none for the next", async () => {
    const measured = await measureAccounts(5, 60);

    expect(measured.cold.assumeRole).toBe(1);
    expect(measured.cold.outcome).toBe("role created, parameter created");
    expect(measured.cold.target.iam.writes).toMatchObject({ CreateRole: 1 });
    expect(measured.cold.service.iam.writes).toEqual({});
    expect(measured.warm.map((calls) => calls.assumeRole)).toEqual([0, 0, 0, 0]);
    expect(measured.lifetime).toEqual({ creates: 5, assumeRole: 1 });
    // Sessions assumed at simulated minutes 0 and 55 cover 60 creates.
    expect(measured.clock).toMatchObject({ creates: 60, assumeRole: 2, bound: 2 });
    expect(report(measured).rows.filter((row) => row.met === false)).toEqual([]);
    // About 65 creates against moto on a shared 2-core machine.
  }, 180_000);
});
