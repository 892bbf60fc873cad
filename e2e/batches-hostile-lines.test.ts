import { readFile } from 'node:fs/promises'
import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVisto, type SpawnedVisto } from '../test-support/visto-server.js'

/**
 * Batch lines built to crash the server (issue 18): a 190 MB run of nested `[` ran
 * validation out of heap (8.2 GB RSS) and again on every restart; a 40 MB one peaked at
 * 3.2 GB and stalled /health for 9 s. Each must fail its batch with a message while the
 * real server stays up, answers /health promptly and keeps its memory bounded.
 */

let server: SpawnedVisto
beforeAll(async () => {
  server = await startVisto([])
}, 120_000)
afterAll(async () => {
  await server?.stop()
})

function client(): OpenAI {
  return new OpenAI({ baseURL: `${server.baseURL}/v1`, apiKey: 'unused', maxRetries: 0 })
}

/** The server process's resident memory in MiB (Linux). */
async function rssMiB(): Promise<number> {
  const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

const goodLine = JSON.stringify({ custom_id: 'fine', method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } })
const prefix = '{"custom_id":"deep","method":"POST","url":"/v1/chat/completions","body":{"messages":'

/** A file of a good line and a line of `megabytes` MB of `[`. */
function nestedFile(megabytes: number): Buffer {
  const run = megabytes * 1_000_000
  const file = Buffer.alloc(goodLine.length + 1 + prefix.length + run + 1)
  let at = file.write(`${goodLine}\n${prefix}`)
  file.fill('[', at, at + run)
  at += run
  file.write('\n', at)
  return file
}

describe.each([40, 190])('a batch line of %i MB of nested [', (megabytes) => {
  it('fails the batch naming the line and the limit, with the server up, /health prompt and memory bounded', async () => {
    const api = client()
    const file = await api.files.create({ file: await toFile(nestedFile(megabytes), 'nested.jsonl'), purpose: 'batch' })
    const before = await rssMiB()
    const batch = await api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
    let peak = before
    let slowestHealthMs = 0
    let ended: OpenAI.Batch | undefined
    const deadline = Date.now() + 60_000
    while (!ended) {
      peak = Math.max(peak, await rssMiB())
      const started = performance.now()
      expect((await fetch(`${server.baseURL}/health`)).status).toBe(200)
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started)
      const now = await api.batches.retrieve(batch.id)
      if (now.status === 'failed' || now.status === 'completed') ended = now
      else if (Date.now() > deadline) throw new Error(`batch still ${now.status}\n${server.output()}`)
      else await new Promise((r) => setTimeout(r, 20))
    }
    expect(ended.status).toBe('failed')
    expect(ended.errors!.data).toEqual([
      {
        code: 'json_too_deep',
        message: `Line 2: nests objects and arrays deeper than 64 levels (at character ${prefix.length + 62}); the limit is --max-json-depth`,
        param: null,
        line: 2,
      },
    ])
    // Validation reads a chunk at a time and drops the line at its 65th bracket: the line is never held.
    expect(peak - before).toBeLessThan(100)
    expect(peak).toBeLessThan(600)
    expect(slowestHealthMs).toBeLessThan(250)
    expect(server.child.exitCode).toBeNull()
    expect((await api.models.list()).data.length).toBeGreaterThan(0)
  }, 120_000)
})
