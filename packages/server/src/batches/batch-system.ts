import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { MiB, type ServeConfig } from '../config.js'
import { batchesRoutes, batchesUnavailableRoutes } from '../routes/batches.js'
import { filesRoutes } from '../routes/files.js'
import type { Admission } from '../serving/admission.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { FileStorage } from './files.js'
import { BatchRunner } from './runner.js'
import { BatchService } from './service.js'
import { BatchStore, DataDirInUseError, systemClock, type Clock } from './store.js'

export interface BatchSystemOptions {
  dataDir: string
  chat: ChatCompletionsService
  admission: Admission
  concurrency: number
  maxFileBytes: number
  maxLines: number
  /** Deepest nesting of objects and arrays in a batch line (--max-json-depth). */
  maxJsonDepth?: number
  diskBytes: number
  retentionSeconds: number
  clock?: Clock
  log?: (line: string) => void
  failpoint?: (point: string) => void
}

/** The Files and Batch APIs with their store, file storage and background runner. */
export interface BatchSystem {
  service: BatchService
  runner: BatchRunner
  store: BatchStore
  /** Registers /v1/files and /v1/batches in their own scope (multipart lives there). */
  routes: (app: FastifyInstance) => Promise<void>
  /** An uploaded file's bytes (for `file_id` in chat requests), or undefined when there is none. */
  readUpload(id: string): Promise<Buffer | undefined>
  /** Starts background work; call once the engine is ready. */
  start(): void
  /** Pauses batch work for shutdown; unfinished lines run after the next start. */
  drain(deadlineMs: number): Promise<void>
  close(): void
}

export async function openBatchSystem(options: BatchSystemOptions): Promise<BatchSystem> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
  await chmod(options.dataDir, 0o700)
  const store = new BatchStore(options.dataDir, options.clock ?? systemClock)
  const files = new FileStorage(options.dataDir)
  await files.init()
  // Half-received uploads and files written by a finalize that never committed.
  const removed = await files.removeOrphans(store.allFileIds())
  if (removed.length > 0) options.log?.(`batches: removed ${removed.length} unfinished files from ${files.dir}`)
  const runner = new BatchRunner({
    store,
    files,
    chat: options.chat,
    concurrency: options.concurrency,
    maxLines: options.maxLines,
    ...(options.maxJsonDepth !== undefined ? { maxJsonDepth: options.maxJsonDepth } : {}),
    retentionSeconds: options.retentionSeconds,
    ...(options.log ? { log: options.log } : {}),
    ...(options.failpoint ? { failpoint: options.failpoint } : {}),
  })
  const service = new BatchService(store, files, runner, { maxFileBytes: options.maxFileBytes, diskBytes: options.diskBytes })
  return {
    service,
    runner,
    store,
    routes: async (app) => {
      await filesRoutes(app, service)
      batchesRoutes(app, service)
    },
    readUpload: async (id) => {
      const record = store.getFile(id)
      return record === undefined ? undefined : files.readRange(id, 0, record.bytes)
    },
    start: () => runner.start(),
    drain: (deadlineMs) => runner.drain(deadlineMs),
    close: () => store.close(),
  }
}

/**
 * A second server on the same cache (another model, another port) still serves chat; only
 * one may own the batch data directory, so the other says where its batches are not.
 */
export async function openBatchesForServe(
  config: ServeConfig,
  deps: { chat: ChatCompletionsService; admission: Admission; dataDir: string; log: (line: string) => void; clock?: Clock | undefined },
): Promise<BatchSystem | undefined> {
  try {
    return await openBatchSystem({
      dataDir: deps.dataDir,
      ...(deps.clock ? { clock: deps.clock } : {}),
      chat: deps.chat,
      admission: deps.admission,
      concurrency: config['batch-concurrency'],
      maxFileBytes: Math.round(config['batch-max-file-mb'] * MiB),
      maxLines: config['batch-max-lines'],
      maxJsonDepth: config['max-json-depth'],
      diskBytes: Math.round(config['batch-disk-gb'] * 1024 * MiB),
      retentionSeconds: Math.round(config['batch-retention-hours'] * 3600),
      log: deps.log,
      failpoint: crashAtFailpoint(process.env.VISTO_TEST_FAILPOINT),
    })
  } catch (error) {
    if (!(error instanceof DataDirInUseError)) throw error
    deps.log(`WARNING: ${error.message}; the Files and Batch APIs are off on this server (give it its own --data-dir)`)
    return undefined
  }
}

/** The Files and Batch routes, or where there is no batch system, the same paths with a clear 503. */
export async function registerBatchRoutes(app: FastifyInstance, batches: BatchSystem | undefined): Promise<void> {
  if (batches) await batches.routes(app)
  else batchesUnavailableRoutes(app)
}

/**
 * Crash tests set VISTO_TEST_FAILPOINT=<point>[:<hit>] to SIGKILL the server at an exact
 * step of a batch's life (e.g. `validated`, `line-recorded:5`, `finalized-files`).
 */
function crashAtFailpoint(spec: string | undefined): ((point: string) => void) | undefined {
  if (!spec) return undefined
  const [name, hit] = spec.split(':')
  let remaining = Number(hit ?? 1)
  return (point) => {
    if (point === name && --remaining <= 0) process.kill(process.pid, 'SIGKILL')
  }
}
