import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type OpenAI from 'openai'
import { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { fileLines, requestLine, startBatchHarness, waitForBatch, type BatchHarness } from '../test-support/batch-harness.js'
import { parsePrometheusText, sample } from '../test-support/prometheus-text.js'
import { ScriptedEngine, words } from '../test-support/scripted-engine.js'

/**
 * A full disk pauses batch work and never discards a generation (issue 18): the result
 * of a line computed while the disk is full waits in memory until it can be written, no
 * new line starts, /v1/health and /metrics say so, and work resumes by itself once space
 * is back. First with the failures injected (always runs), then on a real 5 MB tmpfs.
 */

const harnesses: BatchHarness[] = []
const cleanups: Array<() => void> = []
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close({ removeData: true })
  for (const cleanup of cleanups.splice(0)) cleanup()
})

async function submit(client: OpenAI, count: number): Promise<{ id: string; ids: string[] }> {
  const ids = Array.from({ length: count }, (_, i) => `line-${i}`)
  const file = await client.files.create({
    file: await toFile(Buffer.from(`${ids.map((id) => requestLine(id, `Describe ${id}.`)).join('\n')}\n`), 'requests.jsonl'),
    purpose: 'batch',
  })
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
  return { id: batch.id, ids }
}

type BatchesHealth = { batches: { status: string; reason?: string; message?: string; unwritten_results?: number } }

async function health(harness: BatchHarness): Promise<BatchesHealth> {
  return (await (await fetch(`${harness.baseURL}/health`)).json()) as BatchesHealth
}

async function pausedGauge(harness: BatchHarness): Promise<number> {
  return sample(parsePrometheusText(await (await fetch(`${harness.baseURL.replace(/\/v1$/, '')}/metrics`)).text()), 'visto_batch_work_paused', { reason: 'disk_full' })
}

/** Each input line exactly once in the output, none in the error file, each generated exactly once. */
async function expectEveryLineOnce(harness: BatchHarness, engine: ScriptedEngine, id: string, ids: string[]): Promise<void> {
  const batch = await waitForBatch(harness.client, id, undefined, 30_000)
  expect(batch.status).toBe('completed')
  expect(batch.request_counts).toEqual({ total: ids.length, completed: ids.length, failed: 0 })
  expect((await fileLines(harness.client, batch.output_file_id)).map((line) => line.custom_id)).toEqual(ids)
  expect(batch.error_file_id).toBeNull()
  // No generation thrown away and run again: one engine request per line.
  const prompts = engine.requests.map((request) => JSON.stringify(request.messages))
  expect(prompts).toHaveLength(ids.length)
  expect(new Set(prompts).size).toBe(ids.length)
}

const diskFull = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })

describe('a full disk pauses batch work (failures injected)', () => {
  it('keeps a result the database refused, starts nothing new, reports the pause, and resumes when writes succeed', async () => {
    const engine = new ScriptedEngine(words(['fine']))
    const harness = await startBatchHarness({ engine, concurrency: 1 })
    harnesses.push(harness)
    const { store } = harness.batches
    const recordLine = store.recordLine.bind(store)
    let recorded = 0
    let full = false
    store.recordLine = (result) => {
      if (full) throw diskFull()
      if (++recorded === 5) full = true
      return recordLine(result)
    }
    const { id, ids } = await submit(harness.client, 20)

    await expect.poll(async () => (await health(harness)).batches.status, { timeout: 10_000 }).toBe('paused')
    const paused = (await health(harness)).batches
    expect(paused).toMatchObject({ status: 'paused', reason: 'disk_full', unwritten_results: 1 })
    expect(paused.message).toBe('the disk of the data directory is full (database or disk is full); batch work is paused until space is freed')
    expect(await pausedGauge(harness)).toBe(1)
    // The sixth line was generated; its result waits in memory and nothing else starts.
    const generated = engine.requests.length
    expect(generated).toBe(6)
    await new Promise((r) => setTimeout(r, 1500))
    expect(engine.requests.length).toBe(generated)
    expect((await harness.client.batches.retrieve(id)).request_counts).toMatchObject({ completed: 5 })

    full = false
    await expectEveryLineOnce(harness, engine, id, ids)
    expect((await health(harness)).batches).toEqual({ status: 'running' })
    expect(await pausedGauge(harness)).toBe(0)
  })

  it('pauses when the output file cannot be written, and finishes it once it can', async () => {
    const engine = new ScriptedEngine(words(['fine']))
    const harness = await startBatchHarness({ engine })
    harnesses.push(harness)
    const { storage } = harness.batches.service.files
    const writeLines = storage.writeLines.bind(storage)
    let refusals = 0
    storage.writeLines = async (lines) => {
      if (refusals < 3) {
        refusals++
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      }
      return writeLines(lines)
    }
    const { id, ids } = await submit(harness.client, 4)
    await expect.poll(async () => (await health(harness)).batches.status, { timeout: 10_000 }).toBe('paused')
    expect((await harness.client.batches.retrieve(id)).status).toBe('finalizing')
    await expectEveryLineOnce(harness, engine, id, ids)
    expect(refusals).toBe(3)
  })

  it('answers an upload the real free space cannot take with a 507, and one the database refuses too', async () => {
    const harness = await startBatchHarness()
    harnesses.push(harness)
    const files = harness.batches.service.files
    files.diskSpace = async () => ({ free: 100 * 1024, size: 5 * 1024 * 1024 })
    const upload = async () => harness.client.files.create({ file: await toFile(Buffer.alloc(200 * 1024, 'x'), 'big.jsonl'), purpose: 'batch' })
    await expect(upload()).rejects.toMatchObject({
      status: 507,
      error: {
        type: 'server_error',
        code: 'insufficient_storage',
        param: 'file',
        message:
          'Not enough free disk space for this file: 0.10 MiB is free on the disk of the data directory (--data-dir), and uploads leave 0.05 MiB of it for batch results. Delete files you no longer need or free space on the disk.',
      },
    })
    files.diskSpace = async () => ({ free: 1 << 30, size: 1 << 31 })
    const insert = files.records.insert.bind(files.records)
    files.records.insert = () => {
      throw diskFull()
    }
    await expect(upload()).rejects.toMatchObject({ status: 507, error: { code: 'insufficient_storage' } })
    files.records.insert = insert
    // Nothing half-stored was left behind by either.
    expect((await harness.client.files.list()).data).toEqual([])
    expect((await upload()).bytes).toBe(200 * 1024)
  })
})

