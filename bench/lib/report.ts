/** What each benchmark section hands back, and how the table is printed. */

export interface Row {
  /** What is measured, e.g. "p99 latency". */
  readonly metric: string;
  /** The figure as printed, e.g. "0.21 ms (p25–p75 0.20–0.22, 7 runs)". */
  readonly value: string;
  readonly target?: string;
  /** Whether the target is met; undefined when there is no target. */
  readonly met?: boolean;
}

export interface SectionResult {
  readonly section: string;
  readonly title: string;
  readonly rows: readonly Row[];
  readonly notes: readonly string[];
  /** Everything measured, for bench/results.json. */
  readonly data: unknown;
}

export interface BenchOptions {
  readonly receiverEvents: number;
  readonly receiverRuns: number;
  readonly reconcileStacks: number;
  readonly coldStartRuns: number;
  readonly burstEvents: number;
  readonly burstRate: number;
  /** Token-bucket capacity of the throttled IAM endpoint (writes it lets through at once). */
  readonly burstBucket: number;
  readonly burstPolicies: number;
  readonly burstConcurrency: number;
  readonly burstVisibilitySeconds: number;
  readonly burstRuns: number;
  readonly roleLatencyEvents: number;
  /** Stack counts the reconcile-scale section plans over (ascending, the account grows). */
  readonly reconcileScaleSizes: readonly number[];
  /** Spaces besides root in the reconcile-scale section. */
  readonly reconcileScaleSpaces: number;
  /** Stacks applied through the throttling proxy to model the backfill. */
  readonly reconcileScaleSample: number;
  /** Creates in one target account, in one credential lifetime (the accounts section). */
  readonly accountCreates: number;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(3)} ms`;
}

export function formatKb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Prints sections as one aligned table. */
export function renderTable(sections: readonly SectionResult[]): string {
  const header = ["", "metric", "value", "target", "met"];
  const lines: string[][] = [];
  for (const section of sections) {
    lines.push([`${section.section}`, section.title, "", "", ""]);
    for (const row of section.rows) {
      lines.push([
        "",
        row.metric,
        row.value,
        row.target ?? "",
        row.met === undefined ? "" : row.met ? "yes" : "NO",
      ]);
    }
  }
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => (line[column] ?? "").length)),
  );
  const render = (line: readonly string[]) =>
    line
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  const rule = widths.map((width) => "-".repeat(width)).join("  ");
  const out = [render(header), rule];
  for (const [index, line] of lines.entries()) {
    if (line[0] !== "" && index > 0) out.push(rule);
    out.push(render(line));
  }
  return out.join("\n");
}
