/**
 * Which of llama-server's slots each generation takes: always the lowest free one.
 *
 * Left to itself llama-server takes the least recently used free slot, so with fewer
 * requests than slots the busy ones scatter (rounds of 4 on 8 slots alternate between
 * slots 1–4 and slots 0, 5, 6, 7). Its KV cache keeps one stream per slot, and a batch's
 * attention runs over every stream from the lowest busy slot to the highest
 * (llama_kv_cache: `ns = s1 - s0 + 1`), empty ones included: on slots 0, 5, 6, 7 the same
 * four sequences decoded at 580 ms a step against 199 ms on slots 1–4 (4B stand-in,
 * 2 cores, 2026-12-03). Taking the lowest free slot keeps the busy slots together.
 * Prompt reuse survives the choice: a slot that does not hold a request's prefix loads it
 * from llama-server's host-memory prompt cache (`--cache-ram`, on by default), where idle
 * slots are saved.
 *
 * Requests past the slot count wait here, in arrival order, instead of in llama-server's
 * queue: they would wait there just the same, and here a slot is never promised twice.
 */
export class SlotPicker {
  private readonly busy: boolean[]
  private readonly waiting: Array<{ resolve: (slot: number) => void; signal?: AbortSignal; onAbort: () => void }> = []

  constructor(readonly slotCount: number) {
    if (!Number.isInteger(slotCount) || slotCount < 1) throw new RangeError(`slotCount must be a positive integer, got ${slotCount}`)
    this.busy = new Array<boolean>(slotCount).fill(false)
  }

  get busyCount(): number {
    return this.busy.filter(Boolean).length
  }

  /** The lowest free slot, taken; waits for one when all are busy. Rejects with the signal's reason when it aborts first. */
  take(signal?: AbortSignal): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    const free = this.busy.indexOf(false)
    if (free !== -1) {
      this.busy[free] = true
      return Promise.resolve(free)
    }
    return new Promise<number>((resolve, reject) => {
      const waiter = {
        resolve,
        signal,
        onAbort: () => {
          const at = this.waiting.indexOf(waiter)
          if (at !== -1) this.waiting.splice(at, 1)
          reject(signal?.reason)
        },
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.waiting.push(waiter)
    })
  }

  /** Gives a slot back: the longest waiter gets it, else it is free again. */
  give(slot: number): void {
    if (!this.busy[slot]) throw new Error(`slot ${slot} was not taken`)
    const next = this.waiting.shift()
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort)
      next.resolve(slot)
      return
    }
    this.busy[slot] = false
  }
}
