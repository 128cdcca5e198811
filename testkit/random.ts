/**
 * Seeded pseudo-random generators for tests, the soak and the bench: a seed names a run, and a
 * failure replays from it. Each generator is named by its algorithm, because its callers depend
 * on its exact sequence (seeded histories, generated samples, the bench's mix of events): moving
 * a caller to another algorithm changes what it generates.
 */

/** Uniform numbers in [0, 1), one a call. */
export type UnitSource = () => number;

/** mulberry32 (Tommy Ettinger's 32-bit generator): uniform in [0, 1). */
export function mulberry32(seed: number): UnitSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Linear congruential generator mod 2^32 with Numerical Recipes' constants (a = 1664525, c = 1013904223). */
export function lcgNumericalRecipes(seed: number): UnitSource {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Linear congruential generator with the C standard's example constants (a = 1103515245,
 * c = 12345) kept to 31 bits, its product computed in doubles: past 2^53 the product rounds, so
 * the sequence is its own, not C's `rand()` (kept as the template-soundness test has always drawn it).
 */
export function lcgAnsiCInDoubles(seed: number): UnitSource {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

/** A seeded source with the draws a generated scenario needs. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32 with the draws of {@link Random}. */
export function createRandom(seed: number): Random {
  const next = mulberry32(seed);
  return {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (probability) => next() < probability,
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error("cannot pick from an empty list");
      return item;
    },
  };
}
