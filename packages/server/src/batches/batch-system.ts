import { batchConcurrency, MiB, type ServeConfig } from '../config.js'
import type { Clock, DataDir } from '../data-dir.js'
import type { FilesService } from '../files/files-service.js'
import type { Admission } from '../serving/admission.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { InvalidRequestError } from '../errors.js'
import { BatchRunner } from './runner.js'
import { BatchService } from './service.js'
import { BatchStore } from './store.js'

/** How much batch work runs and how long its results stay: `--batch-*` flags. */
export interface BatchLimits {
  /** Lines generated at once, at most; `auto`: as many as admission has slots. */
  concurrency: number | 'auto'
  maxLines: number
  /** Deepest nesting of objects and arrays in a batch line (--max-json-depth). */
  maxJsonDepth?: number
  /** Longest input line in bytes: one line is one request body (--body-limit-mb). */
  maxLineBytes?: number
  retentionSeconds: number
}

export function batchLimitsFrom(config: ServeConfig): BatchLimits {
  return {
    concurrency: batchConcurrency(config['batch-concurrency']),
    maxLines: config['batch-max-lines'],
    maxJsonDepth: config['max-json-depth'],
    maxLineBytes: Math.round(config['body-limit-mb'] * MiB),
    retentionSeconds: Math.round(config['batch-retention-hours'] * 3600),
  }
}

export interface BatchSystemOptions extends BatchLimits {
  dataDir: DataDir
  /** Where batch input is read from and output written to. */
  files: FilesService
  chat: ChatCompletionsService
  admission: Admission
  clock?: Clock | undefined
  log?: ((line: string) => void) | undefined
  /** See BatchRunnerOptions.failpoint. */
  failpoint?: ((point: string) => void) | undefined
}

/** The Batch API with its store and background runner. */
export interface BatchSystem {
  service: BatchService
  runner: BatchRunner
  store: BatchStore
  /** Starts background work; call once the engine is ready. */
  start(): void
  /** Pauses batch work for shutdown; unfinished lines run after the next start. */
  drain(deadlineMs: number): Promise<void>
}

export function openBatchSystem(options: BatchSystemOptions): BatchSystem {
  const { files } = options
  const store = new BatchStore(options.dataDir.db, files.records, options.clock)
  const runner = new BatchRunner({
    store,
    files,
    chat: options.chat,
    concurrency: options.concurrency,
    capacity: () => options.admission.capacity,
    maxLines: options.maxLines,
    ...(options.maxJsonDepth !== undefined ? { maxJsonDepth: options.maxJsonDepth } : {}),
    ...(options.maxLineBytes !== undefined ? { maxLineBytes: options.maxLineBytes } : {}),
    retentionSeconds: options.retentionSeconds,
    ...(options.log ? { log: options.log } : {}),
    ...(options.failpoint ? { failpoint: options.failpoint } : {}),
  })
  files.refuseDeletionWhen((id) => {
    const users = store.activeBatchesUsing(id)
    if (users.length > 0) {
      throw new InvalidRequestError(`File ${id} is the input of batch ${users[0]}, which has not ended; cancel the batch first`, { param: 'file_id', code: 'file_in_use' })
    }
  })
  return {
    service: new BatchService(store, files, runner),
    runner,
    store,
    start: () => runner.start(),
    drain: (deadlineMs) => runner.drain(deadlineMs),
  }
}
