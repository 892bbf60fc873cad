import { chmod, mkdir } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { batchesRoutes } from '../routes/batches.js'
import { filesRoutes } from '../routes/files.js'
import type { Admission } from '../serving/admission.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { FileStorage } from './files.js'
import { BatchRunner } from './runner.js'
import { BatchService } from './service.js'
import { BatchStore, systemClock, type Clock } from './store.js'

export interface BatchSystemOptions {
  dataDir: string
  chat: ChatCompletionsService
  admission: Admission
  concurrency: number
  maxFileBytes: number
  maxLines: number
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
    admission: options.admission,
    concurrency: options.concurrency,
    maxLines: options.maxLines,
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
    start: () => runner.start(),
    drain: (deadlineMs) => runner.drain(deadlineMs),
    close: () => store.close(),
  }
}
