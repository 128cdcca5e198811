import { describe, expect, it } from "vitest";
import { loadVendingConfig } from "../../../functions/core/config.ts";
import type { SpaceId, StackId } from "../../../functions/core/identifiers.ts";
import {
  type AccountExpectation,
  carriesOurTags,
  describeHolder,
  isManagedByUs,
  isOurParameter,
  isRoleOf,
  ownerFromTags,
  type RoleOwner,
} from "../../../functions/core/role-ownership.ts";
import { SPACELIFT_HOST } from "../../../testkit/spacelift/fixtures.ts";

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

describe("isOurParameter: a parameter is ours by the same tag rule", () => {
  it("lets a removal take any parameter of ours and a publish only its account's or an untagged one", () => {
    const decisions = [
      OURS,
      { ...OURS, "spacelift:account": "acme" },
      { ...OURS, "spacelift:account": "other" },
      { "spacelift:account": "acme" },
    ].map((tags) => [isOurParameter(tags, undefined), isOurParameter(tags, "acme")]);
    expect(decisions).toEqual([
      [true, true],
      [true, true],
      [true, false],
      [false, false],
    ]);
  });
});

describe("whose a role is: ownerFromTags, isRoleOf, describeHolder", () => {
  const STACK = "payments-api" as StackId;
  const SPACE = "production-01HND497T9JKR76MR3KA2CDJHP" as SpaceId;
  const stackOwner: RoleOwner = { kind: "stack", id: STACK };
  const spaceOwner: RoleOwner = { kind: "space", id: SPACE };

  async function ourConfig() {
    return loadVendingConfig({
      SPACELIFT_HOSTNAME: "acme.app.spacelift.io",
      UNSAFE_ALLOW_ROLES_WITHOUT_BOUNDARY: "true",
      AWS_ACCOUNT_ID: "123456789012",
    });
  }

  const readings: [string, Record<string, string>, RoleOwner, RoleOwner][] = [
    [
      "reads a stack's role (which carries its space's tag too) as the stack's, never the space's",
      { "spacelift:stack": STACK, "spacelift:space": SPACE },
      stackOwner,
      spaceOwner,
    ],
    [
      "reads a role with only the space tag as the space's",
      { "spacelift:space": SPACE },
      spaceOwner,
      stackOwner,
    ],
  ];
  for (const [what, ownerTags, owner, other] of readings) {
    it(what, async () => {
      const config = await ourConfig();
      const tags = { ...OURS, "spacelift:account": config.spaceliftAccount, ...ownerTags };
      const role = { name: "r", tags, path: config.rolePath };
      expect(ownerFromTags(tags)).toEqual(owner);
      expect(isRoleOf(config, role, owner)).toBe(true);
      expect(isRoleOf(config, role, other)).toBe(false);
      expect(describeHolder(config, role, other)).toBe(
        `role r belongs to ${owner.kind} ${owner.id}, not to ${other.kind} ${other.id}; leaving it untouched`,
      );
    });
  }

  it.each([
    [
      "Spacelift:Stack",
      "re-cased (IAM keeps one role tag per key whatever its case: the last spelling written)",
    ],
    ["SPACELIFT:STACK", "upper case"],
    [" spacelift:stack", "with white space before it"],
    ["spacelift:stack ", "with white space after it"],
  ])(
    "never reads a stack's role as its space's when its stack tag key is %s, %s: it names no owner",
    async (key) => {
      const config = await ourConfig();
      const tags = {
        ...OURS,
        "spacelift:account": config.spaceliftAccount,
        [key]: STACK,
        "spacelift:space": SPACE,
      };
      const role = { name: "spacelift-stack-payments-api", tags, path: config.rolePath };
      expect(ownerFromTags(tags)).toBeUndefined();
      expect(isRoleOf(config, role, spaceOwner)).toBe(false);
      expect(isRoleOf(config, role, stackOwner)).toBe(false);
    },
  );

  it("names no owner for a role of ours without a stack or space tag, and none for a role not ours", async () => {
    const config = await ourConfig();
    const untagged = {
      name: "r",
      tags: { ...OURS, "spacelift:account": config.spaceliftAccount },
      path: config.rolePath,
    };
    const foreign = { name: "r", tags: { "spacelift:stack": STACK }, path: config.rolePath };
    expect(ownerFromTags(untagged.tags)).toBeUndefined();
    expect(isRoleOf(config, untagged, stackOwner)).toBe(false);
    expect(describeHolder(config, untagged, stackOwner)).toBe(
      `role r is ours but names no stack or space, not to stack ${STACK}; leaving it untouched`,
    );
    expect(isRoleOf(config, foreign, stackOwner)).toBe(false);
    expect(describeHolder(config, foreign, stackOwner)).toBe(
      `role r exists but was not created by spacelift-role-vending, not to stack ${STACK}; leaving it untouched`,
    );
  });
});
