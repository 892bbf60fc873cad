import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { startTinyServer } from '../test-support/in-process-server.js'

// Batches on the real engine (llama-server, tiny stand-in): cancelling generations in
// flight, and interactive requests served between batch lines.

let server: RunningServer
let api: OpenAI

beforeAll(async () => {
  server = await startTinyServer(['--parallel', '1', '--batch-concurrency', '1', '--ctx-size', '4096'])
  api = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 })
})
afterAll(async () => {
  await server?.shutdown()
})

/** Lines that generate `tokens` tokens each, whatever the model would rather do. */
async function submitLong(count: number, tokens: number): Promise<OpenAI.Batch> {
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `long-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { messages: [{ role: 'user', content: `Tell story ${i}.` }], max_tokens: tokens, ignore_eos: true, temperature: 0 },
    }),
  )
  const file = await api.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'long.jsonl'), purpose: 'batch' })
  return api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
}

async function waitFor(id: string, done: (batch: OpenAI.Batch) => boolean, timeoutMs = 120_000): Promise<OpenAI.Batch> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const batch = await api.batches.retrieve(id)
    if (done(batch)) return batch
    if (Date.now() > deadline) throw new Error(`batch ${id} is ${batch.status} ${JSON.stringify(batch.request_counts)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until the batch runs and one of its lines holds the engine slot (`running` in /v1/health). */
async function waitForLineGenerating(id: string): Promise<void> {
  await waitFor(id, (b) => b.status === 'in_progress')
  await expect.poll(async () => ((await (await fetch(`${server.url}/v1/health`)).json()) as { running: number }).running, { timeout: 120_000, interval: 50 }).toBeGreaterThan(0)
}

describe('batches on the real engine', () => {
  it('serves an interactive request between batch lines, not after the batch', async () => {
    // Long lines, so the few milliseconds before the server has read the interactive request
    // (when a line that just ended may still hand its slot to the next line) are a small
    // share of a line's time.
    const batch = await submitLong(6, 3500)
    await waitForLineGenerating(batch.id)
    const before = (await api.batches.retrieve(batch.id)).request_counts!
    const answer = await api.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Quick question.' }], max_tokens: 4 })
    expect(answer.choices[0]!.finish_reason).toBe('length')
    const after = (await api.batches.retrieve(batch.id)).request_counts!
    // Waited for the batch line already generating, at most.
    expect(after.completed - before.completed).toBeLessThanOrEqual(1)
    expect(after.completed).toBeLessThan(6)
    await api.batches.cancel(batch.id)
    await waitFor(batch.id, (b) => b.status === 'cancelled')
  })

  it('cancels while a line is generating: the engine stops, the rest goes to the error file once each', async () => {
    const batch = await submitLong(4, 3000)
    await waitForLineGenerating(batch.id)
    expect((await api.batches.cancel(batch.id)).status).toBe('cancelling')
    const cancelled = await waitFor(batch.id, (b) => b.status === 'cancelled', 30_000)
    const errors = (await (await api.files.content(cancelled.error_file_id!)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { custom_id: string; error: { code: string } })
    const output = cancelled.output_file_id ? (await (await api.files.content(cancelled.output_file_id)).text()).trim().split('\n') : []
    expect(output.length + errors.length).toBe(4)
    expect(new Set(errors.map((e) => e.custom_id)).size).toBe(errors.length)
    for (const error of errors) expect(error.error.code).toBe('batch_cancelled')
    // The slot is free again at once: an interactive request does not wait for a 3000-token line.
    const answer = await api.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Still there?' }], max_tokens: 4 })
    expect(answer.usage!.completion_tokens).toBe(4)
  })
})
