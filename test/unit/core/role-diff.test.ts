/**
 * The one tag rule roles and their parameters converge by (`diffTags`, used by `diffRole` and
 * by the SSM parameter store): set what differs, unset our own keys the spec no longer has,
 * never touch anyone else's.
 */
import { describe, expect, it } from "vitest";
import { diffTags } from "../../../functions/core/role-diff.ts";

const OURS = {
  "managed-by": "spacelift-role-vending",
  "spacelift:account": "acme",
  "spacelift:stack": "payments-api",
};

describe("diffTags", () => {
  it("has nothing to do when the resource carries the desired tags, plus foreign ones", () => {
    expect(diffTags({ ...OURS, team: "payments" }, OURS)).toEqual({ set: {}, unset: [] });
  });

  it("sets tags that are missing or hold another value", () => {
    expect(
      diffTags(
        { ...OURS, "spacelift:space": "production" },
        { ...OURS, "spacelift:space": "staging", "spacelift:scope": "write" },
      ),
    ).toEqual({ set: { "spacelift:space": "staging", "spacelift:scope": "write" }, unset: [] });
  });

  it("unsets, sorted, only our own keys the desired tags no longer have", () => {
    expect(
      diffTags(
        {
          ...OURS,
          "spacelift:scope": "write",
          "spacelift:labels": ":team-a:",
          team: "payments",
          scope: "write",
          "Spacelift-Scope": "write",
        },
        OURS,
      ),
    ).toEqual({ set: {}, unset: ["spacelift:labels", "spacelift:scope"] });
  });

  it("counts managed-by as ours", () => {
    const { "managed-by": _, ...withoutManagedBy } = OURS;
    expect(diffTags(OURS, withoutManagedBy).unset).toEqual(["managed-by"]);
  });
});
