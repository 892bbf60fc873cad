import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI, { toFile } from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startVisto, type SpawnedVisto } from '../test-support/visto-server.js'

/**
 * The real `visto serve` (real llama-server, tiny stand-in) killed with SIGKILL at each
 * stage of a batch, then started again on the same data directory: every input line
 * must end up exactly once in the output or error file.
 */

const dirs: string[] = []
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'visto-batch-crash-'))
  dirs.push(dir)
  return dir
}

function serve(dir: string, failpoint?: string): Promise<SpawnedVisto> {
  return startVisto(['--data-dir', dir, '--parallel', '2', '--batch-concurrency', '2'], {
    ...(failpoint ? { failpoint } : {}),
    // A server restarted on an unfinished batch resumes it at once, so it can reach its failpoint before it is seen ready.
    mayDieBeforeReady: failpoint !== undefined,
  })
}

function client(server: SpawnedVisto): OpenAI {
  return new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'unused', maxRetries: 0 })
}

function killedBySigkill(server: SpawnedVisto): Promise<NodeJS.Signals | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return Promise.resolve(server.child.signalCode)
  return new Promise((resolve) => server.child.once('exit', (_code, signal) => resolve(signal)))
}

async function inputLines(count: number): Promise<{ text: string; ids: string[] }> {
  const image = dataUrl(await testImage(64, 64))
  const ids: string[] = []
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    const id = `photo-${i}`
    ids.push(id)
    // One line in each batch fails on its own (unknown model) and belongs in the error file.
    const model = i === 3 ? 'no-such-model' : 'qwen3-vl-4b-instruct'
    const content =
      i % 2 === 0
        ? [
            { type: 'text', text: `Describe photo ${i}.` },
            { type: 'image_url', image_url: { url: image } },
          ]
        : `Say something about ${i}.`
    lines.push(
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content }], max_tokens: 12, temperature: 0 } }),
    )
  }
  return { text: `${lines.join('\n')}\n`, ids }
}

async function submit(server: SpawnedVisto, text: string): Promise<string> {
  const api = client(server)
  const file = await api.files.create({ file: await toFile(Buffer.from(text), 'photos.jsonl'), purpose: 'batch' })
  const batch = await api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
  return batch.id
}

