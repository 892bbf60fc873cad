import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import OpenAI from 'openai'
import type { BatchSystem } from '../packages/server/src/batches/batch-system.js'
import type { Clock } from '../packages/server/src/data-dir.js'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import type { Engine } from '../packages/server/src/engines/engine.js'
import type { Admission } from '../packages/server/src/serving/admission.js'
import { ScriptedEngine } from './scripted-engine.js'

export interface BatchHarness<E extends Engine = ScriptedEngine> {
  app: FastifyInstance
  engine: E
  admission: Admission
  batches: BatchSystem
  client: OpenAI
  baseURL: string
  dataDir: string
  /** Stops the server; the data directory stays for a restart unless `removeData`. */
  close(options?: { removeData?: boolean }): Promise<void>
}

export interface HarnessOptions<E extends Engine = ScriptedEngine> {
  /** A scripted engine, or a pool of them (started). */
  engine?: E
  dataDir?: string
  parallel?: number
  concurrency?: number | 'auto'
  maxFileBytes?: number
  maxLines?: number
  diskBytes?: number
  retentionSeconds?: number
  clock?: Clock
}

/**
 * The HTTP app with the Files and Batch APIs on a scripted engine, listening on a free
 * port so the official openai client talks to it over real sockets. For batch logic
 * (state machine, fairness, durability of the store); engine behaviour is tested with
 * the real llama-server elsewhere.
 */
export async function startBatchHarness<E extends Engine = ScriptedEngine>(options: HarnessOptions<E> = {}): Promise<BatchHarness<E>> {
  const engine = options.engine ?? (new ScriptedEngine() as Engine as E)
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'visto-batches-')))
  const MiB = 1024 * 1024
  const config = serveConfig({
    parallel: options.parallel ?? 2,
    'max-queue': 16,
    'default-max-tokens': 64,
    'max-images': 4,
    'body-limit-mb': 1,
    'response-cache': 'off',
    'batch-concurrency': options.concurrency ?? 2,
    'batch-max-file-mb': (options.maxFileBytes ?? MiB) / MiB,
    'batch-max-lines': options.maxLines ?? 1000,
    'batch-disk-gb': (options.diskBytes ?? 64 * MiB) / (1024 * MiB),
    'batch-retention-hours': (options.retentionSeconds ?? 3600) / 3600,
  })
  const composed = await composeServer(config, {
    engine,
    prepareImage: async () => ({ data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64 }),
    data: { dir: dataDir, ...(options.clock ? { clock: options.clock } : {}) },
  })
  const { app, admission } = composed
  if (!composed.batches) throw new Error(`the batch data directory ${dataDir} is in use by another server`)
  const batches = composed.batches
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  batches.start()
  const baseURL = `${address}/v1`
  const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 })
  return {
    app,
    engine,
    admission,
    batches,
    client,
    baseURL,
    dataDir,
    async close({ removeData = false } = {}) {
      admission.drain()
      await batches.drain(Date.now())
      await app.close()
      composed.dataDir?.close()
      if (removeData) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** One JSONL request line for /v1/chat/completions. */
export function requestLine(customId: string, text = 'Describe this image.', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: text }], max_tokens: 8, ...extra },
  })
}

/** Polls a batch until `done` says so (the API has no push; clients poll too). */
export async function waitForBatch(
  client: OpenAI,
  id: string,
  done: (batch: OpenAI.Batch) => boolean = (b) => ['completed', 'failed', 'cancelled', 'expired'].includes(b.status),
  timeoutMs = 30_000,
): Promise<OpenAI.Batch> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const batch = await client.batches.retrieve(id)
    if (done(batch)) return batch
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${batch.status} after ${timeoutMs} ms: ${JSON.stringify(batch.request_counts)}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** One line of a batch's output or error file. */
export interface BatchFileLine {
  id: string
  custom_id: string
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null
  error: { code: string; message: string } | null
}

export async function fileLines(client: OpenAI, id: string | null | undefined): Promise<BatchFileLine[]> {
  if (!id) return []
  const text = await (await client.files.content(id)).text()
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BatchFileLine)
}
