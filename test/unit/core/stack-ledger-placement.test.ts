import { describe, expect, it } from "vitest";
import type { StackId } from "../../../functions/core/identifiers.ts";
import { recordListed, recordStackFacts } from "../../../functions/core/stack-ledger.ts";
import { InMemoryLedger } from "../../../testkit/fakes/in-memory.ts";

describe("the ledger's placement of a resource's roles", () => {
  it("survives the reconciler's listing record, so a move under way is not forgotten", async () => {
    const ledger = new InMemoryLedger();
    await ledger.record({
      resource: "stack:api",
      timestamp: 1_000,
      state: "present",
      account: "222222222222",
      formerAccounts: ["333333333333"],
    });

    await recordListed(ledger, "stack:api", 5_000, await ledger.get("stack:api"));
    await recordStackFacts(
      ledger,
      { stackId: "api" as StackId, spaceId: "root" as never, labels: [] },
      9_000,
    );

    expect(await ledger.get("stack:api")).toMatchObject({
      timestamp: 9_000,
      account: "222222222222",
      formerAccounts: ["333333333333"],
    });
  });
});