/** Mounts a tmpfs of `size` on a fresh folder; undefined where this process may not mount. */
function mountTmpfs(size: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'visto-full-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' })
  } catch {
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  cleanups.push(() => {
    execFileSync('umount', ['-l', dir])
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** Writes `path` until the file system refuses another byte. */
async function fill(path: string): Promise<void> {
  const handle = await open(path, 'w')
  try {
    for (const size of [1 << 16, 4096, 1]) {
      const chunk = Buffer.alloc(size, 'f')
      for (;;) {
        try {
          await handle.write(chunk)
        } catch (error) {
          if ((error as { code?: string }).code !== 'ENOSPC') throw error
          break
        }
      }
    }
  } finally {
    await handle.close()
  }
}

const canMount = mountTmpfs('1m') !== undefined

describe('a full disk pauses batch work (a real 5 MB tmpfs)', () => {
  it.skipIf(!canMount)(
    'fills up mid-batch, pauses with every computed result kept, lets files be deleted, and completes once space is freed',
    async () => {
      const dir = mountTmpfs('5m')!
      const engine = new ScriptedEngine(words(['A', ' fine', ' answer']))
      const harness = await startBatchHarness({ engine, dataDir: join(dir, 'data'), concurrency: 2 })
      harnesses.push(harness)
      const spare = await harness.client.files.create({ file: await toFile(Buffer.from(`${requestLine('spare')}\n`), 'spare.jsonl'), purpose: 'batch' })
      const { id, ids } = await submit(harness.client, 300)
      await expect.poll(async () => (await harness.client.batches.retrieve(id)).request_counts!.completed, { timeout: 10_000 }).toBeGreaterThanOrEqual(5)
      const filler = join(dir, 'filler')
      await fill(filler)

      await expect.poll(async () => (await health(harness)).batches.status, { timeout: 15_000 }).toBe('paused')
      expect(await pausedGauge(harness)).toBe(1)
      const generated = engine.requests.length
      await new Promise((r) => setTimeout(r, 1500))
      expect(engine.requests.length).toBe(generated)
      expect(generated).toBeLessThan(ids.length)
      // Uploads see the real free space; deleting works on the full disk.
      await expect(harness.client.files.create({ file: await toFile(Buffer.alloc(64 * 1024, 'x'), 'more.jsonl'), purpose: 'batch' })).rejects.toMatchObject({
        status: 507,
        error: { code: 'insufficient_storage' },
      })
      expect(await harness.client.files.delete(spare.id)).toEqual({ id: spare.id, object: 'file', deleted: true })

      await rm(filler)
      await expectEveryLineOnce(harness, engine, id, ids)
      expect((await health(harness)).batches).toEqual({ status: 'running' })
    },
    60_000,
  )
})
