import { describe, expect, it } from "vitest";
import { matchesSpace, matchGlob } from "../../../functions/core/glob.ts";
import { mulberry32 } from "../../../testkit/random.ts";

/** The regular-expression translation matchesSpace used before: the semantics to keep. */
function regexGlob(pattern: string, text: string): boolean {
  const regex = pattern
    .split("")
    .map((char) =>
      char === "*" ? ".*" : char === "?" ? "." : char.replace(/[\\^$.|+()[\]{}]/, "\\$&"),
    )
    .join("");
  return new RegExp(`^${regex}$`).test(text);
}

/** Deterministic pseudo-random strings (mulberry32), so a failure reproduces. */
function generator(seed: number) {
  const next = mulberry32(seed);
  return (alphabet: string, maxLength: number) =>
    Array.from(
      { length: Math.floor(next() * (maxLength + 1)) },
      () => alphabet[Math.floor(next() * alphabet.length)],
    ).join("");
}

describe("matchGlob", () => {
  it("agrees with the regular-expression translation on 20,000 generated pattern/text pairs", () => {
    const random = generator(20261206);
    const disagreements: string[] = [];
    for (let index = 0; index < 20_000; index += 1) {
      const pattern = random("ab*?.-", 8);
      const text = random("ab.-", 10);
      if (matchGlob(pattern, text) !== regexGlob(pattern, text)) {
        disagreements.push(`${JSON.stringify(pattern)} vs ${JSON.stringify(text)}`);
      }
    }
    expect(disagreements).toEqual([]);
  });

  it.each([
    ["", "", true],
    ["", "a", false],
    ["*", "", true],
    ["**", "anything", true],
    ["?", "", false],
    ["?", "a", true],
    ["a*b", "ab", true],
    ["a*b", "acb", true],
    ["a*b", "acbc", false],
    ["*b*", "abc", true],
    ["a.c", "abc", false],
    ["a.c", "a.c", true],
    ["(a)|b", "(a)|b", true],
    ["production-*", "production-01HND497T9JKR76MR3KA2CDJHP", true],
    ["production-*", "staging-01HND4B1Q0W5Z7YV3J6QG2X9TS", false],
    ["*-01HND497T9JKR76MR3KA2CDJH?", "production-01HND497T9JKR76MR3KA2CDJHP", true],
  ])("%j against %j is %s", (pattern, text, expected) => {
    expect(matchGlob(pattern, text)).toBe(expected);
    expect(matchesSpace(pattern, text)).toBe(expected);
  });

  it("takes at most (text + 1) × (pattern + 1) steps on a pattern that makes a regex backtrack", () => {
    // Prepare: with `.*` per star, this pattern against 128 `a`s took 23 s.
    const text = "a".repeat(128);
    const pattern = `${"a*".repeat(12)}b`;
    const probe = { steps: 0 };

    // Act
    const matched = matchGlob(pattern, text, probe);

    // Assess
    expect(matched).toBe(false);
    expect(probe.steps).toBeGreaterThan(0);
    expect(probe.steps).toBeLessThanOrEqual((text.length + 1) * (pattern.length + 1));
  });

  it("stays within the bound on every generated pair", () => {
    const random = generator(7);
    let worst = 0;
    for (let index = 0; index < 5_000; index += 1) {
      const pattern = random("a*?", 12);
      const text = random("ab", 40);
      const probe = { steps: 0 };
      matchGlob(pattern, text, probe);
      worst = Math.max(worst, probe.steps / ((text.length + 1) * (pattern.length + 1)));
    }
    expect(worst).toBeLessThanOrEqual(1);
  });
});
