/** The README's `accounts` example, read from the page so the two cannot drift apart. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { accountFor, configForAccount } from "../../../functions/core/account-routing.ts";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import { stackBindings } from "../../../functions/core/role-spec.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

const EXAMPLE = (() => {
  const page = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const block = /<!-- accounts-example[^>]*-->\s*```yaml\n([\s\S]*?)```/.exec(page)?.[1];
  if (block === undefined) throw new Error("README.md has no accounts example");
  return block;
})();

describe("the README's accounts example", () => {
  it("routes and grants as the README says", async () => {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      AWS_ACCOUNT_ID: "111111111111",
      PERMISSIONS_CONFIG: EXAMPLE,
    });
    const prod = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
    const staging = "staging-01HND4B1Q0W5Z7YV3J6QG2X9TR" as SpaceId;
    const roleIn = (spaceId: SpaceId) =>
      stackBindings(configForAccount(config, accountFor(config, spaceId)), {
        stackId: "payments-api" as StackId,
        spaceId,
        labels: [],
      })[0]?.role;

    expect(accountFor(config, prod)).toBe("222222222222");
    expect(accountFor(config, "data-01HPE6H08F8HR8PJR78DPYR3TC" as SpaceId)).toBe("333333333333");
    expect(accountFor(config, staging)).toBe("111111111111");
    expect(roleIn(prod)?.managedPolicyArns).toEqual([
      "arn:aws:iam::aws:policy/PowerUserAccess",
      "arn:aws:iam::aws:policy/ReadOnlyAccess",
    ]);
    expect(JSON.stringify(roleIn(prod)?.trustPolicy)).toContain(
      "arn:aws:iam::222222222222:oidc-provider/acme.app.spacelift.io",
    );
    expect(roleIn(staging)?.managedPolicyArns).toEqual(["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
  });
});
