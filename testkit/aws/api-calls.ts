/**
 * Counts AWS API calls made through real SDK clients, keyed by the SDK client's own service and
 * the operation (`IAM:CreateRole`: every IAM client attached counts together), with throttled
 * attempts and failures by error name, and tallies to subtract and sum (the benchmarks and the
 * reconciler's call-count tests). Calls and attempts are counted as `observeSdkCalls` sees them.
 * To count two clients of one service apart (two accounts), use one counter each, or
 * `LabelledCallCounter` (faults/fault-injection.ts), which keys by a label given per client.
 */
import { observeSdkCalls, type SdkOperation } from "./sdk-call-observer.ts";

export type Service = string;

export interface CallTally {
  /** Logical calls (`send`), keyed `Service:Operation`. */
  readonly calls: Readonly<Record<string, number>>;
  /** HTTP attempts, including retries. */
  readonly attempts: Readonly<Record<string, number>>;
  /** Attempts refused with a throttling error. */
  readonly throttled: Readonly<Record<string, number>>;
  /** Logical calls that ended in an error (after any retries), keyed by operation and error name. */
  readonly failed: Readonly<Record<string, number>>;
}

/** Names AWS uses for throttling across query, JSON and REST protocols. */
const THROTTLING_ERRORS = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ProvisionedThroughputExceededException",
  "SlowDown",
]);

/** Read operations never change AWS state; everything else counts as a write. */
export function isReadOperation(operation: string): boolean {
  return /^(Get|List|Describe|Query|Scan|BatchGet|Receive)/.test(operation);
}

/** Calls, attempts, throttles and failures per `Service:Operation`, the service named by the SDK client. */
export class ApiCallCounter {
  private calls = new Map<string, number>();
  private attempts = new Map<string, number>();
  private throttled = new Map<string, number>();
  private failed = new Map<string, number>();

  /** Attaches both counting middlewares to an SDK v3 client (again: replaces them). */
  attach(client: { readonly middlewareStack: unknown }): void {
    observeSdkCalls(
      client,
      {
        calls: {
          started: (operation) => bump(this.calls, keyOf(operation)),
          failed: (operation, error) => bump(this.failed, `${keyOf(operation)}:${error.name}`),
        },
        attempts: {
          started: (operation) => bump(this.attempts, keyOf(operation)),
          failed: (operation, error) => {
            if (THROTTLING_ERRORS.has(error.name)) bump(this.throttled, keyOf(operation));
          },
        },
      },
      "benchCount",
    );
  }

  snapshot(): CallTally {
    return {
      calls: Object.fromEntries(this.calls),
      attempts: Object.fromEntries(this.attempts),
      throttled: Object.fromEntries(this.throttled),
      failed: Object.fromEntries(this.failed),
    };
  }

  reset(): void {
    this.calls.clear();
    this.attempts.clear();
    this.throttled.clear();
    this.failed.clear();
  }

  /** Runs `work` and returns what it called (the counter keeps counting across). */
  async measure<T>(work: () => Promise<T>): Promise<{ result: T; tally: CallTally }> {
    const before = this.snapshot();
    const result = await work();
    return { result, tally: subtractTally(this.snapshot(), before) };
  }
}

export function subtractTally(after: CallTally, before: CallTally): CallTally {
  return {
    calls: subtract(after.calls, before.calls),
    attempts: subtract(after.attempts, before.attempts),
    throttled: subtract(after.throttled, before.throttled),
    failed: subtract(after.failed, before.failed),
  };
}

export function sumTallies(tallies: readonly CallTally[]): CallTally {
  const add = (pick: (tally: CallTally) => Readonly<Record<string, number>>) => {
    const total: Record<string, number> = {};
    for (const tally of tallies) {
      for (const [key, count] of Object.entries(pick(tally)))
        total[key] = (total[key] ?? 0) + count;
    }
    return total;
  };
  return {
    calls: add((tally) => tally.calls),
    attempts: add((tally) => tally.attempts),
    throttled: add((tally) => tally.throttled),
    failed: add((tally) => tally.failed),
  };
}

export interface ServiceCalls {
  readonly reads: Readonly<Record<string, number>>;
  readonly writes: Readonly<Record<string, number>>;
  readonly readCount: number;
  readonly writeCount: number;
}

/** One service's logical calls, split into reads and writes by operation name. */
export function callsOf(tally: CallTally, service: Service): ServiceCalls {
  const reads: Record<string, number> = {};
  const writes: Record<string, number> = {};
  for (const [key, count] of Object.entries(tally.calls)) {
    const [keyService, operation = ""] = key.split(":");
    if (keyService !== service || count === 0) continue;
    const target = isReadOperation(operation) ? reads : writes;
    target[operation] = count;
  }
  const total = (record: Record<string, number>) =>
    Object.values(record).reduce((sum, count) => sum + count, 0);
  return { reads, writes, readCount: total(reads), writeCount: total(writes) };
}

/** Retries the SDK made for one service: attempts beyond the first of each call. */
export function retriesOf(tally: CallTally, service: Service): number {
  let retries = 0;
  for (const [key, attempts] of Object.entries(tally.attempts)) {
    if (key.startsWith(`${service}:`)) retries += attempts - (tally.calls[key] ?? 0);
  }
  return retries;
}

export function totalOf(record: Readonly<Record<string, number>>, service?: Service): number {
  let total = 0;
  for (const [key, count] of Object.entries(record)) {
    if (service === undefined || key.startsWith(`${service}:`)) total += count;
  }
  return total;
}

/** `IAM`, `CreateRole` → `IAM:CreateRole`. */
function keyOf({ client, operation }: SdkOperation): string {
  return `${client}:${operation}`;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function subtract(
  after: Readonly<Record<string, number>>,
  before: Readonly<Record<string, number>>,
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, count] of Object.entries(after)) {
    const difference = count - (before[key] ?? 0);
    if (difference !== 0) result[key] = difference;
  }
  return result;
}
