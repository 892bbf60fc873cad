import { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine, type Script } from '../../../../test-support/scripted-engine.js'
import { requestLine, startBatchHarness, waitForBatch, type BatchHarness } from '../../../../test-support/batch-harness.js'

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
  ]) {
    it(`an interactive request waits only for the batch generations already running (parallel ${parallel}, batch concurrency ${concurrency})`, async () => {
      const log: Generation[] = []
      harness = await startBatchHarness({ engine: new ScriptedEngine(timedScript(150, log)), parallel, concurrency })
      const { client } = harness
      const lines = Array.from({ length: 12 }, (_, i) => requestLine(`line-${i}`, `batch ${i}`))
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' })
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      await expect.poll(() => log.filter((g) => g.who === 'batch').length, { interval: 5 }).toBeGreaterThanOrEqual(concurrency + 1)

      const sentAt = performance.now()
      const runningAtArrival = log.filter((g) => g.who === 'batch' && g.endedAt === undefined).length
      const answer = await client.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'interactive question' }] })
      expect(answer.choices[0]!.message.content).toBe('ok')
      const interactive = log.find((g) => g.who === 'interactive')!
      const batchStartsWhileWaiting = log.filter((g) => g.who === 'batch' && g.startedAt > sentAt && g.startedAt < interactive.startedAt)
      expect(runningAtArrival).toBeLessThanOrEqual(concurrency)
      // Between the client sending and the server reading the request, a freed slot can
      // still go to a batch line (the server cannot prefer a request it has not seen); once
      // the request is in admission, none can. So at most one such start.
      expect(batchStartsWhileWaiting.length).toBeLessThanOrEqual(1)
      // It took the first slot a batch generation gave back: at most one ended while it waited.
      const batchEndsWhileWaiting = log.filter((g) => g.who === 'batch' && g.endedAt !== undefined && g.endedAt > sentAt && g.endedAt <= interactive.startedAt)
      expect(batchEndsWhileWaiting.length).toBeLessThanOrEqual(1)

      const done = await waitForBatch(client, batch.id)
      expect(done.request_counts).toEqual({ total: 12, completed: 12, failed: 0 })
      // Never more batch generations at once than --batch-concurrency.
      const events = log.filter((g) => g.who === 'batch').flatMap((g) => [{ t: g.startedAt, d: 1 }, { t: g.endedAt!, d: -1 }]).sort((a, b) => a.t - b.t || a.d - b.d)
      let running = 0
      let most = 0
      for (const event of events) {
        running += event.d
        most = Math.max(most, running)
      }
      expect(most).toBe(concurrency)
    })
  }
})
