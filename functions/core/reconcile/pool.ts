/**
 * Runs `act` over `items`, at most `limit` at a time. The first error is rethrown once the
 * others in flight settle; `act` is expected to record its own failures.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  act: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  await runPool(items, limit, async (item, index) => {
    results[index] = await act(item);
  });
  return results;
}

/** Like {@link mapWithConcurrency}, but stops handing out items once `signal` aborts; returns how many were handed out. */
export async function runPool<T>(
  items: readonly T[],
  limit: number,
  act: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  let next = 0;
  let firstError: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && signal?.aborted !== true && firstError === undefined) {
      const index = next++;
      try {
        await act(items[index] as T, index);
      } catch (error) {
        firstError ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError !== undefined) throw firstError.error;
  return next;
}
