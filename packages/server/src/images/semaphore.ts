/**
 * A counting semaphore: at most `limit` holders at once, FIFO for the rest. How many may
 * wait is bounded by the caller (image decodes belong to requests holding an admission
 * place); a waiter whose signal aborts leaves the queue.
 */
export class Semaphore {
  private active = 0
  private readonly waiting: Array<{ grant: () => void }> = []

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`Semaphore limit must be a positive integer, got ${limit}`)
  }

  get inUse(): number {
    return this.active
  }

  get queued(): number {
    return this.waiting.length
  }

  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await task()
    } finally {
      this.release()
    }
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.active < this.limit) {
      this.active++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiting.indexOf(entry)
        if (index >= 0) this.waiting.splice(index, 1)
        reject(signal!.reason)
      }
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(entry)
    })
  }

  private release(): void {
    const next = this.waiting.shift()
    // Hand the slot straight to the next waiter so `active` never dips and lets a newcomer jump the queue.
    if (next !== undefined) next.grant()
    else this.active--
  }
}
