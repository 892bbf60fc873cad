import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { fuzzSeeds } from '@visto/testkit/images/fuzz-seeds'
import { createRandom, fuzzCase } from '@visto/testkit/images/image-fuzz'
import * as fixtures from '@visto/testkit/images/test-images'
import { endless, ScriptedEngine, throwing, words, type Script } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { EngineEvent, TokenLogprob } from '../engines/engine.js'
import { ContextLengthExceededError, EngineUnavailableError } from '../errors.js'
import { closeApp } from '../../../../test-support/close-app.js'

// Ollama's API over HTTP with a scripted engine: how requests become jobs and answers
// become Ollama's objects, streams and errors. The real engine and the official `ollama`
// client are in e2e/ollama-api.test.ts.

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(script?: Script, options: Record<string, number | string> = {}) {
  const engine = new ScriptedEngine(script)
  app = (await composeServer(serveConfig({ parallel: 1, 'max-image-mb': 2, ...options }), { engine, metrics: { processMetrics: false } })).app
  return engine
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  app!.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) })
const lines = (body: string) =>
  body
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)

function scripted(events: EngineEvent[]): Script {
  return async function* () {
    yield* events
  }
}

const model = 'qwen3-vl-4b-instruct:latest'
const stats = {
  total_duration: expect.any(Number),
  load_duration: expect.any(Number),
  prompt_eval_count: 20,
  prompt_eval_duration: expect.any(Number),
  eval_count: 2,
  eval_duration: expect.any(Number),
}
const isoTime = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