async function waitForEnd(server: SpawnedVisto, id: string): Promise<OpenAI.Batch> {
  const api = client(server)
  const deadline = Date.now() + 120_000
  for (;;) {
    const batch = await api.batches.retrieve(id)
    if (['completed', 'failed', 'cancelled', 'expired'].includes(batch.status)) return batch
    if (Date.now() > deadline) throw new Error(`batch still ${batch.status}: ${JSON.stringify(batch.request_counts)}\n${server.output()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function customIds(server: SpawnedVisto, fileId: string | null | undefined): Promise<string[]> {
  if (!fileId) return []
  const text = await (await client(server).files.content(fileId)).text()
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)
}

/** One line of a batch's output or error file, as far as these tests read it. */
type BatchFileLine = { custom_id: string; error?: unknown; response?: unknown }

async function fileLines(server: SpawnedVisto, fileId: string | null | undefined): Promise<BatchFileLine[]> {
  if (!fileId) return []
  const text = await (await client(server).files.content(fileId)).text()
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BatchFileLine)
}

/** Every line exactly once across both files, the failing line in the error file. */
async function expectExactlyOnce(server: SpawnedVisto, batch: OpenAI.Batch, ids: string[]): Promise<void> {
  expect(batch.status).toBe('completed')
  const output = await customIds(server, batch.output_file_id)
  const errors = await customIds(server, batch.error_file_id)
  expect(errors).toEqual(['photo-3'])
  expect([...output, ...errors].sort()).toEqual([...ids].sort())
  expect(batch.request_counts).toEqual({ total: ids.length, completed: ids.length - 1, failed: 1 })
}

describe('batches survive SIGKILL', () => {
  it('killed while validating: validates again after restart and completes', async () => {
    const dir = await dataDir()
    const { text, ids } = await inputLines(6)
    const first = await serve(dir, 'validated')
    const id = await submit(first, text)
    expect(await killedBySigkill(first)).toBe('SIGKILL')
    const second = await serve(dir)
    try {
      expect((await client(second).batches.retrieve(id)).status).not.toBe('failed')
      await expectExactlyOnce(second, await waitForEnd(second, id), ids)
    } finally {
      await second.stop()
    }
  })

  it('killed twice while validating: fails the batch with the reason on the next start instead of dying again', async () => {
    const dir = await dataDir()
    const { text } = await inputLines(4)
    const first = await serve(dir, 'validated')
    const id = await submit(first, text)
    expect(await killedBySigkill(first)).toBe('SIGKILL')
    // The second start validates once more, and dies there again.
    const second = await serve(dir, 'validated')
    expect(await killedBySigkill(second)).toBe('SIGKILL')
    const third = await serve(dir)
    try {
      const batch = await waitForEnd(third, id)
      expect(batch.status).toBe('failed')
      expect(batch.errors!.data).toEqual([
        {
          code: 'validation_crashed',
          message:
            'Validation of the input file was interrupted by a server crash twice; it is not tried again. The file probably holds a line that crashes the server; check it for very long or deeply nested lines, fix or remove them and create a new batch',
          param: 'input_file_id',
          line: null,
        },
      ])
      expect(third.output()).toContain(`batch ${id}: failed: its validation was interrupted by a server crash twice`)
      // The server stays up and serves.
      expect((await fetch(`${third.baseURL}/health`)).status).toBe(200)
    } finally {
      await third.stop()
    }
  })

  it('a line that killed the server twice fails on its own; the rest of the batch completes', async () => {
    const dir = await dataDir()
    const { text, ids } = await inputLines(5)
    const serveOneAtATime = (failpoint?: string) =>
      startVisto(['--data-dir', dir, '--parallel', '1', '--batch-concurrency', '1'], { ...(failpoint ? { failpoint } : {}), mayDieBeforeReady: failpoint !== undefined })
    // One line at a time, so the first line started is photo-0 both times.
    const first = await serveOneAtATime('line-started')
    const id = await submit(first, text)
    expect(await killedBySigkill(first)).toBe('SIGKILL')
    const second = await serveOneAtATime('line-started')
    expect(await killedBySigkill(second)).toBe('SIGKILL')
    const third = await serveOneAtATime()
    try {
      const batch = await waitForEnd(third, id)
      expect(batch.status).toBe('completed')
      expect(batch.request_counts).toEqual({ total: 5, completed: 3, failed: 2 })
      const errors = await fileLines(third, batch.error_file_id)
      expect(errors.map((line) => line.custom_id)).toEqual(['photo-0', 'photo-3'])
      expect(errors[0]!.error).toEqual({
        code: 'request_crashed_server',
        message: 'This request was interrupted by a server crash twice and is not run again; the rest of the batch ran without it.',
      })
      expect(await customIds(third, batch.output_file_id)).toEqual(ids.filter((i) => i !== 'photo-0' && i !== 'photo-3'))
    } finally {
      await third.stop()
    }
  })

  it('killed several times while in progress: each line once in the output or error file', async () => {
    const dir = await dataDir()
    const { text, ids } = await inputLines(16)
    const first = await serve(dir, 'line-recorded:3')
    const id = await submit(first, text)
    expect(await killedBySigkill(first)).toBe('SIGKILL')

    const second = await serve(dir, 'line-recorded:4')
    expect(await killedBySigkill(second)).toBe('SIGKILL')

    // Killed from outside at an arbitrary moment, with lines generating.
    const third = await serve(dir)
    const api = client(third)
    // What the first two recorded before their kills (3, then 4 more) survived both.
    const progress = (await api.batches.retrieve(id)).request_counts!
    expect(progress.completed + progress.failed).toBeGreaterThanOrEqual(7)
    for (;;) {
      const batch = await api.batches.retrieve(id)
      if (batch.request_counts!.completed + batch.request_counts!.failed >= 9) break
      await new Promise((r) => setTimeout(r, 20))
    }
    third.child.kill('SIGKILL')
    expect(await killedBySigkill(third)).toBe('SIGKILL')

    const last = await serve(dir)
    try {
      await expectExactlyOnce(last, await waitForEnd(last, id), ids)
    } finally {
      await last.stop()
    }
  })

  it('killed while finalizing: writes the files again, keeps no half-finished ones', async () => {
    const dir = await dataDir()
    const { text, ids } = await inputLines(6)
    const first = await serve(dir, 'finalized-files')
    const id = await submit(first, text)
    expect(await killedBySigkill(first)).toBe('SIGKILL')
    // The output files were written and renamed, but never registered.
    expect((await readdir(join(dir, 'files'))).length).toBe(3)

    const second = await serve(dir)
    try {
      const batch = await waitForEnd(second, id)
      await expectExactlyOnce(second, batch, ids)
      const onDisk = (await readdir(join(dir, 'files'))).sort()
      const input = (await client(second).batches.retrieve(id)).input_file_id
      expect(onDisk).toEqual([input, batch.output_file_id, batch.error_file_id].sort())
    } finally {
      await second.stop()
    }
  })

  it('pauses batch work when SIGTERM drains the server and resumes on the next start', async () => {
    const dir = await dataDir()
    const { text, ids } = await inputLines(12)
    const first = await serve(dir)
    const id = await submit(first, text)
    const api = client(first)
    for (;;) {
      const counts = (await api.batches.retrieve(id)).request_counts!
      if (counts.completed + counts.failed >= 2) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(await first.stop('SIGTERM')).toBe(0)
    const second = await serve(dir)
    try {
      await expectExactlyOnce(second, await waitForEnd(second, id), ids)
    } finally {
      await second.stop()
    }
  })
})
