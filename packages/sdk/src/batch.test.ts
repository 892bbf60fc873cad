import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AbortError, BadRequestError, createClient, MemoryCache, type BatchProgress, type BatchItem } from './index.js'
import { apiError, completion, delayed, json, startScriptedServer, type Handler, type ScriptedServer } from '../../../test-support/scripted-server.js'

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

/** Answers "answer to <question>" after a delay chosen by the question, so items finish out of order. */
function echo(delays: Record<string, number> = {}, failing: string[] = []): Handler {
  return async (request, res) => {
    const content = request.json?.messages.at(-1)?.content
    const question = Array.isArray(content) ? (content.find((p) => p.type === 'text') as { text: string } | undefined)?.text : content
    await new Promise((resolve) => setTimeout(resolve, delays[question ?? ''] ?? 5))
    if (failing.includes(question ?? '')) return apiError(400, `cannot answer ${question}`)(request, res)
    return json(200, completion(`answer to ${question}`))(request, res)
  }
}

const items = (n: number): BatchItem[] => Array.from({ length: n }, (_, i) => ({ question: `q${i}`, id: `item-${i}` }))

describe('batch', () => {
  it('returns results in input order even when later items finish first', async () => {
    server.fallback = echo({ q0: 150, q1: 80, q2: 5, q3: 5, q4: 5 })
    const client = createClient({ baseURL: server.url })
    const finished: string[] = []
    const results = await client.batch(items(5), { onProgress: (_p, r) => finished.push(r.id!) })
    expect(results.map((r) => (r.ok ? r.value.text : r.error.message))).toEqual(['answer to q0', 'answer to q1', 'answer to q2', 'answer to q3', 'answer to q4'])
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4])
    expect(finished[0]).not.toBe('item-0')
  })

  it('keeps going when one item fails and reports that item’s error in its slot', async () => {
    server.fallback = echo({}, ['q2'])
    const client = createClient({ baseURL: server.url })
    const results = await client.batch(items(5))
    expect(results.filter((r) => r.ok)).toHaveLength(4)
    const failed = results[2]!
    expect(failed.ok).toBe(false)
    if (!failed.ok) {
      expect(failed.error).toBeInstanceOf(BadRequestError)
      expect(failed.error.message).toBe('400 cannot answer q2')
    }
  })

  it('runs at most three requests at a time by default, and the chosen concurrency otherwise', async () => {
    server.fallback = delayed(40, echo())
    const client = createClient({ baseURL: server.url })
    await client.batch(items(9))
    expect(server.maxInFlight).toBe(3)
    const wide = await startScriptedServer(delayed(40, echo()))
    try {
      await createClient({ baseURL: wide.url }).batch(items(9), { concurrency: 5 })
      expect(wide.maxInFlight).toBe(5)
    } finally {
      await wide.close()
    }
  })

  it('reports progress after every item with counts, rate and ETA', async () => {
    server.fallback = echo({}, ['q1'])
    const client = createClient({ baseURL: server.url })
    const seen: BatchProgress[] = []
    await client.batch(items(4), { concurrency: 1, onProgress: (p) => seen.push(p) })
    expect(seen.map((p) => [p.completed, p.succeeded, p.failed])).toEqual([
      [1, 1, 0],
      [2, 1, 1],
      [3, 2, 1],
      [4, 3, 1],
    ])
    expect(seen.at(-1)!.ratePerSecond).toBeGreaterThan(0)
    expect(seen.at(-1)!.etaMs).toBe(0)
  })

  it('answers repeated items from the batch cache and counts the hits', async () => {
    server.fallback = echo()
    const client = createClient({ baseURL: server.url })
    const cache = new MemoryCache()
    await client.batch(items(3), { cache })
    let last: BatchProgress | undefined
    const again = await client.batch(items(3), { cache, onProgress: (p) => (last = p) })
    expect(server.requests).toHaveLength(3)
    expect(again.every((r) => r.ok && r.value.cached)).toBe(true)
    expect(last?.cached).toBe(3)
  })

  it('stops starting new items when aborted and rejects with AbortError', async () => {
    server.fallback = delayed(50, echo())
    const client = createClient({ baseURL: server.url })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 80)
    await expect(client.batch(items(30), { signal: controller.signal })).rejects.toThrow(AbortError)
    expect(server.requests.length).toBeLessThan(10)
  })
})
