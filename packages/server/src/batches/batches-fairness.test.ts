import { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine, type Script } from '../../../../test-support/scripted-engine.js'
import { requestLine, startBatchHarness, waitForBatch, type BatchHarness } from '../../../../test-support/batch-harness.js'
import { EnginePool } from '../engines/pool/engine-pool.js'

let harness: BatchHarness | undefined
afterEach(async () => {
  await harness?.close({ removeData: true })
  harness = undefined
})

interface Generation {
  who: string
  startedAt: number
  endedAt?: number
}

/** Every generation takes `ms`; the log says who ran when. */
function timedScript(ms: number, log: Generation[]): Script {
  return async function* (request) {
    const prompt = JSON.stringify(request.messages)
    const entry: Generation = { who: prompt.includes('interactive') ? 'interactive' : 'batch', startedAt: performance.now() }
    log.push(entry)
    await new Promise((r) => setTimeout(r, ms))
    yield { type: 'text', text: 'ok' }
    entry.endedAt = performance.now()
    yield { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: 1 }
  }
}

describe('batches are fair to interactive requests', () => {
  for (const { parallel, concurrency } of [
    { parallel: 1, concurrency: 1 },
    { parallel: 2, concurrency: 2 },
    { parallel: 3, concurrency: 'auto' as const },
  ]) {
    // auto: every slot the engine has.
    const most = concurrency === 'auto' ? parallel : concurrency
    it(`an interactive request waits only for the batch generations already running (parallel ${parallel}, batch concurrency ${concurrency})`, async () => {
      const log: Generation[] = []
      harness = await startBatchHarness({ engine: new ScriptedEngine(timedScript(150, log)), parallel, concurrency })
      const { client } = harness
      // Enough lines that the batch still has work queued behind every slot when the question comes.
      const total = 4 * most + 2
      const lines = Array.from({ length: total }, (_, i) => requestLine(`line-${i}`, `batch ${i}`))
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' })
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      await expect.poll(() => log.filter((g) => g.who === 'batch').length, { interval: 5 }).toBeGreaterThanOrEqual(most + 1)

      const sentAt = performance.now()
      const runningAtArrival = log.filter((g) => g.who === 'batch' && g.endedAt === undefined).length
      const answer = await client.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'interactive question' }] })
      expect(answer.choices[0]!.message.content).toBe('ok')
      const interactive = log.find((g) => g.who === 'interactive')!
      const batchStartsWhileWaiting = log.filter((g) => g.who === 'batch' && g.startedAt > sentAt && g.startedAt < interactive.startedAt)
      expect(runningAtArrival).toBeLessThanOrEqual(most)
      // Between the client sending and the server reading the request, a freed slot can
      // still go to a batch line (the server cannot prefer a request it has not seen); once
      // the request is in admission, none can. So at most one such start.
      expect(batchStartsWhileWaiting.length).toBeLessThanOrEqual(1)
      // It took the first slot a batch generation gave back: at most one ended while it waited.
      const batchEndsWhileWaiting = log.filter((g) => g.who === 'batch' && g.endedAt !== undefined && g.endedAt > sentAt && g.endedAt <= interactive.startedAt)
      expect(batchEndsWhileWaiting.length).toBeLessThanOrEqual(1)

      const done = await waitForBatch(client, batch.id)
      expect(done.request_counts).toEqual({ total, completed: total, failed: 0 })
      // Never more batch generations at once than --batch-concurrency.
      expect(peakRunning(log.filter((g) => g.who === 'batch'))).toBe(most)
    })
  }

  it('with --batch-concurrency auto, spreads a batch over a pool: as many lines at once as its healthy engines have slots, fewer once one is out', async () => {
    const logs: Generation[][] = [[], [], []]
    const engines = logs.map((log) => new ScriptedEngine(timedScript(60, log), { parallel: 2 }))
    const pool = new EnginePool(
      engines.map((engine, i) => ({ id: `e${i}`, engine })),
      { routing: 'affinity', modelAliases: ['qwen3-vl-4b-instruct'], probeIntervalMs: 60_000 },
    )
    await pool.start()
    const pooled = await startBatchHarness({ engine: pool, concurrency: 'auto' })
    try {
      const { client } = pooled
      const lines = Array.from({ length: 60 }, (_, i) => requestLine(`line-${i}`, `batch ${i}`))
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' })
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      const all = () => logs.flat()
      await expect.poll(() => all().filter((g) => g.endedAt !== undefined).length, { interval: 5 }).toBeGreaterThanOrEqual(18)
      // Three engines of two slots: six lines at once, every engine busy.
      expect(peakRunning(all())).toBe(6)
      for (const log of logs) expect(log.length).toBeGreaterThan(0)

      // The third engine goes out: its slots leave the pool's capacity, and the batch follows.
      engines[2]!.currentState = { status: 'unavailable', message: 'gone' }
      await pool.probeAll()
      expect(pooled.admission.capacity).toBe(4)
      const outAt = performance.now()
      const done = await waitForBatch(client, batch.id)
      expect(done.request_counts).toEqual({ total: 60, completed: 60, failed: 0 })
      const later = all().filter((g) => g.startedAt > outAt)
      expect(later.length).toBeGreaterThan(0)
      expect(logs[2]!.filter((g) => g.startedAt > outAt)).toHaveLength(0)
      // Each line that started after it went out found at most four running, itself included.
      for (const start of later) expect(all().filter((g) => g.startedAt <= start.startedAt && (g.endedAt ?? Infinity) > start.startedAt).length).toBeLessThanOrEqual(4)
    } finally {
      await pooled.close({ removeData: true })
      await pool.close()
    }
  })

  it('with --batch-concurrency auto, starts a waiting batch as soon as an engine of an emptied pool is back', async () => {
    const log: Generation[] = []
    const engines = [0, 1].map(() => new ScriptedEngine(timedScript(20, log), { parallel: 2 }))
    const pool = new EnginePool(
      engines.map((engine, i) => ({ id: `e${i}`, engine })),
      { routing: 'affinity', modelAliases: ['qwen3-vl-4b-instruct'], probeIntervalMs: 60_000, breaker: { threshold: 2, openMs: 10, maxOpenMs: 10 } },
    )
    await pool.start()
    const pooled = await startBatchHarness({ engine: pool, concurrency: 'auto' })
    try {
      for (const engine of engines) engine.currentState = { status: 'unavailable', message: 'gone' }
      await pool.probeAll()
      expect(pooled.admission.capacity).toBe(0)
      const { client } = pooled
      const lines = Array.from({ length: 8 }, (_, i) => requestLine(`line-${i}`, `batch ${i}`))
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' })
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      await waitForBatch(client, batch.id, (b) => b.status === 'in_progress')
      await new Promise((r) => setTimeout(r, 50))
      expect(log).toHaveLength(0)
      engines[0]!.currentState = { status: 'ready' }
      await pool.probeAll()
      expect(pooled.admission.capacity).toBe(2)
      // No line was in flight to wake the runner: the capacity change itself must.
      const done = await waitForBatch(client, batch.id, undefined, 3000)
      expect(done.request_counts).toEqual({ total: 8, completed: 8, failed: 0 })
    } finally {
      await pooled.close({ removeData: true })
      await pool.close()
    }
  })
})

/** The most generations of `log` running at the same moment (one not ended yet still runs). */
function peakRunning(log: Generation[]): number {
  const events = log
    .flatMap((g) => [
      { t: g.startedAt, d: 1 },
      { t: g.endedAt ?? Infinity, d: -1 },
    ])
    .sort((a, b) => a.t - b.t || a.d - b.d)
  let running = 0
  let most = 0
  for (const event of events) {
    running += event.d
    most = Math.max(most, running)
  }
  return most
}
