/**
 * Runs an async function over items with at most `concurrency` in flight (3 by default
 * in batches). Results keep input order; a rejection is captured per item, never
 * stopping the rest. Aborting stops new work from starting and rejects with the reason.
 */

export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown }

export async function mapSettled<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  options: { concurrency?: number; signal?: AbortSignal; onSettled?: (result: Settled<R>, index: number) => void } = {},
): Promise<Array<Settled<R>>> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 3))
  const results = new Array<Settled<R>>(items.length)
  let next = 0
  const signal = options.signal
  signal?.throwIfAborted()

  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (signal?.aborted) return
      const index = next++
      let settled: Settled<R>
      try {
        settled = { ok: true, value: await fn(items[index]!, index) }
      } catch (error) {
        settled = { ok: false, error }
      }
      results[index] = settled
      options.onSettled?.(settled, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  signal?.throwIfAborted()
  return results
}
