import { existsSync } from 'node:fs'
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
  /** Batch lines generated at once, at most (they also wait behind interactive requests). */
  concurrency: number
  maxLines: number
  /** Deepest nesting of objects and arrays in a line (--max-json-depth). */
  maxJsonDepth?: number
  /** How long ended batches and their output files are kept. */
  retentionSeconds: number
  log?: (line: string) => void
  /**
   * Called at named points of the batch life cycle (`validated`, `line-recorded`,
   * `finalized-files`). The crash tests use it to SIGKILL the server exactly there.
   */
  failpoint?: (point: string) => void
}

interface InFlightLine {
  line: PendingLine
  controller: AbortController
}

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
        this.log(`batch runner: ${(error as Error).stack ?? String(error)}`)
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
  }

  private pump(): void {
    if (this.paused) return
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
    while (this.inFlight.size < this.options.concurrency) {
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

  private track(seq: number, work: Promise<void>): void {
    this.busy.add(seq)
    const done = work
      .catch((error: unknown) => this.log(`batch runner: ${(error as Error).stack ?? String(error)}`))
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
    const result = await validateBatchInput(files.storage.path(input.id), batch.endpoint, { maxLines: this.options.maxLines, ...(this.options.maxJsonDepth !== undefined ? { maxJsonDepth: this.options.maxJsonDepth } : {}) })
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
    const { store, files, chat, concurrency } = this.options
    const batch = store.getBatchBySeq(line.batchSeq)
    if (batch?.status !== 'in_progress') return
    const text = (await files.storage.readRange(batch.input_file_id, line.offset, line.length)).toString('utf8').replace(/^\uFEFF/, '')
    const checked = checkLine(text, line.lineNo, batch.endpoint, this.options.maxJsonDepth)
    const requestId = newId('req_')
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
      if (signal.aborted) return
      const apiError = asApiError(error)
      if (apiError.status === 503) {
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
    store.recordLine(result)
    this.options.failpoint?.('line-recorded')
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

  /** Writes the output and error files from SQLite and ends the batch. Safe to repeat after a crash. */
  private async finish(batch: BatchRecord): Promise<void> {
    const { store, files } = this.options
    if (batch.status === 'cancelling') {
      store.failPendingLines(batch.seq, (line) =>
        outputLine(line.customId, null, { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran.' }),
      )
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
    for (const batch of store.overdueBatches()) {
      if (this.busy.has(batch.seq)) continue
      this.abortLines(batch.seq, 'batch expired')
      store.failPendingLines(batch.seq, (line) =>
        outputLine(line.customId, null, { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' }),
      )
      store.beginFinalizing(batch.seq, 'expired' satisfies EndStatus)
      this.log(`batch ${batch.id}: expired`)
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

/** One line of an output or error file, in OpenAI's batch output format. */
function outputLine(customId: string, response: { status_code: number; request_id: string; body: unknown } | null, error: { code: string; message: string } | null): string {
  return JSON.stringify({ id: newId('batch_req_'), custom_id: customId, response, error })
}
