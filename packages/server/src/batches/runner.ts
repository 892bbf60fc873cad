import { existsSync } from 'node:fs'
import { diskSpaceOf, isDiskFull } from '../disk-space.js'
import { asApiError } from '../errors.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import { parseChatRequest } from '../serving/chat-request.js'
import { newId } from '../data-dir.js'
import type { FileRecord } from '../files/file-records.js'
import type { FilesService } from '../files/files-service.js'
import type { BatchRecord, BatchStore, EndStatus, LineResult, PendingLine } from './store.js'
import { checkLine, validateBatchInput } from './validation.js'

export interface BatchRunnerOptions {
  store: BatchStore
  /** Where input files are read and output files written. */
  files: FilesService
  chat: ChatCompletionsService
  /**
   * Batch lines generated at once, at most (they also wait behind interactive requests).
   * `auto`: the engine's slots now (`capacity`), so in a pool batches spread over every
   * healthy engine; call wake() when that changes.
   */
  concurrency: number | 'auto'
  /** The slots there are now (a pool's healthy engines' together): what `auto` follows. */
  capacity?: () => number
  maxLines: number
  /** Deepest nesting of objects and arrays in a line (--max-json-depth). */
  maxJsonDepth?: number
  /** How long ended batches and their output files are kept. */
  retentionSeconds: number
  log?: (line: string) => void
  /** Longest input line in bytes (--body-limit-mb: one line is one request body). */
  maxLineBytes?: number
  /**
   * Called at named points of the batch life cycle (`validated`, `line-started`,
   * `line-recorded`, `finalized-files`). The crash tests use it to SIGKILL the server exactly there.
   */
  failpoint?: (point: string) => void
}

/** Why batch work is paused while the server runs: the data directory's disk is full. */
export interface BatchPause {
  reason: 'disk_full'
  /** Milliseconds since the epoch. */
  since: number
  message: string
  /** Results (and other writes) kept in memory until they can be written. */
  unwrittenResults: number
}

interface UnwrittenWrite {
  /** A line's result, or bookkeeping. */
  kind: 'result' | 'bookkeeping'
  write: () => void
}

interface InFlightLine {
  line: PendingLine
  controller: AbortController
}

/**
 * Attempts of one piece of work (a batch's validation, one line) that may be cut short
 * by the process dying before the work is given up: a crash during an attempt may have
 * been caused by someone else, so the work is tried once more; a second crash during it
 * means it is what kills the server, and running it again would kill it again on every start.
 */
export const maxInterruptedAttempts = 2

/** While the disk is full, how often free space is looked for. */
const diskCheckMs = 1000
/** Free space batch work waits for before it resumes (a little more than a few results take). */
const resumeFreeBytes = 256 * 1024

/** The longest a housekeeping timer waits, so clock changes are noticed. */
const maxHousekeepingDelayMs = 3_600_000

/**
 * Works through batches in the background. Everything it knows that matters is in
 * SQLite, so a new runner over the same store picks up where a killed one stopped:
 * validating batches validate again, pending lines run (lines in flight at the crash
 * were never marked done), finalizing batches write their files again.
 *
 * It wakes on events only: a new or cancelled batch, a finished line, a retry timer,
 * the housekeeping timer. Lines take a background admission slot, so interactive
 * requests always go first.
 */
export class BatchRunner {
  private paused = true
  private scheduled = false
  private readonly inFlight = new Map<string, InFlightLine>()
  private readonly settled = new Set<Promise<void>>()
  /** Batches being validated or finished right now (seq). */
  private readonly busy = new Set<number>()
  /** Per batch, the highest line number handed out in this process. */
  private readonly cursors = new Map<number, number>()
  /** Lines whose last attempt met a temporary condition (engine restarting, queue full). */
  private readonly retryReady: PendingLine[] = []
  private readonly retryTimers = new Set<NodeJS.Timeout>()
  private housekeepingTimer: NodeJS.Timeout | undefined
  private readonly log: (line: string) => void
  /** Set while the disk is full: no new work starts until every unwritten write is written. */
  private diskFull: { since: number; message: string } | undefined
  /** Writes a full disk refused, in order: a computed result is kept here, never recomputed or lost. */
  private readonly unwritten: UnwrittenWrite[] = []
  private diskTimer: NodeJS.Timeout | undefined

  constructor(private readonly options: BatchRunnerOptions) {
    this.log = options.log ?? (() => {})
  }

  /** Starts (or resumes) work: unfinished batches from before a restart continue. */
  start(): void {
    this.paused = false
    this.housekeeping()
    this.wake()
  }

