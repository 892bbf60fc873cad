/**
 * `batch()`: many questions about many images, three at a time by default. One failure
 * never stops the others, results come back in input order, and a cache (when given)
 * answers repeats without a request.
 */
import { ask, type AskOptions, type AskResult } from './ask.js'
import { resolveCache, type CacheOption } from './cache.js'
import type { VistoClient } from './client.js'
import { AbortError } from './errors.js'
import type { ImageInput } from './images.js'
import { mapSettled } from './pool.js'

export interface BatchItem {
  images?: ImageInput | readonly ImageInput[]
  question: string
  /** Your label for the item (a file name, say); echoed in results and progress. */
  id?: string
  /** Per-item overrides of the batch's ask options. */
  options?: Omit<AskOptions, 'signal' | 'onToken'>
}

export type BatchResult = { index: number; id: string | undefined; ok: true; value: AskResult } | { index: number; id: string | undefined; ok: false; error: Error }

export interface BatchProgress {
  total: number
  completed: number
  succeeded: number
  failed: number
  /** Answered from the cache. */
  cached: number
  inFlight: number
  elapsedMs: number
  /** Completed items per second so far. */
  ratePerSecond: number
  /** Estimated time left at the current rate; undefined until something completed. */
  etaMs: number | undefined
}

export interface BatchOptions extends Omit<AskOptions, 'onToken' | 'cache'> {
  concurrency?: number
  /** Called after each item settles, with the running totals and that item's result. */
  onProgress?: (progress: BatchProgress, result: BatchResult) => void
  /** Overrides the client's cache for this batch (see CacheOption). */
  cache?: CacheOption
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

export async function batch(client: VistoClient, items: readonly BatchItem[], options: BatchOptions = {}): Promise<BatchResult[]> {
  const { concurrency = 3, onProgress, cache: cacheOption, ...askDefaults } = options
  const cache = cacheOption === undefined ? undefined : ((await resolveCache(cacheOption)) ?? false)
  const started = performance.now()
  const progress: BatchProgress = { total: items.length, completed: 0, succeeded: 0, failed: 0, cached: 0, inFlight: 0, elapsedMs: 0, ratePerSecond: 0, etaMs: undefined }

  const settled = await mapSettled(
    items,
    async (item) => {
      progress.inFlight++
      try {
        const askOptions: AskOptions = { ...askDefaults, ...item.options }
        if (cache !== undefined) askOptions.cache = cache
        return await ask(client, item.images, item.question, askOptions)
      } finally {
        progress.inFlight--
      }
    },
    {
      concurrency,
      ...(options.signal ? { signal: options.signal } : {}),
      onSettled: (outcome, index) => {
        const id = items[index]!.id
        const result: BatchResult = outcome.ok ? { index, id, ok: true, value: outcome.value } : { index, id, ok: false, error: asError(outcome.error) }
        progress.completed++
        if (result.ok) {
          progress.succeeded++
          if (result.value.cached) progress.cached++
        } else progress.failed++
        progress.elapsedMs = performance.now() - started
        progress.ratePerSecond = progress.elapsedMs > 0 ? progress.completed / (progress.elapsedMs / 1000) : 0
        progress.etaMs = progress.ratePerSecond > 0 ? ((progress.total - progress.completed) / progress.ratePerSecond) * 1000 : undefined
        onProgress?.({ ...progress }, result)
      },
    },
  ).catch((error: unknown) => {
    throw options.signal?.aborted && !(error instanceof AbortError) ? new AbortError({ cause: error }) : error
  })
  return settled.map((outcome, index) =>
    outcome.ok ? { index, id: items[index]!.id, ok: true, value: outcome.value } : { index, id: items[index]!.id, ok: false, error: asError(outcome.error) },
  )
}
