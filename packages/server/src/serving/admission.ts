import { OverloadedError } from '../errors.js'

export type Release = () => void

interface Waiter {
  grant: (release: Release) => void
  reject: (error: unknown) => void
}

/** Joins `line` until granted or rejected; a waiter whose signal aborts leaves the line. */
function waitInLine<Extra extends object>(line: Array<Waiter & Extra>, extra: Extra, signal: AbortSignal): Promise<Release> {
  return new Promise<Release>((resolve, reject) => {
    const entry: Waiter & Extra = {
      ...extra,
      grant: (release: Release) => {
        signal.removeEventListener('abort', onAbort)
        resolve(release)
      },
      reject: (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    }
    const onAbort = (): void => {
      const index = line.indexOf(entry)
      if (index >= 0) line.splice(index, 1)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    line.push(entry)
  })
}

/** A place held while a request decodes its images, before it asks for an engine slot. */
export class Reservation {
  private held = true

  constructor(private readonly giveBack: () => void) {}

  /** Gives the place back (the request failed or went away); does nothing once it became a slot. */
  cancel(): void {
    if (!this.held) return
    this.held = false
    this.giveBack()
  }

  /** Hands the place over to a wait for a slot: true when it was still held. */
  take(): boolean {
    const held = this.held
    this.cancel()
    return held
  }
}

/**
 * Bounded admission in front of the engine: `parallel` requests run, up to `maxQueue`
 * more wait, the rest get 503 with Retry-After at once. A request that still decodes its
 * images holds a place too (a reservation), so image decoding cannot pile up outside the
 * bound. A waiter whose client goes away leaves the queue; a released slot goes to the
 * next waiter.
 */
export class Admission {
  private active = 0
  private preparing = 0
  private readonly waiting: Waiter[] = []
  private draining = false
  /** Background (batch) work: waits behind every interactive request. */
  private readonly background: { waiting: Array<Waiter & { limit: number }>; active: number } = { waiting: [], active: 0 }
  /** Moving average of how long a slot is held, for Retry-After. */
  private averageHoldMs = 5000

  constructor(
    private parallel: number,
    private readonly maxQueue: number,
  ) {}

  /** Slots there are now: the sum of a pool's healthy engines' slots follows them in and out. */
  get capacity(): number {
    return this.parallel
  }

  /**
   * The engines' slots changed (a pool's engines came or went). New slots go to waiting
   * requests at once; with fewer, running requests finish and nobody new starts until
   * the count is below the new one.
   */
  setCapacity(parallel: number): void {
    this.parallel = parallel
    while (this.active < this.parallel && this.waiting.length > 0) {
      this.active++
      this.waiting.shift()!.grant(this.releaser())
    }
    this.grantBackground()
  }

  get running(): number {
    return this.active
  }

  get queued(): number {
    return this.waiting.length
  }

  /** Requests holding a reservation: decoding images, not yet running or queued. */
  get reserved(): number {
    return this.preparing
  }

  private retryAfterSeconds(): number {
    const ahead = this.waiting.length + this.preparing + 1
    return Math.min(60, Math.max(1, Math.ceil(((ahead / Math.max(1, this.parallel)) * this.averageHoldMs) / 1000)))
  }

  /** Throws at once when a request could not even queue: checked before costly image decoding. */
  assertCanQueue(): void {
    if (this.draining) throw new OverloadedError('The server is shutting down; retry against another instance or shortly.', 5, { code: 'shutting_down' })
    if (this.active + this.waiting.length + this.preparing >= this.parallel + this.maxQueue) {
      const preparing = this.preparing > 0 ? `, ${this.preparing} preparing images` : ''
      throw new OverloadedError(
        `The server is at capacity (${this.active} running, ${this.waiting.length} queued${preparing}). Retry after the Retry-After delay.`,
        this.retryAfterSeconds(),
        { code: 'queue_full' },
      )
    }
  }

  /** Takes a place for a request about to decode images; 503 when there is none. */
  reserve(): Reservation {
    this.assertCanQueue()
    this.preparing++
    return new Reservation(() => {
      this.preparing--
      // After the caller's next step: a taken place becomes a slot or a wait first.
      queueMicrotask(() => this.grantBackground())
    })
  }

  /**
   * Waits for an engine slot. With a reservation still held, the request already has its
   * place and is not refused for a full queue (only while draining).
   */
  async acquire(signal: AbortSignal, reservation?: Reservation): Promise<Release> {
    const reserved = reservation?.take() === true
    if (!reserved || this.draining) this.assertCanQueue()
    signal.throwIfAborted()
    if (this.active < this.parallel) {
      this.active++
      return this.releaser()
    }
    return waitInLine(this.waiting, {}, signal)
  }

  private releaser(): Release {
    const started = Date.now()
    let released = false
    return () => {
      if (released) return
      released = true
      this.averageHoldMs = this.averageHoldMs * 0.8 + (Date.now() - started) * 0.2
      // Above a capacity that shrank (a pool lost an engine), the slot is not handed on.
      const next = this.active <= this.parallel ? this.waiting.shift() : undefined
      if (next) next.grant(this.releaser())
      else {
        this.active--
        this.grantBackground()
      }
    }
  }

  /**
   * A slot for background work (batch lines): granted only while a slot is free and no
   * interactive request waits, and to at most `limit` background holders at once. An
   * interactive request arriving meanwhile is served first, so it waits for at most the
   * background generations already running. Rejects when aborted or draining.
   */
  acquireBackground(limit: number, signal: AbortSignal): Promise<Release> {
    if (this.draining) return Promise.reject(new OverloadedError('The server is shutting down.', 5, { code: 'shutting_down' }))
    if (signal.aborted) return Promise.reject(signal.reason)
    const granted = waitInLine(this.background.waiting, { limit }, signal)
    this.grantBackground()
    return granted
  }

  private grantBackground(): void {
    // Interactive requests still decoding their images count as waiting: they come first.
    while (!this.draining && this.active < this.parallel && this.waiting.length === 0 && this.preparing === 0) {
      const next = this.background.waiting[0]
      if (!next || this.background.active >= next.limit) return
      this.background.waiting.shift()
      this.active++
      this.background.active++
      const release = this.releaser()
      let done = false
      next.grant(() => {
        if (done) return
        done = true
        this.background.active--
        release()
      })
    }
  }

  /** Stops admitting; queued requests get 503 so clients retry elsewhere. Running ones finish. */
  drain(): void {
    this.draining = true
    for (const entry of this.background.waiting.splice(0)) {
      entry.reject(new OverloadedError('The server is shutting down.', 5, { code: 'shutting_down' }))
    }
    for (const entry of this.waiting.splice(0)) {
      entry.reject(new OverloadedError('The server is shutting down; retry shortly.', 5, { code: 'shutting_down' }))
    }
  }
}
