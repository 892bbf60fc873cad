import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { composeServer } from './compose.js'
import { serveConfig } from './config.js'
import { EngineUnavailableError, InvalidImageError } from './errors.js'
import type { ImagePreparer } from './serving/chat-completions.js'
import { endless, ScriptedEngine, throwing, words } from '../../../test-support/scripted-engine.js'
import { describeSceneRequest } from '../../../test-support/requests.js'
import { closeApp } from '../../../test-support/close-app.js'

const acceptAnyImage: ImagePreparer = async (url, where) => {
  if (url.includes('broken')) throw new InvalidImageError(`Invalid image data in ${where}: truncated JPEG`, { param: `${where}.image_url.url` })
  return { data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64 }
}

const sceneRequest = describeSceneRequest('data:image/jpeg;base64,AAAA')

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(engine = new ScriptedEngine(), options: { parallel?: number; maxQueue?: number; apiKey?: string; bodyLimitMb?: number } = {}) {
  const config = serveConfig({
    parallel: options.parallel ?? 1,
    'max-queue': options.maxQueue ?? 4,
    'max-images': 2,
    'body-limit-mb': options.bodyLimitMb ?? 1,
    ...(options.apiKey ? { 'api-key': options.apiKey } : {}),
  })
  const composed = await composeServer(config, { engine, prepareImage: acceptAnyImage })
  app = composed.app
  return { app, engine, admission: composed.admission }
}

function sseEvents(body: string): string[] {
  return body
    .split('\n\n')
    .filter(Boolean)
    .map((event) => event.replace(/^data: /, ''))
}

describe('POST /v1/chat/completions over HTTP', () => {
  it('answers a typical vision request (JSON string body, only Content-Type) with a chat completion', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'Content-Type': 'application/json' }, payload: JSON.stringify(sceneRequest) })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(response.headers['x-request-id']).toMatch(/^req_/)
    const body = response.json()
    expect(body).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'qwen3-vl-4b-instruct',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 },
    })
  })

  it('also serves /chat/completions and parses bodies sent without a JSON content type', async () => {
    const { app } = await setup()
    const response = await app.inject({
      method: 'POST',
      url: '/chat/completions',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: JSON.stringify(sceneRequest),
    })
    expect(response.statusCode).toBe(200)
  })

  it('reports finish_reason "length" honestly', async () => {
    const { app } = await setup(new ScriptedEngine(words(['cut'], 'length')))
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, max_tokens: 1 } })
    expect(response.json().choices[0].finish_reason).toBe('length')
  })

  it('echoes a sane incoming x-request-id', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/v1/models', headers: { 'x-request-id': 'trace-42' } })
    expect(response.headers['x-request-id']).toBe('trace-42')
  })

  it('returns 404 listing the available models for an unknown model', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, model: 'gpt-4o' } })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({
      error: { message: 'The model "gpt-4o" does not exist. Available models: qwen3-vl-4b-instruct', type: 'not_found_error', param: 'model', code: 'model_not_found' },
    })
  })

  it('returns 400 invalid_request_error naming the parameter', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, temperature: 9 } })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ error: { message: 'temperature must be at most 2, got 9', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } })
  })

  it('returns 400 with "Invalid image data" naming the part for a bad image', async () => {
    const { app } = await setup()
    const body = structuredClone(sceneRequest)
    ;(body.messages[0]!.content[1] as { image_url: { url: string } }).image_url.url = 'data:image/jpeg;base64,broken'
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: body })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'Invalid image data in messages[0].content[1]: truncated JPEG',
      type: 'invalid_request_error',
      param: 'messages[0].content[1].image_url.url',
      code: 'invalid_image',
    })
  })

  it('returns 400 for malformed JSON and 413 beyond the body limit, in the same envelope', async () => {
    const { app } = await setup(undefined, { bodyLimitMb: 0.002 })
    const bad = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: '{"model": ' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('invalid_json')
    expect(bad.json().error.message).toMatch(/^The request body is not valid JSON/)
    const big = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ ...sceneRequest, pad: 'x'.repeat(5000) }),
    })
    expect(big.statusCode).toBe(413)
    expect(big.json().error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large' })
  })

  it('returns 400 when a request carries more images than allowed', async () => {
    const { app } = await setup()
    const image = { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: [image, image, image] }] } })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toBe('Too many images: 3 in this request, the limit is 2 (--max-images)')
  })

  it('returns 404 in the envelope for unknown routes', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'GET', url: '/v1/nope' })
    expect(response.statusCode).toBe(404)
    expect(response.json().error).toMatchObject({ type: 'not_found_error', message: 'No route for GET /v1/nope' })
  })

  it('turns an unexpected engine bug into a generic 500 server_error', async () => {
    const broken = new ScriptedEngine(throwing(() => new TypeError('cannot read properties of undefined')))
    const { app } = await setup(broken)
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: sceneRequest })
    expect(response.statusCode).toBe(500)
    expect(response.json()).toEqual({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'internal_error' } })
  })

  it('requires the API key when one is configured, except for /health', async () => {
    const { app } = await setup(undefined, { apiKey: 'sk-test' })
    expect((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer sk-test' } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
  })
})

