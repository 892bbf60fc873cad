import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { EngineUnavailableError, InvalidImageError } from '../errors.js'
import type { ServerMetrics } from '../observability/server-metrics.js'
import type { ResponseCacheMode } from './response-cache.js'
import { endless, ScriptedEngine, words, type Script } from '../../../../test-support/scripted-engine.js'
import { parsePrometheusText, sample } from '../../../../test-support/prometheus-text.js'
import { testImage } from '@visto/testkit/images/test-images'
import { multipartForm } from '../../../../test-support/requests.js'
import { closeApp } from '../../../../test-support/close-app.js'

// The response cache through HTTP. The engine is scripted: what is tested is which
// requests reach it, not what it says.

let app: FastifyInstance | undefined
let metrics: ServerMetrics | undefined
afterEach(async () => {
  await closeApp(app)
  metrics?.close()
  app = undefined
})

const imageUrl = 'data:image/png;base64,iVBORw0KGgo='
const question = {
  model: 'qwen3-vl-4b-instruct',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: '请详细描述这张图片中的场景' },
        { type: 'image_url', image_url: { url: imageUrl } },
      ],
    },
  ],
  max_tokens: 64,
  temperature: 0,
}

async function setup(options: { engine?: ScriptedEngine; mode?: ResponseCacheMode; maxBytes?: number; parallel?: number } = {}) {
  const engine = options.engine ?? new ScriptedEngine(words(['Hello', ' world'], 'stop', 30))
  const config = serveConfig({
    parallel: options.parallel ?? 1,
    'max-queue': 4,
    'max-images': 2,
    'max-image-mb': 1,
    'body-limit-mb': 1,
    'response-cache-mb': (options.maxBytes ?? 1024 * 1024) / (1024 * 1024),
    'response-cache': options.mode ?? 'deterministic',
  })
  const decoded: string[] = []
  const composed = await composeServer(config, {
    engine,
    metrics: { processMetrics: false },
    prepareImage: async (url, where) => {
      decoded.push(url)
      if (url.includes('broken')) throw new InvalidImageError(`Invalid image data in ${where}: truncated JPEG`)
      return { data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64, imageTokens: 4, sourceFormat: 'png' }
    },
  })
  app = composed.app
  metrics = composed.metrics
  return { app, engine, decoded, responseCache: composed.responseCache, metrics }
}

const post = (body: unknown, headers: Record<string, string> = {}) => app!.inject({ method: 'POST', url: '/v1/chat/completions', payload: body as object, headers })

function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter(Boolean)
    .map((event) => event.replace(/^data: /, ''))
}

/** Gate a script on a promise, to hold a generation open while the test does something. */
function gated(deltas: string[]): { script: Script; open: () => void } {
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  return {
    open,
    script: async function* () {
      yield { type: 'text', text: deltas[0]! }
      await gate
      for (const text of deltas.slice(1)) yield { type: 'text', text }
      yield { type: 'done', finishReason: 'stop', promptTokens: 30, completionTokens: deltas.length }
    },
  }
}

