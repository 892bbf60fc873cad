import { describe, expect, it } from 'vitest'
import { ScriptedEngine, throwing, words, type Script } from '../../../../../test-support/scripted-engine.js'
import { EngineUnavailableError, InvalidRequestError } from '../../errors.js'
import type { EngineEvent, EngineRequest } from '../engine.js'
import { EnginePool, type EnginePoolOptions } from './engine-pool.js'
import { routingKey } from './routing-key.js'
import { rendezvousOrder } from './routing-policy.js'

const request = (messages: EngineRequest['messages'], model = 'qwen3-vl-4b-instruct'): EngineRequest => ({
  model,
  messages,
  requestId: 'req-1',
  sampling: { maxTokens: 8 },
})
const withImage = (bytes: string) =>
  request([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What?' },
        { type: 'image', image: { data: Buffer.from(bytes), mime: 'image/png', width: 32, height: 32 } },
      ],
    },
  ])
const textOnly = request([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }])

async function collect(events: AsyncIterable<EngineEvent>): Promise<EngineEvent[]> {
  const out: EngineEvent[] = []
  for await (const event of events) out.push(event)
  return out
}

function pool(count: number, options: Partial<EnginePoolOptions> = {}, slots = 2) {
  const engines = Array.from({ length: count }, () => new ScriptedEngine(words(['ok']), { parallel: slots }))
  const p = new EnginePool(
    engines.map((engine, i) => ({ id: `e${i}`, engine })),
    { routing: 'affinity', modelAliases: ['qwen3-vl-4b-instruct'], probeIntervalMs: 60_000, breaker: { threshold: 2, openMs: 1000, maxOpenMs: 4000 }, ...options },
  )
  return { pool: p, engines }
}

const failing: Script = throwing(() => new EngineUnavailableError('connection refused'))

