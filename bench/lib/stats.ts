/** Order statistics for benchmark samples: medians with their spread, never a lone mean. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
}

/** The q-quantile (0..1) of sorted values, interpolating linearly between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] ?? Number.NaN;
  const high = sorted[upper] ?? Number.NaN;
  return low + (high - low) * (position - lower);
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Rounds for display and JSON: 3 significant decimals is more than this machine can resolve. */
export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function roundSummary(summary: Summary, digits = 3): Summary {
  return {
    n: summary.n,
    median: round(summary.median, digits),
    p25: round(summary.p25, digits),
    p75: round(summary.p75, digits),
    p99: round(summary.p99, digits),
    min: round(summary.min, digits),
    max: round(summary.max, digits),
  };
}