describe('streaming', () => {
  it('sends the role first, content deltas, the finish chunk, usage when asked, then [DONE]', async () => {
    const { app } = await setup(new ScriptedEngine(words(['Hel', 'lo'])))
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, stream: true, stream_options: { include_usage: true } } })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/)
    const events = sseEvents(response.body)
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e))
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([{ role: 'assistant', content: '' }, { content: 'Hel' }, { content: 'lo' }, {}, null])
    expect(chunks[3].choices[0].finish_reason).toBe('stop')
    expect(chunks[4].usage).toEqual({ prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 })
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
  })

  it('reports a failure after the headers as a data: error event, then [DONE]', async () => {
    const failing = new ScriptedEngine(async function* () {
      yield { type: 'text', text: 'partial' }
      throw new Error('engine exploded')
    })
    const { app } = await setup(failing)
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, stream: true } })
    const events = sseEvents(response.body)
    expect(events.at(-1)).toBe('[DONE]')
    expect(JSON.parse(events.at(-2)!)).toEqual({
      error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: 'internal_error' },
    })
  })

  it('validates before streaming: a bad request gets a plain 400, not an event stream', async () => {
    const { app } = await setup()
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...sceneRequest, stream: true, messages: [{ role: 'user', content: 5 }] } })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
  })
})

describe('capacity', () => {
  it('answers 503 with Retry-After when every slot and the queue are taken', async () => {
    const engine = new ScriptedEngine(endless())
    const { app, admission } = await setup(engine, { parallel: 1, maxQueue: 0 })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const first = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...sceneRequest, stream: true }),
      headers: { 'content-type': 'application/json' },
      signal: controller.signal,
    })
    const firstResponse = await first
    expect(admission.running).toBe(1)
    const second = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(sceneRequest), headers: { 'content-type': 'application/json' } })
    expect(second.status).toBe(503)
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect((await second.json()).error.code).toBe('queue_full')
    controller.abort()
    await firstResponse.body?.cancel().catch(() => {})
    for (let i = 0; i < 100 && admission.running > 0; i++) await new Promise((r) => setTimeout(r, 20))
    expect(admission.running).toBe(0)
    expect(engine.aborted).toBe(1)
  })

  it('reports loading on /health with 503, and refuses chat with 503 until ready', async () => {
    const engine = new ScriptedEngine()
    engine.currentState = { status: 'loading', progress: 0.4, message: 'loading model weights' }
    const { app } = await setup(engine)
    const health = await app.inject({ method: 'GET', url: '/health' })
    expect(health.statusCode).toBe(503)
    expect(health.json()).toMatchObject({ status: 'loading', progress: 0.4 })
    const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: sceneRequest })
    expect(chat.statusCode).toBe(503)
    expect(chat.headers['retry-after']).toBeDefined()
    expect(chat.json().error.code).toBe('model_loading')
  })
})

describe('credentials in an upstream URL', () => {
  it('never appear in /health or the 503 a chat request gets while the upstream is down', async () => {
    const engine = new ScriptedEngine()
    engine.currentState = { status: 'unavailable', message: 'upstream http://user:s3cret@gpu-box:8000/v1 unreachable: fetch failed' }
    engine.health = async () => {
      throw new EngineUnavailableError(`The upstream engine is not ready: ${(engine.currentState as { message: string }).message}`)
    }
    const { app } = await setup(engine)
    const health = await app.inject({ method: 'GET', url: '/v1/health' })
    expect(health.statusCode).toBe(503)
    expect(health.json()).toMatchObject({ status: 'unavailable', message: 'upstream http://gpu-box:8000/v1 unreachable: fetch failed' })
    const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: sceneRequest })
    expect(chat.statusCode).toBe(503)
    expect(chat.json().error.message).toBe('The upstream engine is not ready: upstream http://gpu-box:8000/v1 unreachable: fetch failed')
    const models = await app.inject({ method: 'GET', url: '/v1/models' })
    for (const response of [health, chat, models]) expect(response.body).not.toContain('s3cret')
  })
})

describe('GET /v1/models', () => {
  it('lists the served model ids', async () => {
    const { app } = await setup()
    const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json()
    expect(body.object).toBe('list')
    expect(body.data.map((m: { id: string }) => m.id)).toEqual(['qwen3-vl-4b-instruct'])
  })

  it("gives each model the server's start time as created, the same for servers started together", async () => {
    const startedAt = Date.UTC(2030, 0, 1, 12, 0, 0, 500)
    const servers = await Promise.all([0, 1].map(() => composeServer(serveConfig(), { engine: new ScriptedEngine(), startedAt })))
    try {
      for (const { app } of servers) expect((await app.inject({ method: 'GET', url: '/v1/models' })).json().data[0].created).toBe(Math.floor(startedAt / 1000))
    } finally {
      await Promise.all(servers.map(({ app }) => closeApp(app)))
    }
  })
})