describe('the engine pool', () => {
  it('sends the same image to one engine every time', async () => {
    const { pool: p, engines } = pool(3)
    await p.start()
    for (let i = 0; i < 10; i++) await collect(p.generate(withImage('photo'), new AbortController().signal))
    expect(engines.map((e) => e.requests.length).sort()).toEqual([0, 0, 10])
    expect(p.poolStatus().reduce((n, m) => n + m.affinityHits, 0)).toBe(10)
    await p.close()
  })

  it('retries a request that failed before any text on the next engine, and takes an engine out after repeated failures', async () => {
    const { pool: p, engines } = pool(3)
    await p.start()
    // Find the image's engine, then make it fail.
    await collect(p.generate(withImage('photo'), new AbortController().signal))
    const owner = engines.findIndex((e) => e.requests.length === 1)
    engines[owner]!.script = failing
    for (let i = 0; i < 2; i++) {
      const events = await collect(p.generate(withImage('photo'), new AbortController().signal))
      expect(events.map((e) => e.type)).toEqual(['accepted', 'text', 'done'])
    }
    const status = p.poolStatus()
    expect(status[owner]).toMatchObject({ state: 'open', failures: 2, ejections: 1 })
    expect(status.reduce((n, m) => n + m.retries, 0)).toBe(2)
    // Out of the pool now: its slots no longer count, and it gets nothing.
    expect(p.describe().parallel).toBe(4)
    const before = engines[owner]!.requests.length
    await collect(p.generate(withImage('photo'), new AbortController().signal))
    expect(engines[owner]!.requests.length).toBe(before)
    await p.close()
  })

  it('starts a non-streamed answer over on the next engine even after text, saying so with a restart event', async () => {
    const { pool: p, engines } = pool(2)
    await p.start()
    const dying: Script = async function* () {
      yield { type: 'accepted' }
      yield { type: 'text', text: 'half' }
      throw new EngineUnavailableError('died')
    }
    await collect(p.generate(withImage('photo'), new AbortController().signal))
    const owner = engines.findIndex((e) => e.requests.length === 1)
    engines[owner]!.script = dying
    const events = await collect(p.generate({ ...withImage('photo'), restartable: true }, new AbortController().signal))
    expect(events.map((e) => (e.type === 'text' ? e.text : e.type))).toEqual(['accepted', 'half', 'restart', 'ok', 'done'])
    await p.close()
  })

  it('does not retry once text has gone out, nor a request the engine refused', async () => {
    const { pool: p, engines } = pool(2)
    await p.start()
    for (const engine of engines) {
      engine.script = async function* () {
        yield { type: 'accepted' }
        yield { type: 'text', text: 'half' }
        throw new EngineUnavailableError('died')
      }
    }
    await expect(collect(p.generate(textOnly, new AbortController().signal))).rejects.toThrow('died')
    for (const engine of engines) {
      engine.script = throwing(() => new InvalidRequestError('bad schema'))
    }
    await expect(collect(p.generate(textOnly, new AbortController().signal))).rejects.toThrow('bad schema')
    expect(engines.reduce((n, e) => n + e.requests.length, 0)).toBe(2)
    expect(p.poolStatus().every((m) => m.state === 'closed')).toBe(true)
    await p.close()
  })

  it('answers 503 with Retry-After when every engine is out, and puts an engine back when its probe passes', async () => {
    let now = 0
    const { pool: p, engines } = pool(2, { now: () => now })
    const capacities: number[] = []
    p.watchCapacity((c) => capacities.push(c))
    await p.start()
    for (const engine of engines) engine.currentState = { status: 'unavailable', message: 'gone' }
    await p.probeAll()
    expect(p.state().status).toBe('unavailable')
    const error = await p.health().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(EngineUnavailableError)
    expect((error as EngineUnavailableError).status).toBe(503)
    expect((error as EngineUnavailableError).headers['retry-after']).toBe('1')
    expect((error as Error).message).toBe(
      'No engine can take the request: all 2 engines are out (e0: The model is not ready: loading.; e1: The model is not ready: loading.). Retry shortly.',
    )
    engines[1]!.currentState = { status: 'ready' }
    await p.probeAll()
    expect(p.poolStatus()[1]!.state).toBe('open')
    now = 1000
    await p.probeAll()
    expect(p.poolStatus()[1]!.state).toBe('half-open')
    expect(p.state().status).toBe('ready')
    await p.probeAll()
    expect(p.poolStatus()[1]!.state).toBe('closed')
    expect(capacities).toEqual([2, 4, 0, 2])
    await p.close()
  })

  it('spreads text-only first questions by load', async () => {
    const { pool: p, engines } = pool(4)
    await p.start()
    const hold: Array<() => void> = []
    for (const engine of engines) {
      engine.script = async function* () {
        yield { type: 'accepted' }
        await new Promise<void>((resolve) => hold.push(resolve))
        yield { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 0 }
      }
    }
    const running = Array.from({ length: 8 }, () => collect(p.generate(textOnly, new AbortController().signal)))
    await new Promise((r) => setTimeout(r, 10))
    const loads = p.poolStatus().map((m) => m.inFlight)
    expect(Math.max(...loads)).toBeLessThanOrEqual(3)
    for (const release of hold) release()
    await Promise.all(running)
    await p.close()
  })

  it('sends a busy engine’s image to the engine that encoded it before, not to the next idle one in hash order', async () => {
    // One slot each: an engine takes at most 2 requests' worth of work (an image to encode counts 2).
    const { pool: p, engines } = pool(3, {}, 1)
    await p.start()
    const held: Array<() => void> = []
    for (const engine of engines) {
      engine.script = async function* () {
        yield { type: 'accepted' }
        await new Promise<void>((resolve) => held.push(resolve))
        yield { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 0 }
      }
    }
    const ids = ['e0', 'e1', 'e2']
    const order = rendezvousOrder(routingKey(withImage('photo'))!, ids)
    // Another image whose own engine is the photo's second in hash order.
    const other = Array.from({ length: 100 }, (_, i) => `other-${i}`).find((name) => rendezvousOrder(routingKey(withImage(name))!, ids)[0] === order[1])!
    const running: Array<Promise<EngineEvent[]>> = []
    const send = async (name: string): Promise<void> => {
      running.push(collect(p.generate(withImage(name), new AbortController().signal)))
      await new Promise((r) => setTimeout(r, 10))
    }
    const releaseAll = async (): Promise<void> => {
      while (held.length > 0) held.shift()!()
      await Promise.all(running.splice(0))
    }
    await send('photo')
    await send(other)
    // The photo's engine is busy encoding it and the second is busy too: the third encodes the photo as well.
    await send('photo')
    expect(engines.map((e) => e.requests.length)).toEqual([1, 1, 1])
    await releaseAll()
    const before = engines.map((e) => e.requests.length)
    // Two follow-ups fill the photo's engine; the third goes to the other engine holding it, though the second in hash order is idle.
    for (let i = 0; i < 3; i++) await send('photo')
    const moved = engines.map((e, i) => e.requests.length - before[i]!)
    expect(moved[ids.indexOf(order[0]!)]).toBe(2)
    expect(moved[ids.indexOf(order[2]!)]).toBe(1)
    expect(moved[ids.indexOf(order[1]!)]).toBe(0)
    expect(p.poolStatus().find((m) => m.id === order[0])!.affinitySpills).toBe(2)
    await releaseAll()
    await p.close()
  })

  it('sends a follow-up back to the engine that answered its conversation, though the photo’s own engine is idle, until that engine fails', async () => {
    const { pool: p, engines } = pool(3, {}, 1)
    await p.start()
    const held: Array<() => void> = []
    const holding: Script = async function* () {
      yield { type: 'accepted' }
      await new Promise<void>((resolve) => held.push(resolve))
      yield { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 0 }
    }
    for (const engine of engines) engine.script = holding
    const ids = ['e0', 'e1', 'e2']
    const order = rendezvousOrder(routingKey(withImage('photo'))!, ids)
    const at = (id: string) => engines[ids.indexOf(id)]!
    const photo = { type: 'image' as const, image: { data: Buffer.from('photo'), mime: 'image/png', width: 32, height: 32 } }
    const opening = { role: 'user' as const, content: [photo, { type: 'text' as const, text: 'Count them.' }] }
    const followUp = (n: number) =>
      request([opening, { role: 'assistant', content: [{ type: 'text', text: 'Three.' }] }, { role: 'user', content: [{ type: 'text', text: `And ${n}?` }] }])
    // The photo's engine is busy encoding it for one conversation, so another conversation's first turn goes elsewhere.
    const first = collect(p.generate(withImage('photo'), new AbortController().signal))
    await new Promise((r) => setTimeout(r, 10))
    const opened = collect(p.generate(request([opening]), new AbortController().signal))
    await new Promise((r) => setTimeout(r, 10))
    expect([at(order[0]!).requests.length, at(order[1]!).requests.length]).toEqual([1, 1])
    while (held.length > 0) held.shift()!()
    await Promise.all([first, opened])
    for (const engine of engines) engine.script = words(['ok'])
    // Everything idle now: the follow-ups still go where their conversation's KV cache is.
    for (let n = 0; n < 3; n++) await collect(p.generate(followUp(n), new AbortController().signal))
    expect([at(order[0]!).requests.length, at(order[1]!).requests.length]).toEqual([1, 4])
    // That engine fails once: the retry answers elsewhere, and the conversation follows the engine that answered.
    at(order[1]!).script = failing
    const counts = () => engines.map((e) => e.requests.length)
    const beforeFailure = counts()
    expect((await collect(p.generate(followUp(3), new AbortController().signal))).map((e) => e.type)).toEqual(['accepted', 'text', 'done'])
    const answeredBy = ids.filter((id, i) => id !== order[1] && counts()[i]! > beforeFailure[i]!)
    expect(answeredBy).toHaveLength(1)
    at(order[1]!).script = words(['ok'])
    await collect(p.generate(followUp(4), new AbortController().signal))
    expect(at(answeredBy[0]!).requests.length - beforeFailure[ids.indexOf(answeredBy[0]!)]!).toBe(2)
    expect(at(order[1]!).requests.length).toBe(5)
    await p.close()
  })

  it('sends the follow-up of a first text-only question, which went by load, to the engine that answered it', async () => {
    const opening = { role: 'user' as const, content: [{ type: 'text' as const, text: 'Tell me about Lisbon.' }] }
    const followUp = (n: number) =>
      request([opening, { role: 'assistant', content: [{ type: 'text', text: 'A city.' }] }, { role: 'user', content: [{ type: 'text', text: `More ${n}?` }] }])
    // Power-of-two-choices samples an engine other than the one the conversation's prefix hashes to.
    const ids = Array.from({ length: 8 }, (_, i) => `e${i}`)
    const byPrefix = ids.indexOf(rendezvousOrder(routingKey(followUp(0))!, ids)[0]!)
    const sampled = (byPrefix + 3) % 8
    const { pool: p, engines } = pool(8, { random: () => (sampled + 0.5) / 8 })
    await p.start()
    await collect(p.generate(request([opening]), new AbortController().signal))
    expect(engines[sampled]!.requests).toHaveLength(1)
    for (let n = 0; n < 5; n++) await collect(p.generate(followUp(n), new AbortController().signal))
    expect(engines.map((e) => e.requests.length)).toEqual(engines.map((_, i) => (i === sampled ? 6 : 0)))
    await p.close()
  })

  it('sizes its mirror of each engine’s embedding cache by what the engine says, else by the assumed size', async () => {
    const photoBytes = 40.5 * 1024 * 1024
    const small = new ScriptedEngine(words(['ok']), { imageCacheBytes: 2 * photoBytes })
    const silent = new ScriptedEngine(words(['ok']))
    const p = new EnginePool(
      [
        { id: 'small', engine: small },
        { id: 'silent', engine: silent },
      ],
      { routing: 'affinity', modelAliases: ['qwen3-vl-4b-instruct'], cacheEntries: 7 },
    )
    await p.start()
    expect(p.poolStatus().map((m) => [m.id, m.imageCacheEntries])).toEqual([
      ['small', 2],
      ['silent', 7],
    ])
    await p.close()
  })

  it('routes by model when its engines serve different ones', async () => {
    const a = Object.assign(new ScriptedEngine(words(['a'])), { servedModel: () => 'model-a' })
    const b = Object.assign(new ScriptedEngine(words(['b'])), { servedModel: () => 'model-b' })
    const p = new EnginePool(
      [
        { id: 'a', engine: a },
        { id: 'b', engine: b },
      ],
      { routing: 'affinity', modelAliases: ['default'] },
    )
    await p.start()
    expect(p.describe().models).toEqual(['default', 'model-a', 'model-b'])
    await collect(p.generate(request(textOnly.messages, 'model-b'), new AbortController().signal))
    await collect(p.generate(request(textOnly.messages, 'default'), new AbortController().signal))
    expect([a.requests.length, b.requests.length]).toEqual([1, 1])
    await p.close()
  })

  it('counts tokens on an engine of the request’s model without generating, when every engine can count', async () => {
    const counter = (model: string, prompt: number) =>
      Object.assign(new ScriptedEngine(words([model])), {
        servedModel: () => model,
        counted: 0,
        async countPromptTokens(this: { counted: number }) {
          this.counted++
          return prompt
        },
        async countTextTokens(texts: readonly string[]) {
          return texts.map((t) => t.length)
        },
      })
    const a = counter('model-a', 11)
    const b = counter('model-b', 22)
    const p = new EnginePool(
      [
        { id: 'a', engine: a },
        { id: 'b', engine: b },
      ],
      { routing: 'affinity', modelAliases: ['default'] },
    )
    await p.start()
    expect(await p.countPromptTokens!(request(textOnly.messages, 'model-b'), new AbortController().signal)).toBe(22)
    expect(await p.countPromptTokens!(request(textOnly.messages, 'default'), new AbortController().signal)).toBe(11)
    expect(await p.countTextTokens!(['abc', 'de'])).toEqual([3, 2])
    expect([a.counted, b.counted, a.requests.length, b.requests.length]).toEqual([1, 1, 0, 0])
    await p.close()
  })

  it('has no token counting when an engine cannot count or engines are discovered, so counting takes a slot', async () => {
    const { pool: plain } = pool(2)
    expect([plain.countPromptTokens, plain.countTextTokens]).toEqual([undefined, undefined])
    const counting = Object.assign(new ScriptedEngine(words(['x'])), { countPromptTokens: async () => 1, countTextTokens: async () => [1] })
    const discovered = new EnginePool([{ id: 'a', engine: counting }], {
      routing: 'affinity',
      modelAliases: ['default'],
      membership: { list: async () => [{ id: 'a', engine: counting }], intervalMs: 60_000 },
    })
    expect(discovered.countPromptTokens).toBeUndefined()
  })
})