describe('POST /api/chat', () => {
  it('answers one object with the message, done_reason and statistics in nanoseconds', async () => {
    const engine = await setup()
    const png = (await fixtures.testImage(64, 48)).toString('base64')
    const response = await post('/api/chat', {
      model,
      messages: [{ role: 'user', content: 'What is it?', images: [png] }],
      stream: false,
      options: { temperature: 0, num_predict: 16 },
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    const body = response.json()
    expect(body).toEqual({ model, created_at: isoTime, message: { role: 'assistant', content: 'Hello world' }, done: true, done_reason: 'stop', ...stats })
    // The phases add up to the whole (each rounded to a nanosecond).
    expect(Math.abs(body.total_duration - body.load_duration - body.prompt_eval_duration - body.eval_duration)).toBeLessThanOrEqual(3)
    const request = engine.requests[0]!
    expect(request.model).toBe('qwen3-vl-4b-instruct')
    expect(request.sampling).toMatchObject({ temperature: 0, maxTokens: 16 })
    expect(request.messages[0]!.content.map((part) => part.type)).toEqual(['image', 'text'])
  })

  it('streams NDJSON by default: a line per piece of text, then the statistics', async () => {
    await setup()
    const response = await post('/api/chat', { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Hi' }] })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('application/x-ndjson')
    expect(response.body.endsWith('\n')).toBe(true)
    expect(lines(response.body)).toEqual([
      { model: 'qwen3-vl-4b-instruct', created_at: isoTime, message: { role: 'assistant', content: 'Hello' }, done: false },
      { model: 'qwen3-vl-4b-instruct', created_at: isoTime, message: { role: 'assistant', content: ' world' }, done: false },
      { model: 'qwen3-vl-4b-instruct', created_at: isoTime, message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', ...stats },
    ])
  })

  it('returns tool calls with their arguments as objects, streamed as a line per whole call', async () => {
    const events: EngineEvent[] = [
      { type: 'accepted' },
      { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' },
      { type: 'tool_call_arguments', index: 0, text: '{"city":' },
      { type: 'tool_call_arguments', index: 0, text: '"Oslo"}' },
      { type: 'tool_call', index: 1, id: 'call_b', name: 'get_weather' },
      { type: 'tool_call_arguments', index: 1, text: '{"city":"Lima"}' },
      { type: 'done', finishReason: 'tool_calls', promptTokens: 20, completionTokens: 2 },
    ]
    const engine = await setup(scripted(events))
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]
    const ask = { model, messages: [{ role: 'user', content: 'Weather?' }], tools }
    const whole = await post('/api/chat', { ...ask, stream: false })
    expect(whole.json()).toEqual({
      model,
      created_at: isoTime,
      message: {
        role: 'assistant',
        content: '',
        tool_calls: [
          { id: 'call_a', function: { index: 0, name: 'get_weather', arguments: { city: 'Oslo' } } },
          { id: 'call_b', function: { index: 1, name: 'get_weather', arguments: { city: 'Lima' } } },
        ],
      },
      done: true,
      done_reason: 'stop',
      ...stats,
    })
    expect(engine.requests[0]!.tools).toEqual({ functions: [tools[0]!.function], choice: 'auto', parallel: true })
    const streamed = lines((await post('/api/chat', ask, { 'cache-control': 'no-store' })).body)
    expect(streamed.map((line) => [line.message, line.done])).toEqual([
      [{ role: 'assistant', content: '', tool_calls: [{ id: 'call_a', function: { index: 0, name: 'get_weather', arguments: { city: 'Oslo' } } }] }, false],
      [{ role: 'assistant', content: '', tool_calls: [{ id: 'call_b', function: { index: 1, name: 'get_weather', arguments: { city: 'Lima' } } }] }, false],
      [{ role: 'assistant', content: '' }, true],
    ])
  })

  it('carries logprobs with the text they scored', async () => {
    const token = (text: string, logprob: number): TokenLogprob => ({
      token: text,
      logprob,
      bytes: [...Buffer.from(text)],
      top: [{ token: text, logprob, bytes: [...Buffer.from(text)] }],
    })
    const engine = await setup(
      scripted([
        { type: 'accepted' },
        { type: 'logprobs', tokens: [token('Hi', -0.5)] },
        { type: 'text', text: 'Hi' },
        { type: 'done', finishReason: 'length', promptTokens: 20, completionTokens: 1 },
      ]),
    )
    const streamed = lines((await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 1 })).body)
    expect(streamed[0]).toMatchObject({
      message: { content: 'Hi' },
      logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105] }] }],
      done: false,
    })
    expect(streamed[1]).toMatchObject({ done: true, done_reason: 'length', eval_count: 1 })
    expect(engine.requests[0]!.sampling.logprobs).toBe(1)
  })

  it('constrains the output for format "json" and for a schema', async () => {
    const engine = await setup()
    const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }
    await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }], format: 'json', stream: false })
    await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }], format: schema, stream: false })
    expect(engine.requests.map((r) => r.sampling.jsonSchema)).toEqual([{ type: 'object' }, schema])
  })

  it("answers Ollama's load call (no messages) without the engine, and 503 while the model loads", async () => {
    const engine = await setup()
    const loaded = await post('/api/chat', { model, keep_alive: -1 })
    expect(loaded.statusCode).toBe(200)
    expect(loaded.json()).toEqual({ model, created_at: isoTime, message: { role: 'assistant', content: '' }, done: true, done_reason: 'load' })
    expect(engine.requests).toHaveLength(0)
    engine.currentState = { status: 'loading', progress: 0.3, message: 'loading' }
    const loading = await post('/api/chat', { model, messages: [] })
    expect(loading.statusCode).toBe(503)
    expect(loading.headers['retry-after']).toBe('5')
    expect(loading.json()).toEqual({ error: 'The model is not ready: loading.' })
  })
})

