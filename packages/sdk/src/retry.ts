/**
 * When and how long to wait before trying again. Same policy as the official OpenAI
 * clients, so Visto's 503/429 + Retry-After answers are understood the same way
 * everywhere: retry 408, 409, 429, 5xx and network failures, nothing else.
 */

export interface BackoffOptions {
  /** First delay before jitter; doubles each retry. */
  initialDelayMs?: number
  maxDelayMs?: number
  /** A server asking for longer than this is not obeyed (we back off normally instead). */
  maxRetryAfterMs?: number
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500
}

/** The server's requested delay: `retry-after-ms`, else `retry-after` as seconds or an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined
  const ms = headers.get('retry-after-ms')
  if (ms !== null && ms.trim() !== '') {
    const value = Number(ms)
    if (Number.isFinite(value) && value >= 0) return value
  }
  const after = headers.get('retry-after')
  if (after === null || after.trim() === '') return undefined
  const seconds = Number(after)
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined
  const date = Date.parse(after)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/**
 * Delay before retry number `retry` (0 for the first retry): the server's wish when it
 * stated a sane one, else exponential backoff with up to 25 % jitter so a crowd of
 * clients does not come back in lockstep.
 */
export function retryDelayMs(retry: number, headers: Headers | undefined, options: BackoffOptions = {}, random = Math.random): number {
  const { initialDelayMs, maxDelayMs, maxRetryAfterMs } = { ...DEFAULT_BACKOFF, ...options }
  const requested = retryAfterMs(headers)
  if (requested !== undefined && requested <= maxRetryAfterMs) return requested
  const base = Math.min(initialDelayMs * 2 ** retry, maxDelayMs)
  return base * (1 - random() * 0.25)
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
