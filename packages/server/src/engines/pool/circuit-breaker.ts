/**
 * Whether one engine of a pool takes requests: a circuit breaker fed by the active probe
 * and by the requests themselves (passive), with an injected clock.
 *
 * closed ── `threshold` failures in a row, or a failed probe ──▶ open (ejected)
 * open ── after the ejection delay, a probe that passes ──▶ half-open (serves again, on trial)
 * half-open ── a request or probe that succeeds ──▶ closed; one that fails ──▶ open, the delay doubled
 *
 * A failed probe ejects at once: it asks the engine nothing but "are you there", so a
 * failure there is not a hard request. The delay doubles with each ejection in a row (up
 * to `maxOpenMs`) so a flapping engine is tried less and less often.
 */
export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  /** Consecutive request failures that eject the engine. */
  threshold: number
  /** First ejection's delay before a half-open retry. */
  openMs: number
  maxOpenMs: number
}

export const defaultBreakerOptions: BreakerOptions = { threshold: 3, openMs: 5000, maxOpenMs: 30_000 }

export class CircuitBreaker {
  private current: BreakerState = 'closed'
  private failures = 0
  private openedAt = 0
  private delayMs: number
  /** Times the engine was taken out. */
  ejections = 0
  /** Why it was last taken out. */
  reason: string | undefined

  constructor(
    private readonly options: BreakerOptions = defaultBreakerOptions,
    initial: BreakerState = 'closed',
  ) {
    this.delayMs = options.openMs
    this.current = initial
  }

  get state(): BreakerState {
    return this.current
  }

  /** Whether requests may be sent to the engine now. */
  get available(): boolean {
    return this.current !== 'open'
  }

  /** An open breaker whose delay has passed: the next probe decides whether it serves again. */
  probeDue(now: number): boolean {
    return this.current === 'open' && now - this.openedAt >= this.delayMs
  }

  /** Milliseconds until an open breaker may be retried (0 when it is not open). */
  retryInMs(now: number): number {
    return this.current === 'open' ? Math.max(0, this.openedAt + this.delayMs - now) : 0
  }

  succeeded(): void {
    if (this.current === 'open') return
    this.failures = 0
    if (this.current === 'half-open') {
      this.current = 'closed'
      this.delayMs = this.options.openMs
      this.reason = undefined
    }
  }

  /** A request the engine failed (refused connection, 5xx, died mid-way). */
  failed(now: number, reason: string): void {
    if (this.current === 'open') return
    this.failures++
    if (this.current === 'half-open') this.open(now, reason, true)
    else if (this.failures >= this.options.threshold) this.open(now, reason, false)
  }

  /** The engine has just started or answered its first probe: it serves, with nothing to put on trial. */
  admit(): void {
    this.current = 'closed'
    this.failures = 0
    this.delayMs = this.options.openMs
    this.reason = undefined
  }

  /** The engine could not start (or was not there at its first probe): out, retried after the first delay. */
  startFailed(now: number, reason: string): void {
    this.current = 'open'
    this.openedAt = now
    this.delayMs = this.options.openMs
    this.reason = reason
  }

  /** The active probe passed: an open breaker whose delay is over goes half-open; a half-open one closes. */
  probePassed(now: number): void {
    if (this.current === 'open' && this.probeDue(now)) {
      this.current = 'half-open'
      this.failures = 0
    } else if (this.current === 'half-open') {
      this.succeeded()
    }
  }

  /** The active probe failed: out at once. */
  probeFailed(now: number, reason: string): void {
    if (this.current === 'open') {
      // Still down when retried: wait longer before the next try.
      if (this.probeDue(now)) this.open(now, reason, true)
      return
    }
    this.open(now, reason, this.current === 'half-open')
  }

  private open(now: number, reason: string, again: boolean): void {
    if (again) this.delayMs = Math.min(this.options.maxOpenMs, this.delayMs * 2)
    else this.delayMs = this.options.openMs
    if (this.current !== 'open') this.ejections++
    this.current = 'open'
    this.openedAt = now
    this.failures = 0
    this.reason = reason
  }
}