describe('Ollama\'s errors: {"error": message} with the status', () => {
  it.each([
    [
      'an unknown model',
      { model: 'llama3.2', messages: [{ role: 'user', content: 'x' }] },
      404,
      'model "llama3.2" not found: this server serves qwen3-vl-4b-instruct:latest (Visto cannot pull models)',
    ],
    ['no model', { messages: [{ role: 'user', content: 'x' }] }, 400, 'model is required'],
    ['messages that are not a list', { model, messages: { role: 'user', content: 'x' } }, 400, 'messages must be an array of {role, content}, got an object'],
    ['messages without a user message', { model, messages: [{ role: 'assistant', content: 'x' }] }, 400, 'messages must contain at least one user message'],
    [
      'a bad image',
      { model, messages: [{ role: 'user', content: 'x', images: ['bm90IGFuIGltYWdl'] }] },
      400,
      'Invalid image data in messages[0].images[0]: unsupported image format: plain text; send JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC or BMP',
    ],
    ['think: true', { model, messages: [{ role: 'user', content: 'x' }], think: true }, 400, `"${model}" does not support thinking`],
  ])('POST /api/chat with %s', async (_label, body, status, error) => {
    const engine = await setup()
    const response = await post('/api/chat', body)
    expect(response.statusCode).toBe(status)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(response.json()).toEqual({ error })
    expect(engine.requests).toHaveLength(0)
  })

  it('answers a body that is not JSON, and one over the limit, in the same shape', async () => {
    await setup(undefined, { 'body-limit-mb': 1 })
    const broken = await post('/api/generate', '{"model": "x", "prompt": ')
    expect(broken.statusCode).toBe(400)
    expect(broken.json()).toEqual({ error: expect.stringMatching(/^The request body is not valid JSON: /) })
    const big = await post('/api/chat', { model, messages: [{ role: 'user', content: 'x'.repeat(1_200_000) }] })
    expect(big.statusCode).toBe(413)
    expect(big.json()).toEqual({ error: 'Request body too large: the limit is 1 MiB (--body-limit-mb). Send smaller or fewer images.' })
  })

  it('refuses a streamed request the engine rejects at once with a plain HTTP error, before any line', async () => {
    await setup(throwing(() => new ContextLengthExceededError('The prompt is 9000 tokens, the context window is 4096')))
    const response = await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }] })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ error: 'The prompt is 9000 tokens, the context window is 4096' })
  })

  it('ends a stream that fails after its first line with an error line', async () => {
    await setup(async function* () {
      yield { type: 'accepted' }
      yield { type: 'text', text: 'Hel' }
      throw new EngineUnavailableError('The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.')
    })
    const response = await post('/api/generate', { model, prompt: 'x' })
    expect(response.statusCode).toBe(200)
    expect(lines(response.body)).toEqual([
      { model, created_at: isoTime, response: 'Hel', done: false },
      { error: 'The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.' },
    ])
  })

  it("answers the API key's refusal in Ollama's shape, and accepts the key as a Bearer token", async () => {
    await setup(undefined, { 'api-key': 'sk-ollama-test' })
    const refused = await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }], stream: false })
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toEqual({ error: 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".' })
    const tags = await app!.inject({ method: 'GET', url: '/api/tags' })
    expect(tags.statusCode).toBe(401)
    const answered = await post('/api/chat', { model, messages: [{ role: 'user', content: 'x' }], stream: false }, { authorization: 'Bearer sk-ollama-test' })
    expect(answered.statusCode).toBe(200)
  })

  it("answers a browser's preflight for Ollama's routes as for any other", async () => {
    await setup(undefined, { 'cors-origins': 'http://app.example.test' })
    const preflight = await app!.inject({ method: 'OPTIONS', url: '/api/chat', headers: { origin: 'http://app.example.test', 'access-control-request-method': 'POST' } })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('http://app.example.test')
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, POST, DELETE, OPTIONS')
  })

  it("answers Ollama's routes that Visto does not serve with a 404 naming those it does", async () => {
    await setup()
    for (const [method, url] of [
      ['POST', '/api/pull'],
      ['POST', '/api/embed'],
      ['DELETE', '/api/delete'],
      ['GET', '/api/chat'],
    ] as const) {
      const response = await app!.inject({ method, url, payload: method === 'GET' ? undefined : { model } })
      expect(response.statusCode, url).toBe(404)
      expect(response.json()).toEqual({
        error: `Visto does not serve ${method} ${url} of Ollama's API; it serves POST /api/chat, POST /api/generate, GET /api/tags, POST /api/show, GET /api/ps and GET /api/version`,
      })
    }
  })
})

