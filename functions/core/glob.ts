/**
 * Space globs of the permissions file (`spaces` rules, label `spaces`, `accounts[].spaces`):
 * `*` any run of characters, `?` one character, everything else literal.
 */
import type { SpaceId } from "./identifiers.ts";

/** Does a space ID match a rule's space ID or glob? */
export function matchesSpace(pattern: string, spaceId: SpaceId | string): boolean {
  return matchGlob(pattern, spaceId);
}

/**
 * Glob matching (`*` any run of characters, `?` one character, everything else literal) in
 * O(pattern × text) steps at worst. A regular expression with one `.*` per star backtracks
 * exponentially: `a*a*a*a*a*b` against 128 `a`s took 23 s. This is the greedy two-pointer
 * algorithm: on a mismatch only the most recent star takes one more character, since any
 * earlier star's choice is subsumed by it. `probe.steps` counts loop iterations (for tests).
 */
export function matchGlob(pattern: string, text: string, probe?: { steps: number }): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  let steps = 0;
  try {
    while (t < text.length) {
      steps += 1;
      const char = pattern[p];
      if (char === "*") {
        star = p;
        resume = t;
        p += 1;
      } else if (char !== undefined && (char === "?" || char === text[t])) {
        p += 1;
        t += 1;
      } else if (star !== -1) {
        resume += 1;
        t = resume;
        p = star + 1;
      } else {
        return false;
      }
    }
    while (pattern[p] === "*") {
      steps += 1;
      p += 1;
    }
    return p === pattern.length;
  } finally {
    if (probe !== undefined) probe.steps += steps;
  }
}
