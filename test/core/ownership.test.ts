import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../functions/core/config.ts";
import {
  type AccountExpectation,
  carriesOurTags,
  isManagedByUs,
} from "../../functions/core/role-spec.ts";
import { SPACELIFT_HOST } from "../support/fixtures.ts";

const OURS = { "managed-by": "spacelift-role-vending" };

describe("carriesOurTags: the one 'is this ours?' rule on tags", () => {
  const expectations: Record<string, AccountExpectation> = {
    any: "any",
    "acme, untagged ours": { account: "acme", withoutAccountTag: "ours" },
    "acme, untagged not ours": { account: "acme", withoutAccountTag: "not-ours" },
  };
  const cases: [string, Record<string, string>, Record<string, boolean>][] = [
    [
      "no managed-by tag",
      { "spacelift:account": "acme" },
      { any: false, "acme, untagged ours": false, "acme, untagged not ours": false },
    ],
    [
      "another product's managed-by tag",
      { "managed-by": "terraform", "spacelift:account": "acme" },
      { any: false, "acme, untagged ours": false, "acme, untagged not ours": false },
    ],
    [
      "our managed-by tag, no account tag",
      OURS,
      { any: true, "acme, untagged ours": true, "acme, untagged not ours": false },
    ],
    [
      "our managed-by tag, our account",
      { ...OURS, "spacelift:account": "acme" },
      { any: true, "acme, untagged ours": true, "acme, untagged not ours": true },
    ],
    [
      "our managed-by tag, another account",
      { ...OURS, "spacelift:account": "other" },
      { any: true, "acme, untagged ours": false, "acme, untagged not ours": false },
    ],
  ];
  for (const [what, tags, decisions] of cases) {
    it(`decides ${what} for every account expectation`, () => {
      const actual = Object.fromEntries(
        Object.entries(expectations).map(([name, expected]) => [
          name,
          carriesOurTags(tags, expected),
        ]),
      );
      expect(actual).toEqual(decisions);
    });
  }
});

describe("isManagedByUs: a role is ours by its tags and its path", () => {
  it("needs our tags with our account tag, and the configured role path", async () => {
    const config = await loadVendingConfig({
      SPACELIFT_HOSTNAME: SPACELIFT_HOST,
      UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
      AWS_ACCOUNT_ID: "123456789012",
    });
    const tagged = { ...OURS, "spacelift:account": config.spaceliftAccount };
    expect(isManagedByUs(config, tagged, config.rolePath)).toBe(true);
    expect(isManagedByUs(config, tagged, "/elsewhere/")).toBe(false);
    expect(isManagedByUs(config, OURS, config.rolePath)).toBe(false);
  });
});