  /** Something changed (new batch, cancel, finished line): look for work soon. */
  wake(): void {
    if (this.paused || this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      try {
        this.pump()
      } catch (error) {
        if (isDiskFull(error)) this.pauseForDisk(error)
        else this.log(`batch runner: ${(error as Error).stack ?? String(error)}`)
      }
    })
  }

  /** Asks a batch to stop: lines in flight are aborted, and the rest end up in the error file. */
  cancel(batch: BatchRecord): void {
    this.abortLines(batch.seq, 'batch cancelled')
    this.wake()
  }

  /** Their settling wakes the runner again, so this never wakes it itself. */
  private abortLines(seq: number, reason: string): void {
    for (const entry of this.inFlight.values()) if (entry.line.batchSeq === seq && !entry.controller.signal.aborted) entry.controller.abort(new Error(reason))
  }

  /**
   * Stops taking lines (shutdown): lines already generating may finish until the
   * deadline, then are aborted and stay pending for the next start.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.paused = true
    if (this.diskTimer) clearTimeout(this.diskTimer)
    for (const timer of this.retryTimers) clearTimeout(timer)
    this.retryTimers.clear()
    if (this.housekeepingTimer) clearTimeout(this.housekeepingTimer)
    const all = (): Promise<unknown> => Promise.allSettled([...this.settled])
    const remaining = deadlineMs - Date.now()
    if (remaining > 0 && this.settled.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([all(), new Promise((resolve) => (timer = setTimeout(resolve, remaining)))])
      clearTimeout(timer)
    }
    for (const entry of this.inFlight.values()) entry.controller.abort(new Error('server shutting down'))
    await all()
    // A last try: what cannot be written now is run again after the next start.
    if (this.unwritten.length > 0 && !this.writeUnwritten()) {
      this.log(`batch runner: shutting down with ${this.unwritten.length} results unwritten (the disk is full); their lines run again after the next start`)
    }
  }

  /** Why batch work is paused, when it is (for /v1/health and /metrics). */
  pause(): BatchPause | undefined {
    if (!this.diskFull) return undefined
    return { reason: 'disk_full', ...this.diskFull, unwrittenResults: this.unwritten.filter((w) => w.kind === 'result').length }
  }

  /**
   * Writes now, or, when the disk is full, keeps the write to retry in order once space
   * returns. Returns whether it was written.
   */
  private persist(kind: UnwrittenWrite['kind'], write: () => void): boolean {
    if (!this.diskFull) {
      try {
        write()
        return true
      } catch (error) {
        if (!isDiskFull(error)) throw error
        this.pauseForDisk(error)
      }
    }
    this.unwritten.push({ kind, write })
    return false
  }

  /** A write failed for lack of space: stop starting work, keep what is computed, and look for space every second. */
  private pauseForDisk(error: unknown): void {
    if (this.diskFull) return
    const message = `the disk of the data directory is full (${(error as Error).message}); batch work is paused until space is freed`
    this.diskFull = { since: Date.now(), message }
    this.log(`batch runner: ${message}; lines already generating finish and their results are kept in memory`)
    this.scheduleDiskCheck()
  }

  private scheduleDiskCheck(): void {
    if (this.paused) return
    this.diskTimer = setTimeout(() => void this.checkDisk(), diskCheckMs)
    this.diskTimer.unref()
  }

  /** Resumes once every kept write is written (and the disk has some room, so finishing files does not fail again at once). */
  private async checkDisk(): Promise<void> {
    this.diskTimer = undefined
    if (!this.diskFull || this.paused) return
    let free = Infinity
    try {
      free = (await diskSpaceOf(this.options.files.storage.dir)).free
    } catch {
      // No statfs here: trying the writes tells.
    }
    if (free < resumeFreeBytes || !this.writeUnwritten()) {
      this.scheduleDiskCheck()
      return
    }
    const pausedSeconds = Math.round((Date.now() - this.diskFull.since) / 1000)
    this.diskFull = undefined
    // A deletion may have used the reserve to get out of the full disk.
    await this.options.files.diskReserve?.ensure()
    this.log(`batch runner: disk space is back; batch work resumes after a pause of ${pausedSeconds} s`)
    this.wake()
  }

  /** Writes the kept writes in order; false when the disk is still full. */
  private writeUnwritten(): boolean {
    while (this.unwritten.length > 0) {
      try {
        this.unwritten[0]!.write()
      } catch (error) {
        if (isDiskFull(error)) return false
        this.log(`batch runner: ${(error as Error).stack ?? String(error)}`)
      }
      this.unwritten.shift()
    }
    return true
  }

  private pump(): void {
    if (this.paused || this.diskFull) return
    const { store } = this.options
    for (const batch of store.batchesInStatus('validating')) {
      if (!this.busy.has(batch.seq)) this.track(batch.seq, this.validate(batch))
    }
    for (const batch of store.batchesInStatus('cancelling', 'finalizing')) {
      if (this.busy.has(batch.seq)) continue
      if (this.linesInFlight(batch.seq) > 0) {
        if (batch.status === 'cancelling') this.abortLines(batch.seq, 'batch cancelled')
        continue
      }
      this.track(batch.seq, this.finish(batch))
    }
    const concurrency = this.concurrency()
    while (this.inFlight.size < concurrency) {
      const line = this.takeRetry() ?? this.nextLine()
      if (!line) break
      this.startLine(line)
    }
    for (const batch of store.batchesInStatus('in_progress')) {
      if (this.busy.has(batch.seq) || this.linesInFlight(batch.seq) > 0 || store.pendingCount(batch.seq) > 0) continue
      store.beginFinalizing(batch.seq, 'completed')
      this.wake()
    }
  }

  /** How many lines may be in flight now. */
  private concurrency(): number {
    const { concurrency, capacity } = this.options
    return concurrency === 'auto' ? (capacity?.() ?? 1) : concurrency
  }

  private track(seq: number, work: Promise<void>): void {
    this.busy.add(seq)
    const done = work
      .catch((error: unknown) => (isDiskFull(error) ? this.pauseForDisk(error) : this.log(`batch runner: ${(error as Error).stack ?? String(error)}`)))
      .finally(() => {
        this.busy.delete(seq)
        this.settled.delete(done)
        this.wake()
      })
    this.settled.add(done)
  }

  private linesInFlight(seq: number): number {
    let count = 0
    for (const entry of this.inFlight.values()) if (entry.line.batchSeq === seq) count++
    return count
  }

  private takeRetry(): PendingLine | undefined {
    while (this.retryReady.length > 0) {
      const line = this.retryReady.shift()!
      if (this.options.store.getBatchBySeq(line.batchSeq)?.status === 'in_progress') return line
    }
    return undefined
  }

  private nextLine(): PendingLine | undefined {
    for (const batch of this.options.store.batchesInStatus('in_progress')) {
      const line = this.options.store.nextPendingLine(batch.seq, this.cursors.get(batch.seq) ?? -1)
      if (line) {
        this.cursors.set(batch.seq, line.lineNo)
        return line
      }
    }
    return undefined
  }

  private async validate(batch: BatchRecord): Promise<void> {
    const { store, files } = this.options
    const input = files.records.get(batch.input_file_id)
    if (!input || !existsSync(files.storage.path(input.id))) {
      store.failValidation(batch.seq, [{ code: 'file_not_found', message: `The input file ${batch.input_file_id} no longer exists`, param: 'input_file_id', line: null }])
      return
    }
    try {
      await this.validateCounted(batch, files.storage.path(input.id))
    } catch (error) {
      if (!isDiskFull(error)) throw error
      // Not a crash: validation runs again, uncounted, once there is space.
      this.pauseForDisk(error)
    }
  }

  private async validateCounted(batch: BatchRecord, path: string): Promise<void> {
    const { store } = this.options
    // Counted before the work starts: a validation that kills the process is not repeated on every start.
    const attempt = store.beginValidationAttempt(batch.seq)
    try {
      await this.validateAttempt(batch, path, attempt)
    } catch (error) {
      if (isDiskFull(error)) this.persist('bookkeeping', () => store.endValidationAttempt(batch.seq))
      throw error
    }
  }

  private async validateAttempt(batch: BatchRecord, path: string, attempt: number): Promise<void> {
    const { store } = this.options
    if (attempt > maxInterruptedAttempts) {
      store.failValidation(batch.seq, [
        {
          code: 'validation_crashed',
          message: `Validation of the input file was interrupted by a server crash ${crashCount(attempt - 1)}; it is not tried again. The file probably holds a line that crashes the server; check it for very long or deeply nested lines, fix or remove them and create a new batch`,
          param: 'input_file_id',
          line: null,
        },
      ])
      this.log(`batch ${batch.id}: failed: its validation was interrupted by a server crash ${crashCount(attempt - 1)}`)
      return
    }
    const { maxJsonDepth, maxLineBytes } = this.options
    const result = await validateBatchInput(path, batch.endpoint, {
      maxLines: this.options.maxLines,
      ...(maxJsonDepth !== undefined ? { maxJsonDepth } : {}),
      ...(maxLineBytes !== undefined ? { maxLineBytes } : {}),
    })
    this.options.failpoint?.('validated')
    if (result.errors.length > 0) {
      store.failValidation(batch.seq, result.errors)
      this.log(`batch ${batch.id}: failed validation (${result.errors.length} errors)`)
      return
    }
    store.startBatch(batch.seq, result.lines)
    this.log(`batch ${batch.id}: ${result.lines.length} requests`)
  }

  private startLine(line: PendingLine): void {
    const key = `${line.batchSeq}:${line.lineNo}`
    const controller = new AbortController()
    this.inFlight.set(key, { line, controller })
    const done = this.runLine(line, controller.signal)
      .catch((error: unknown) => this.log(`batch runner: line ${line.lineNo}: ${(error as Error).stack ?? String(error)}`))
      .finally(() => {
        this.inFlight.delete(key)
        this.settled.delete(done)
        this.wake()
      })
    this.settled.add(done)
  }

  private async runLine(line: PendingLine, signal: AbortSignal): Promise<void> {
    const { store, files, chat } = this.options
    // With auto, admission's own bound holds: no more background holders than free slots.
    const concurrency = this.options.concurrency === 'auto' ? Infinity : this.options.concurrency
    const batch = store.getBatchBySeq(line.batchSeq)
    if (batch?.status !== 'in_progress') return
    const text = (await files.storage.readRange(batch.input_file_id, line.offset, line.length)).toString('utf8').replace(/^\uFEFF/, '')
    const checked = checkLine(text, line.lineNo, batch.endpoint, this.options.maxJsonDepth)
    const requestId = newId('req_')
    // Counted before the work starts, as validation is: a line that kills the process fails instead of killing it on every start.
    let attempt: number
    try {
      if (this.diskFull) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' })
      attempt = store.beginLineAttempt(line.batchSeq, line.lineNo)
    } catch (error) {
      if (!isDiskFull(error)) throw error
      // Not started: it runs when space is back.
      this.pauseForDisk(error)
      this.retryReady.push(line)
      return
    }
    if (attempt > maxInterruptedAttempts) {
      this.log(`batch ${batch.id} line ${line.lineNo}: failed: its run was interrupted by a server crash ${crashCount(attempt - 1)}`)
      const crashed: LineResult = {
        batchSeq: line.batchSeq,
        lineNo: line.lineNo,
        ok: false,
        ran: true,
        text: outputLine(line.customId, null, {
          code: 'request_crashed_server',
          message: `This request was interrupted by a server crash ${crashCount(attempt - 1)} and is not run again; the rest of the batch ran without it.`,
        }),
        inputTokens: 0,
        outputTokens: 0,
      }
      this.persist('result', () => store.recordLine(crashed))
      return
    }
    this.options.failpoint?.('line-started')
    let result: LineResult
    try {
      if ('error' in checked) throw new Error(`line ${line.lineNo} changed since validation: ${checked.error.message}`)
      const job: ChatJob = { ...parseChatRequest(checked.request.body, chat.requestLimits), requestId, admission: { class: 'batch', concurrency }, cache: 'use' }
      const prepared = await chat.prepare(job, signal)
      const completion = await chat.complete(prepared, signal)
      result = {
        batchSeq: line.batchSeq,
        lineNo: line.lineNo,
        ok: true,
        ran: true,
        text: outputLine(line.customId, { status_code: 200, request_id: requestId, body: completion }, null),
        inputTokens: completion.usage?.prompt_tokens ?? 0,
        outputTokens: completion.usage?.completion_tokens ?? 0,
      }
    } catch (error) {
      // Cancelled or shutting down: the line stays pending and runs after the next start.
      if (signal.aborted) {
        this.persist('bookkeeping', () => store.endLineAttempt(line.batchSeq, line.lineNo))
        return
      }
      const apiError = asApiError(error)
      if (apiError.status === 503) {
        this.persist('bookkeeping', () => store.endLineAttempt(line.batchSeq, line.lineNo))
        this.retryLater(line, Number(apiError.headers['retry-after'] ?? 5))
        return
      }
      if (apiError.status >= 500) this.log(`batch ${batch.id} line ${line.lineNo}: ${(error as Error).stack ?? String(error)}`)
      result = {
        batchSeq: line.batchSeq,
        lineNo: line.lineNo,
        ok: false,
        ran: true,
        text: outputLine(line.customId, { status_code: apiError.status, request_id: requestId, body: apiError.toEnvelope() }, null),
        inputTokens: 0,
        outputTokens: 0,
      }
    }
    // On a full disk the result waits in memory: the generation is never thrown away or run again.
    if (this.persist('result', () => store.recordLine(result))) this.options.failpoint?.('line-recorded')
  }

  private retryLater(line: PendingLine, seconds: number): void {
    if (this.paused) return
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer)
      this.retryReady.push(line)
      this.wake()
    }, Math.max(1, seconds) * 1000)
    this.retryTimers.add(timer)
  }

  /** Writes the output and error files from SQLite and ends the batch. Safe to repeat after a crash, or once a full disk has room. */
  private async finish(batch: BatchRecord): Promise<void> {
    try {
      await this.writeFilesAndEnd(batch)
    } catch (error) {
      if (!isDiskFull(error)) throw error
      this.pauseForDisk(error)
    }
  }

  private async writeFilesAndEnd(batch: BatchRecord): Promise<void> {
    const { store, files } = this.options
    if (batch.status === 'cancelling') {
      store.failPendingLines(batch.seq, (line) => outputLine(line.customId, null, { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran.' }))
      store.beginFinalizing(batch.seq, 'cancelled')
    }
    const now = store.now()
    const expiresAt = now + this.options.retentionSeconds
    const written: Array<{ tempPath: string; record: FileRecord }> = []
    try {
      for (const ok of [true, false]) {
        const output = await files.storage.writeLines(store.results(batch.seq, ok))
        if (output.count === 0) {
          await files.storage.discard(output.tempPath)
          continue
        }
        const record: FileRecord = {
          id: newId('file-'),
          purpose: 'batch_output',
          filename: `${batch.id}_${ok ? 'output' : 'error'}.jsonl`,
          bytes: output.bytes,
          created_at: now,
          expires_at: expiresAt,
        }
        written.push({ tempPath: output.tempPath, record })
      }
      for (const file of written) await files.storage.commit(file.tempPath, file.record.id)
    } catch (error) {
      for (const file of written) await files.storage.discard(file.tempPath)
      throw error
    }
    this.options.failpoint?.('finalized-files')
    const output = written.find((f) => f.record.filename.endsWith('_output.jsonl'))?.record
    const error = written.find((f) => f.record.filename.endsWith('_error.jsonl'))?.record
    store.finishBatch(batch.seq, { output, error })
    this.cursors.delete(batch.seq)
    const ended = store.getBatchBySeq(batch.seq)!
    this.log(`batch ${batch.id}: ${ended.status} (${ended.completed} completed, ${ended.failed} failed of ${ended.total})`)
  }

  /**
   * Ends batches past their completion window (unrun lines go to the error file as
   * batch_expired), and deletes ended batches and output files past their retention.
   * Runs at start and on a timer set for the next deadline; tests call it after moving
   * the clock.
   */
  housekeeping(): void {
    if (this.housekeepingTimer) clearTimeout(this.housekeepingTimer)
    this.housekeepingTimer = undefined
    const { store } = this.options
    try {
      for (const batch of store.overdueBatches()) {
        if (this.busy.has(batch.seq)) continue
        this.abortLines(batch.seq, 'batch expired')
        store.failPendingLines(batch.seq, (line) =>
          outputLine(line.customId, null, { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' }),
        )
        store.beginFinalizing(batch.seq, 'expired' satisfies EndStatus)
        this.log(`batch ${batch.id}: expired`)
      }
    } catch (error) {
      // Expiry is checked again on the next timer, or after the pause.
      if (!isDiskFull(error)) throw error
      this.pauseForDisk(error)
    }
    void this.cleanup().finally(() => this.wake())
    if (this.paused) return
    const next = store.nextExpiry()
    const delayMs = next === undefined ? maxHousekeepingDelayMs : Math.min(maxHousekeepingDelayMs, Math.max(1000, (next - store.now()) * 1000 + 500))
    this.housekeepingTimer = setTimeout(() => this.housekeeping(), delayMs)
    this.housekeepingTimer.unref()
  }

  /** Deletes ended batches past retention with their output files, and files past their own expiry. */
  async cleanup(): Promise<void> {
    const { store, files } = this.options
    for (const batch of store.expiredForCleanup(this.options.retentionSeconds)) {
      for (const id of [batch.output_file_id, batch.error_file_id]) if (id) await files.remove(id)
      store.deleteBatch(batch.seq)
    }
    for (const id of files.records.expiredIds(store.now())) {
      if (store.activeBatchesUsing(id).length > 0) continue
      await files.remove(id)
    }
  }
}

function crashCount(times: number): string {
  return times === 1 ? 'once' : times === 2 ? 'twice' : `${times} times`
}

/** One line of an output or error file, in OpenAI's batch output format. */
function outputLine(customId: string, response: { status_code: number; request_id: string; body: unknown } | null, error: { code: string; message: string } | null): string {
  return JSON.stringify({ id: newId('batch_req_'), custom_id: customId, response, error })
}