describe("Ollama's stream on the wire", () => {
  it('carries the CORS headers of an allowed origin, and stops the generation when the client goes', async () => {
    const engine = new ScriptedEngine(endless(5))
    const composed = await composeServer(serveConfig({ parallel: 1, 'cors-origins': 'http://app.example.test' }), { engine, metrics: { processMetrics: false } })
    app = composed.app
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const response = await fetch(`${url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://app.example.test' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Go on.' }] }),
      signal: controller.signal,
    })
    expect(response.headers.get('content-type')).toBe('application/x-ndjson')
    expect(response.headers.get('access-control-allow-origin')).toBe('http://app.example.test')
    expect(response.headers.get('x-request-id')).toMatch(/^req_/)
    const reader = response.body!.getReader()
    let received = ''
    while (received.split('\n').length < 4) received += new TextDecoder().decode((await reader.read()).value)
    expect(JSON.parse(received.split('\n')[0]!)).toMatchObject({ model, message: { role: 'assistant', content: 'x' }, done: false })
    controller.abort()
    for (let i = 0; i < 200 && (engine.aborted === 0 || composed.admission.running > 0); i++) await new Promise((r) => setTimeout(r, 10))
    expect([engine.aborted, composed.admission.running]).toEqual([1, 0])
  })
})

describe('POST /api/generate', () => {
  it('answers the prompt in `response`, with the system prompt first', async () => {
    const engine = await setup()
    const response = await post('/api/generate', { model, prompt: 'Describe.', system: 'Be short.', stream: false })
    expect(response.json()).toEqual({ model, created_at: isoTime, response: 'Hello world', done: true, done_reason: 'stop', ...stats })
    expect(engine.requests[0]!.messages.map((m) => [m.role, m.content])).toEqual([
      ['system', [{ type: 'text', text: 'Be short.' }]],
      ['user', [{ type: 'text', text: 'Describe.' }]],
    ])
  })

  it('streams by default', async () => {
    await setup(words(['a', 'b', 'c'], 'length'))
    const streamed = lines((await post('/api/generate', { model, prompt: 'x' })).body)
    expect(streamed.map((line) => [line.response, line.done, line.done_reason])).toEqual([
      ['a', false, undefined],
      ['b', false, undefined],
      ['c', false, undefined],
      ['', true, 'length'],
    ])
  })
})

describe('GET /api/tags, POST /api/show, GET /api/ps, GET /api/version', () => {
  it("lists, shows and reports the engine's models and the server's version", async () => {
    await setup()
    const tags = await app!.inject({ method: 'GET', url: '/api/tags' })
    expect(tags.json()).toEqual({
      models: [
        {
          name: model,
          model,
          modified_at: isoTime,
          size: 0,
          digest: expect.stringMatching(/^[0-9a-f]{64}$/),
          details: { parent_model: '', format: '', family: '', families: null, parameter_size: '', quantization_level: '' },
        },
      ],
    })
    const shown = await post('/api/show', { model: 'qwen3-vl-4b-instruct' })
    expect(shown.json()).toMatchObject({ capabilities: ['completion', 'vision', 'tools'], parameters: 'num_ctx 4096' })
    // Older clients send `name`.
    expect((await post('/api/show', { name: model })).statusCode).toBe(200)
    expect((await post('/api/show', { model: 'llava' })).json()).toEqual({
      error: 'model "llava" not found: this server serves qwen3-vl-4b-instruct:latest (Visto cannot pull models)',
    })
    expect((await post('/api/show', {})).json()).toEqual({ error: 'model is required' })
    const ps = await app!.inject({ method: 'GET', url: '/api/ps' })
    expect(ps.json().models.map((m: { name: string; context_length: number }) => [m.name, m.context_length])).toEqual([[model, 4096]])
    const version = await app!.inject({ method: 'GET', url: '/api/version' })
    const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
    expect(version.json()).toEqual({ version: packageVersion })
  })
})

describe("the HTTP fuzz of Ollama's routes", () => {
  it('survives hostile images and malformed bodies with zero 5xx, each refusal {"error": string}', async () => {
    await setup(undefined, { 'body-limit-mb': 8, 'max-images': 3 })
    const seeds = await fuzzSeeds()
    const random = createRandom(1111)
    const pick = <T>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!
    const junk = (): unknown =>
      pick<() => unknown>([
        () => null,
        () => 42,
        () => 'x',
        () => [],
        () => ({}),
        () => [{}],
        () => true,
        () => -1,
        () => [null],
        () => ({ nested: { deep: [] } }),
        () => 'json',
        () => 1e308,
      ])()
    const good = (): Record<string, unknown> => ({
      model,
      messages: [{ role: 'user', content: 'hi', images: [fixtures.dataUrl(seeds[0]!.bytes).split(',')[1]] }],
      stream: random() < 0.5,
      options: { num_predict: 4 },
    })
    const mutate = (body: Record<string, unknown>): Record<string, unknown> => {
      const message = (body.messages as Array<Record<string, unknown>>)[0]!
      pick<() => void>([
        () => (body.model = junk()),
        () => (body.messages = junk()),
        () => ((body.messages as unknown[])[0] = junk()),
        () => (message.role = junk()),
        () => (message.content = junk()),
        () => (message.images = junk()),
        () => ((message.images as unknown[])[0] = junk()),
        () => (message.tool_calls = pick([junk(), [{ function: junk() }], [{ function: { name: 'f', arguments: junk() } }]])),
        () => (body.tools = pick([junk(), [junk()], [{ type: 'function', function: { name: junk() } }]])),
        () => (body.options = junk()),
        () => (body.options = { [pick(['temperature', 'num_predict', 'top_p', 'top_k', 'seed', 'stop', 'min_p', 'num_ctx'])]: junk() }),
        () => (body.format = junk()),
        () => (body.stream = junk()),
        () => (body.keep_alive = junk()),
        () => (body.think = junk()),
        () => (body.logprobs = junk()),
        () => (body.top_logprobs = junk()),
      ])()
      return body
    }
    const generateBody = (): Record<string, unknown> => {
      const body: Record<string, unknown> = { model, prompt: 'describe', images: [fuzzCase(seeds, Math.floor(random() * 1000), 7).url], stream: random() < 0.5 }
      const key = pick(['prompt', 'system', 'images', 'raw', 'suffix', 'template', 'context', 'format', 'options'])
      if (random() < 0.5) body[key] = junk()
      return body
    }
    const statuses = new Map<number, number>()
    const violations: string[] = []
    for (let i = 0; i < 240; i++) {
      let response: Awaited<ReturnType<typeof post>>
      const kind = i % 4
      if (kind === 0) {
        const body = good()
        ;(body.messages as Array<{ images: string[] }>)[0]!.images = [fuzzCase(seeds, i, 77).url]
        response = await post('/api/chat', body)
      } else if (kind === 1) response = await post('/api/chat', mutate(good()))
      else if (kind === 2) response = await post('/api/generate', generateBody())
      else {
        const text = JSON.stringify(good())
        response = await post(random() < 0.5 ? '/api/chat' : '/api/show', text.slice(0, Math.floor(random() * text.length)))
      }
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      if (response.statusCode >= 500) violations.push(`case ${i}: ${response.statusCode} ${response.body.slice(0, 200)}`)
      else if (response.statusCode !== 200) {
        const body = response.json() as Record<string, unknown>
        if (Object.keys(body).length !== 1 || typeof body.error !== 'string' || body.error === '')
          violations.push(`case ${i}: ${response.statusCode} ${response.body.slice(0, 200)}`)
      }
    }
    expect(violations).toEqual([])
    expect(statuses.get(400)).toBeGreaterThan(60)
    expect(statuses.get(200)).toBeGreaterThan(10)
    const png = (await fixtures.testImage(32, 32)).toString('base64')
    expect((await post('/api/chat', { model, messages: [{ role: 'user', content: 'x', images: [png] }], stream: false })).statusCode).toBe(200)
  }, 60_000)
})
