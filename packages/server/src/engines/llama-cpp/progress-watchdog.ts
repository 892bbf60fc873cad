/**
 * Tells a busy engine from a hung one. A frozen grammar or a SIGSTOPped llama-server
 * holds its requests for good while `/health` still says ok; a long prefill of a big
 * photo on a CPU also streams nothing for a minute, but llama-server's `GET /slots`
 * shows its prompt counter move after every batch. So: while the engine has work,
 * poll /slots; a token, a moving counter or an idle engine is progress; an unanswered
 * poll or an unchanged busy slot is not. No progress for the stall limit: a stall.
 */

/** What one llama-server slot reports on GET /slots that tells work apart from a hang. */
export interface SlotProgress {
  id: number
  processing: boolean
  /** The task the slot runs (or last ran): a new task on a busy slot is progress. */
  taskId?: number
  promptTokensProcessed?: number
  tokensDecoded?: number
}

/** llama-server's /slots JSON as SlotProgress; anything that is not a slot is left out. */
export function slotProgress(json: unknown): SlotProgress[] {
  if (!Array.isArray(json)) return []
  const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined)
  return json.flatMap((slot: unknown): SlotProgress[] => {
    if (typeof slot !== 'object' || slot === null) return []
    const s = slot as Record<string, unknown>
    const nextToken = Array.isArray(s.next_token) ? (s.next_token[0] as Record<string, unknown> | undefined) : undefined
    return [
      {
        id: number(s.id) ?? -1,
        processing: s.is_processing === true,
        taskId: number(s.id_task),
        promptTokensProcessed: number(s.n_prompt_tokens_processed),
        tokensDecoded: number(nextToken?.n_decoded),
      },
    ]
  })
}

/**
 * The stall decision, pure: fed what the engine reports and the time, it knows when
 * progress was last seen. The clock starts when the tracker is made (work began).
 */
export class ProgressTracker {
  private lastProgressAt: number
  private lastBusy: string | undefined

  constructor(
    readonly stallMs: number,
    now: number,
  ) {
    this.lastProgressAt = now
  }

  /** Output reached Visto (a token, a stream chunk, the engine taking a prompt). */
  progressed(now: number): void {
    this.lastProgressAt = Math.max(this.lastProgressAt, now)
  }

  /**
   * One /slots answer. No busy slot means the engine holds no work, which is not a stall;
   * otherwise only a change in what the busy slots report (a new task, a prompt batch
   * done, a token decoded, a slot finished) is progress. The first answer sets the base.
   */
  observeSlots(slots: readonly SlotProgress[], now: number): void {
    const busy = slots.filter((slot) => slot.processing)
    const fingerprint = JSON.stringify(busy.map((slot) => [slot.id, slot.taskId, slot.promptTokensProcessed, slot.tokensDecoded]))
    if (busy.length === 0 || fingerprint !== this.lastBusy) this.progressed(now)
    this.lastBusy = fingerprint
  }

  /** How long the engine has gone without progress, once that reaches the stall limit; otherwise undefined. */
  stalledFor(now: number): number | undefined {
    const quiet = now - this.lastProgressAt
    return quiet >= this.stallMs ? quiet : undefined
  }
}

export interface ProgressWatchdogOptions {
  stallMs: number
  /** GET /slots; rejects (or is aborted by the signal) when the engine does not answer. */
  readSlots: (signal: AbortSignal) => Promise<SlotProgress[]>
  /** Called once, with how long nothing moved and the ids of the requests the engine held. */
  onStall: (stalledMs: number, requestIds: string[]) => void
  now?: () => number
}

/** One piece of work the engine holds: report its output, end it however it ends. */
export interface WatchedWork {
  progressed(): void
  end(): void
}

/**
 * Runs a ProgressTracker against one llama-server process. It polls only while that
 * process has work: from the first request until the last has ended and a poll has seen
 * every slot idle (a request its client gave up on still holds a frozen engine). Once it
 * has reported a stall it stays stopped; the restarted process gets a new watchdog.
 */
export class ProgressWatchdog {
  private readonly work = new Map<number, string>()
  private nextWorkId = 0
  private tracker: ProgressTracker | undefined
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly now: () => number
  /** Often enough to notice a stall soon after the limit, rarely enough to cost nothing. */
  private readonly pollIntervalMs: number

  constructor(private readonly options: ProgressWatchdogOptions) {
    this.now = options.now ?? Date.now
    this.pollIntervalMs = Math.min(5000, Math.max(250, options.stallMs / 6))
  }

  begin(requestId: string): WatchedWork {
    const id = this.nextWorkId++
    this.work.set(id, requestId)
    if (!this.tracker && !this.stopped) {
      this.tracker = new ProgressTracker(this.options.stallMs, this.now())
      this.schedule()
    }
    return {
      progressed: () => this.tracker?.progressed(this.now()),
      end: () => void this.work.delete(id),
    }
  }

  stop(): void {
    this.stopped = true
    this.tracker = undefined
    if (this.timer) clearTimeout(this.timer)
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.poll(), this.pollIntervalMs)
    this.timer.unref()
  }

  private async poll(): Promise<void> {
    const tracker = this.tracker
    if (!tracker || this.stopped) return
    let slots: SlotProgress[] | undefined
    // A stopped or frozen engine never answers: give up in time for the next poll.
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(new Error('GET /slots timed out')), Math.max(1000, this.pollIntervalMs))
    timer.unref()
    try {
      slots = await this.options.readSlots(timeout.signal)
    } catch {
      slots = undefined
    } finally {
      clearTimeout(timer)
    }
    if (this.stopped || tracker !== this.tracker) return
    const now = this.now()
    if (slots) tracker.observeSlots(slots, now)
    if (this.work.size === 0 && slots !== undefined && slots.every((slot) => !slot.processing)) {
      this.tracker = undefined
      return
    }
    const stalledMs = tracker.stalledFor(now)
    if (stalledMs !== undefined) {
      const requestIds = [...this.work.values()]
      this.stop()
      this.options.onStall(stalledMs, requestIds)
      return
    }
    this.schedule()
  }
}
