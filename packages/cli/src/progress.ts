/**
 * Progress on stderr: a redrawn bar with rate, ETA and failures when stderr is a TTY;
 * otherwise a plain line every few seconds (CI logs and pipes stay readable).
 */
import { formatDuration } from '@visto/sdk'
import { styler } from './output.js'

export interface ProgressState {
  total: number
  completed: number
  failed: number
  cached?: number
  /** Items done before this run (resumed batches). */
  skipped?: number
  ratePerSecond: number
  etaMs: number | undefined
  /** Overrides completed/total for the bar (time-boxed runs). */
  fraction?: number
  /** Overrides the text after the bar. */
  text?: string
}

export interface ProgressOptions {
  label: string
  stream?: NodeJS.WriteStream
  /** Plain mode: at most one line per interval. */
  intervalMs?: number
  /** Forces TTY or plain rendering (tests). */
  tty?: boolean
}

const REDRAW_MS = 80

export class ProgressReporter {
  private readonly stream: NodeJS.WriteStream
  private readonly tty: boolean
  private readonly intervalMs: number
  private readonly style
  private state: ProgressState | undefined
  private lastDraw = 0
  private drawn = false
  private printedFinal = false

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr
    this.tty = options.tty ?? this.stream.isTTY === true
    this.intervalMs = options.intervalMs ?? 2000
    this.style = styler(this.stream)
  }

  update(state: ProgressState): void {
    this.state = state
    const now = performance.now()
    const finished = (state.fraction ?? state.completed / Math.max(1, state.total)) >= 1
    if (this.tty) {
      if (finished || now - this.lastDraw >= REDRAW_MS) this.draw(now)
    } else if (finished || this.lastDraw === 0 || now - this.lastDraw >= this.intervalMs) {
      // The final state is often reported twice (last item, then the closing report): print it once.
      if (finished && this.printedFinal) return
      this.printedFinal = finished
      this.lastDraw = now
      this.stream.write(`${this.options.label}: ${this.describe(state)}\n`)
    }
  }

  /** Prints a line without mangling the bar. */
  log(line: string): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K')
    this.stream.write(`${line}\n`)
    if (this.tty && this.state) this.draw(performance.now())
  }

  /** Leaves the final bar on its own line. */
  done(): void {
    if (this.tty && this.drawn) {
      this.stream.write('\n')
      this.drawn = false
    }
  }

  describe(state: ProgressState): string {
    if (state.text !== undefined) return state.text
    const percent = state.total === 0 ? 100 : Math.floor((state.completed / state.total) * 100)
    const parts = [`${state.completed}/${state.total} (${percent}%)`]
    parts.push(state.failed > 0 ? this.style.red(`${state.failed} failed`) : '0 failed')
    if (state.cached) parts.push(`${state.cached} cached`)
    if (state.skipped) parts.push(`${state.skipped} already done`)
    parts.push(`${state.ratePerSecond.toFixed(2)}/s`)
    parts.push(`ETA ${state.completed >= state.total ? '0 ms' : state.etaMs === undefined ? '–' : formatDuration(state.etaMs)}`)
    return parts.join(' · ')
  }

  private draw(now: number): void {
    const state = this.state
    if (!state) return
    this.lastDraw = now
    const text = this.describe(state)
    const columns = this.stream.columns ?? 80
    const visible = text.replace(/\x1b\[[0-9;]*m/g, '').length
    const width = Math.max(10, Math.min(40, columns - visible - this.options.label.length - 6))
    const fraction = state.fraction ?? (state.total === 0 ? 1 : state.completed / state.total)
    const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
    const bar = this.style.green('█'.repeat(filled)) + this.style.dim('░'.repeat(width - filled))
    this.stream.write(`\r\x1b[2K${this.options.label} ${bar} ${text}`)
    this.drawn = true
  }
}