describe('response cache over HTTP', () => {
  it('answers an identical deterministic request from memory: same answer and usage, no engine call, no image decode', async () => {
    const { engine, decoded } = await setup()
    const first = await post(question)
    expect(first.statusCode).toBe(200)
    expect(first.headers['x-visto-cache']).toBe('miss')
    // Same request, different JSON key order and base64 line breaks.
    const again = {
      temperature: 0,
      max_tokens: 64,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '请详细描述这张图片中的场景' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K\nGgo=' } },
          ],
        },
      ],
      model: 'qwen3-vl-4b-instruct',
    }
    const second = await post(again)
    expect(second.statusCode).toBe(200)
    expect(second.headers['x-visto-cache']).toBe('hit')
    expect(second.json().choices).toEqual(first.json().choices)
    expect(second.json().usage).toEqual({ prompt_tokens: 30, completion_tokens: 2, total_tokens: 32 })
    expect(second.json().id).not.toBe(first.json().id)
    expect(engine.requests).toHaveLength(1)
    expect(decoded).toHaveLength(1)
  })

  it('replays a hit as a normal event stream, deltas in order, usage as computed originally', async () => {
    await setup()
    await post(question)
    const streamed = await post({ ...question, stream: true, stream_options: { include_usage: true } })
    expect(streamed.statusCode).toBe(200)
    expect(streamed.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(streamed.headers['x-visto-cache']).toBe('hit')
    const events = sseData(streamed.body)
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hello' }, { content: ' world' }, {}, undefined])
    expect(chunks[3].choices[0].finish_reason).toBe('stop')
    expect(chunks[4].usage).toEqual({ prompt_tokens: 30, completion_tokens: 2, total_tokens: 32 })
  })

  it('stores what a stream generated, for later plain requests', async () => {
    const { engine } = await setup()
    const streamed = await post({ ...question, stream: true })
    expect(streamed.headers['x-visto-cache']).toBe('miss')
    const plain = await post(question)
    expect(plain.headers['x-visto-cache']).toBe('hit')
    expect(plain.json().choices[0].message.content).toBe('Hello world')
    expect(engine.requests).toHaveLength(1)
  })

  it('answers a repeated upload to /v1/images/describe from memory, keyed by its bytes as if sent inline', async () => {
    const { engine } = await setup()
    const jpeg = await testImage(64, 48, 'jpeg')
    const upload = (data: Buffer) =>
      app!.inject({
        method: 'POST',
        url: '/v1/images/describe',
        ...multipartForm([
          { name: 'image', filename: 'a.jpg', data },
          { name: 'prompt', value: 'What is this?' },
          { name: 'temperature', value: '0' },
        ]),
      })
    const first = await upload(jpeg)
    expect([first.statusCode, first.headers['x-visto-cache']]).toEqual([200, 'miss'])
    const again = await upload(jpeg)
    expect([again.statusCode, again.headers['x-visto-cache']]).toEqual([200, 'hit'])
    expect(again.json().choices).toEqual(first.json().choices)
    expect(engine.requests).toHaveLength(1)
    // The hit decoded nothing: the upload was decoded once, for the miss.
    const scraped = parsePrometheusText((await app!.inject({ method: 'GET', url: '/metrics' })).body)
    expect(sample(scraped, 'visto_images_total', { format: 'jpeg' })).toBe(1)
    expect((await upload(await testImage(64, 49, 'jpeg'))).headers['x-visto-cache']).toBe('miss')
    const inline = await post({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } },
          ],
        },
      ],
      temperature: 0,
    })
    expect(inline.headers['x-visto-cache']).toBe('hit')
    expect(engine.requests).toHaveLength(2)
  })

  it('needs neither an engine slot nor a ready engine for a hit', async () => {
    const { engine } = await setup()
    await post(question)
    engine.script = endless(10)
    const url = await app!.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const busy = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...question, messages: [{ role: 'user', content: 'other' }], stream: true }),
      headers: { 'content-type': 'application/json' },
      signal: controller.signal,
    })
    expect(busy.status).toBe(200)
    engine.currentState = { status: 'loading', progress: 0.5, message: 'loading' }
    const hit = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(question), headers: { 'content-type': 'application/json' } })
    expect(hit.status).toBe(200)
    expect(hit.headers.get('x-visto-cache')).toBe('hit')
    controller.abort()
  })

  it('does not cache sampled requests by default, and does with --response-cache all', async () => {
    const { engine } = await setup()
    const sampled = { ...question, temperature: 0.7 }
    expect((await post(sampled)).headers['x-visto-cache']).toBe('miss')
    expect((await post(sampled)).headers['x-visto-cache']).toBe('miss')
    expect(engine.requests).toHaveLength(2)
    // An explicit seed makes a sampled answer reproducible, so it is cached.
    await post({ ...sampled, seed: 7 })
    expect((await post({ ...sampled, seed: 7 })).headers['x-visto-cache']).toBe('hit')
    await closeApp(app)
    const all = await setup({ mode: 'all' })
    await post(sampled)
    expect((await post(sampled)).headers['x-visto-cache']).toBe('hit')
    expect(all.engine.requests).toHaveLength(1)
  })

  it('recomputes on Cache-Control: no-cache (and keeps the fresh answer); no-store neither reads nor writes', async () => {
    const { engine } = await setup()
    await post(question)
    engine.script = words(['Fresh'])
    const refreshed = await post(question, { 'cache-control': 'no-cache' })
    expect(refreshed.headers['x-visto-cache']).toBe('miss')
    expect(refreshed.json().choices[0].message.content).toBe('Fresh')
    expect((await post(question)).json().choices[0].message.content).toBe('Fresh')
    engine.script = words(['Unstored'])
    const other = { ...question, max_tokens: 5 }
    expect((await post(other, { 'cache-control': 'no-store' })).json().choices[0].message.content).toBe('Unstored')
    expect((await post(other)).headers['x-visto-cache']).toBe('miss')
    expect(engine.requests).toHaveLength(4)
  })

  it('stores nothing for a request that failed, before or during generation', async () => {
    const failing = new ScriptedEngine(async function* () {
      yield { type: 'text', text: 'partial' }
      throw new EngineUnavailableError('The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.')
    })
    const { engine, responseCache } = await setup({ engine: failing })
    expect((await post(question)).statusCode).toBe(503)
    const streamed = await post({ ...question, stream: true })
    expect(sseData(streamed.body).some((e) => e.includes('"error"'))).toBe(true)
    const badImage = await post({ ...question, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,broken0=' } }] }] })
    expect(badImage.statusCode).toBe(400)
    expect(responseCache.size).toBe(0)
    engine.script = words(['ok'])
    expect((await post(question)).headers['x-visto-cache']).toBe('miss')
    expect(responseCache.size).toBe(1)
  })

  it('stores nothing for a request whose client went away, even if the engine then finishes', async () => {
    const { script, open } = gated(['one', ' two'])
    const { engine, responseCache } = await setup({ engine: new ScriptedEngine(script) })
    const url = await app!.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...question, stream: true }),
      headers: { 'content-type': 'application/json' },
      signal: controller.signal,
    })
    const reader = response.body!.getReader()
    await reader.read()
    controller.abort()
    await expect.poll(() => engine.aborted).toBe(1)
    open()
    await new Promise((r) => setTimeout(r, 50))
    expect(responseCache.size).toBe(0)
    engine.script = words(['ok'])
    const next = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(question), headers: { 'content-type': 'application/json' } })
    expect(next.headers.get('x-visto-cache')).toBe('miss')
  })

  it('says nothing about caching when the cache is off', async () => {
    await setup({ maxBytes: 0 })
    expect((await post(question)).headers['x-visto-cache']).toBeUndefined()
  })

  it('moves the cache counters a scrape reports', async () => {
    const { responseCache } = await setup()
    const scrape = async () => parsePrometheusText((await app!.inject({ method: 'GET', url: '/metrics' })).body)
    const before = await scrape()
    await post(question)
    await post(question)
    await post(question, { 'cache-control': 'no-cache' })
    const after = await scrape()
    expect(sample(after, 'visto_response_cache_misses_total') - sample(before, 'visto_response_cache_misses_total')).toBe(1)
    expect(sample(after, 'visto_response_cache_hits_total') - sample(before, 'visto_response_cache_hits_total')).toBe(1)
    expect(sample(after, 'visto_response_cache_bypasses_total')).toBe(1)
    expect(sample(after, 'visto_response_cache_entries')).toBe(1)
    expect(sample(after, 'visto_response_cache_bytes')).toBe(responseCache.bytes)
    expect(sample(after, 'visto_response_cache_bytes')).toBeGreaterThan(0)
    expect(sample(after, 'visto_response_cache_capacity_bytes')).toBe(1024 * 1024)
  })
})
