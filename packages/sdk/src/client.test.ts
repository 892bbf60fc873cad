import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  AbortError,
  AuthenticationError,
  BadRequestError,
  ConnectionError,
  createClient,
  NotFoundError,
  OverloadedError,
  RateLimitError,
  ServerError,
  TimeoutError,
  type RetryInfo,
} from './index.js'
import { apiError, delayed, hang, json, ok, refusedUrl, startScriptedServer, type ScriptedServer } from '../../../test-support/scripted-server.js'
import { describeSceneRequest } from '../../../test-support/requests.js'

const fastBackoff = { initialDelayMs: 5, maxDelayMs: 20 }

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

const sceneRequest = () => describeSceneRequest('data:image/png;base64,iVBORw0KGgo=')

describe('chat.completions.create', () => {
  it('posts the request as JSON to /v1/chat/completions and returns the completion', async () => {
    server.script(ok('A cat on a mat.'))
    const client = createClient({ baseURL: server.url })
    const completion = await client.chat.completions.create(sceneRequest())
    expect(completion.choices[0]?.message.content).toBe('A cat on a mat.')
    const [request] = server.requests
    expect(request?.method).toBe('POST')
    expect(request?.path).toBe('/v1/chat/completions')
    expect(request?.headers['content-type']).toBe('application/json')
    expect(request?.headers.authorization).toBeUndefined()
    expect(request?.json).toEqual(sceneRequest())
  })

  it('sends only the apiKey it was given: never a key from the environment (OPENAI_API_KEY, VISTO_API_KEY)', async () => {
    const saved = { OPENAI_API_KEY: process.env.OPENAI_API_KEY, VISTO_API_KEY: process.env.VISTO_API_KEY }
    process.env.OPENAI_API_KEY = 'sk-not-for-visto'
    process.env.VISTO_API_KEY = 'visto-env-key'
    try {
      server.script(ok('one'), ok('two'))
      await createClient({ baseURL: server.url }).chat.completions.create(sceneRequest())
      await createClient({ baseURL: server.url, apiKey: 'given' }).chat.completions.create(sceneRequest())
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([undefined, 'Bearer given'])
  })

  it('accepts a base URL that already ends in /v1 and fills in the default model', async () => {
    const client = createClient({ baseURL: `${server.url}/v1/`, apiKey: 'sk-test' })
    await client.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] })
    expect(server.requests[0]?.path).toBe('/v1/chat/completions')
    expect(server.requests[0]?.json?.model).toBe('qwen3-vl-4b-instruct')
    expect(server.requests[0]?.headers.authorization).toBe('Bearer sk-test')
  })

  it('refuses a base URL that is not an absolute http(s) URL', () => {
    expect(() => createClient({ baseURL: 'localhost:7860' })).toThrow('baseURL must be an absolute http(s) URL such as http://127.0.0.1:7860, got "localhost:7860"')
    expect(() => createClient({ baseURL: 'ftp://example.com' })).toThrow(TypeError)
  })

  it('never mutates the caller’s request object', async () => {
    const request = sceneRequest()
    const before = structuredClone(request)
    Object.freeze(request)
    const client = createClient({ baseURL: server.url, model: 'other-model' })
    await client.chat.completions.create({ ...request, model: undefined as unknown as string })
    await client.chat.completions.create(request)
    expect(request).toEqual(before)
    expect(server.requests[0]?.json?.model).toBe('other-model')
  })
})

describe('errors', () => {
  it('retries a 500 and returns the 200 that follows', async () => {
    server.script(apiError(500, 'engine crashed', { type: 'server_error' }), ok('second time lucky'))
    const retries: RetryInfo[] = []
    const client = createClient({ baseURL: server.url, backoff: fastBackoff, onRetry: (info) => retries.push(info) })
    const result = await client.chat.completions.createWithMeta(sceneRequest())
    expect(result.completion.choices[0]?.message.content).toBe('second time lucky')
    expect(result.attempts).toBe(2)
    expect(server.requests).toHaveLength(2)
    expect(retries).toHaveLength(1)
    expect(retries[0]?.error).toBeInstanceOf(ServerError)
  })

  it('does not retry a 400 and surfaces message, param, code, status and request id', async () => {
    server.script(
      apiError(400, 'Invalid image data in messages[0].content[1]: not a recognised image format', {
        param: 'messages[0].content[1]',
        code: 'invalid_image',
      }),
    )
    const client = createClient({ baseURL: server.url, backoff: fastBackoff })
    const error = await client.chat.completions.create(sceneRequest()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadRequestError)
    const bad = error as BadRequestError
    expect(bad.message).toBe('400 Invalid image data in messages[0].content[1]: not a recognised image format')
    expect(bad.status).toBe(400)
    expect(bad.param).toBe('messages[0].content[1]')
    expect(bad.code).toBe('invalid_image')
    expect(bad.type).toBe('invalid_request_error')
    expect(bad.requestId).toBe('req-400')
    expect(server.requests).toHaveLength(1)
  })

  it.each([
    [401, AuthenticationError, 1],
    [404, NotFoundError, 1],
    [429, RateLimitError, 3],
    [503, OverloadedError, 3],
    [502, ServerError, 3],
  ])('maps status %i to %o and tries %i time(s)', async (status, ErrorClass, tries) => {
    server.fallback = apiError(status, `status ${status}`)
    const client = createClient({ baseURL: server.url, maxRetries: 2, backoff: fastBackoff })
    const error = await client.chat.completions.create(sceneRequest()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ErrorClass)
    expect((error as ServerError).status).toBe(status)
    expect(server.requests).toHaveLength(tries)
  })

  it('keeps a non-JSON error body readable as the message', async () => {
    server.script((_request, res) => {
      res.writeHead(418, { 'content-type': 'text/html' })
      res.end('<h1>I am a teapot</h1>')
    })
    const client = createClient({ baseURL: server.url })
    await expect(client.chat.completions.create(sceneRequest())).rejects.toThrow('418 <h1>I am a teapot</h1>')
  })

  it('waits as long as retry-after-ms asks before retrying', async () => {
    server.script(apiError(503, 'queue full', { type: 'service_unavailable_error', headers: { 'retry-after-ms': '300' } }), ok('done'))
    const client = createClient({ baseURL: server.url, backoff: fastBackoff })
    const started = performance.now()
    await client.chat.completions.create(sceneRequest())
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
    expect(server.requests).toHaveLength(2)
  })

  it('waits as long as Retry-After (in seconds) asks before retrying', async () => {
    server.script(apiError(429, 'slow down', { type: 'rate_limit_error', headers: { 'retry-after': '1' } }), ok('done'))
    const delays: number[] = []
    const client = createClient({ baseURL: server.url, backoff: fastBackoff, onRetry: (info) => delays.push(info.delayMs) })
    const started = performance.now()
    await client.chat.completions.create(sceneRequest())
    expect(delays).toEqual([1000])
    expect(performance.now() - started).toBeGreaterThanOrEqual(990)
  })

  it('gives up after maxRetries and throws the last error', async () => {
    server.script(apiError(500, 'first'), apiError(500, 'second'), apiError(500, 'third'), ok('never reached'))
    const client = createClient({ baseURL: server.url, maxRetries: 2, backoff: fastBackoff })
    await expect(client.chat.completions.create(sceneRequest())).rejects.toThrow('500 third')
    expect(server.requests).toHaveLength(3)
  })

  it('fires the per-request timeout when the server does not answer', async () => {
    server.script(hang)
    const client = createClient({ baseURL: server.url, timeout: 200, maxRetries: 0 })
    const started = performance.now()
    const error = await client.chat.completions.create(sceneRequest()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(TimeoutError)
    expect((error as TimeoutError).message).toBe('Request timed out after 200 ms')
    expect(performance.now() - started).toBeLessThan(2000)
    await server.requests[0]?.closed
  })

  it('retries a timed-out attempt and succeeds when the next one answers', async () => {
    server.script(hang, ok('fast now'))
    const client = createClient({ baseURL: server.url, timeout: 200, maxRetries: 1, backoff: fastBackoff })
    const completion = await client.chat.completions.create(sceneRequest())
    expect(completion.choices[0]?.message.content).toBe('fast now')
  })

  it('reports connection refused plainly, naming the URL, after retrying', async () => {
    const url = await refusedUrl()
    const retries: RetryInfo[] = []
    const client = createClient({ baseURL: url, maxRetries: 1, backoff: fastBackoff, onRetry: (info) => retries.push(info) })
    const error = await client.chat.completions.create(sceneRequest()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect(error).not.toBeInstanceOf(TimeoutError)
    expect((error as Error).message).toBe(`Connection error: ${url}/v1/chat/completions (ECONNREFUSED)`)
    expect(retries).toHaveLength(1)
  })

  it('stops at once, without retrying, when the caller aborts', async () => {
    server.fallback = hang
    const controller = new AbortController()
    const client = createClient({ baseURL: server.url, backoff: fastBackoff })
    setTimeout(() => controller.abort(), 100)
    await expect(client.chat.completions.create(sceneRequest(), { signal: controller.signal })).rejects.toThrow(AbortError)
    expect(server.requests).toHaveLength(1)
  })

  it('stops during the backoff wait when the caller aborts', async () => {
    server.script(apiError(503, 'busy', { headers: { 'retry-after': '30' } }))
    const controller = new AbortController()
    const client = createClient({ baseURL: server.url, onRetry: () => setTimeout(() => controller.abort(), 20) })
    const started = performance.now()
    await expect(client.chat.completions.create(sceneRequest(), { signal: controller.signal })).rejects.toThrow(AbortError)
    expect(performance.now() - started).toBeLessThan(5000)
    expect(server.requests).toHaveLength(1)
  })

  it('treats a body cut off mid-response as a connection error', async () => {
    server.fallback = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
      res.write('{"id":"x",')
      setTimeout(() => res.destroy(), 20)
    }
    const client = createClient({ baseURL: server.url, maxRetries: 0 })
    await expect(client.chat.completions.create(sceneRequest())).rejects.toThrow(ConnectionError)
  })
})

describe('injected fetch', () => {
  it('sends every request through the fetch it was given', async () => {
    const seen: string[] = []
    const client = createClient({
      baseURL: 'http://visto.invalid',
      fetch: async (url, init) => {
        seen.push(`${init.method} ${url}`)
        return new Response(
          JSON.stringify({
            id: 'x',
            object: 'chat.completion',
            created: 0,
            model: 'm',
            choices: [{ index: 0, message: { role: 'assistant', content: 'from fake fetch', refusal: null }, logprobs: null, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          }),
          { status: 200, headers: { 'content-type': 'application/json' } },
        )
      },
    })
    expect((await client.ask(undefined, 'hi')).text).toBe('from fake fetch')
    expect(seen).toEqual(['POST http://visto.invalid/v1/chat/completions'])
  })
})

describe('models.list', () => {
  it('reads /v1/models', async () => {
    server.script(json(200, { object: 'list', data: [{ id: 'qwen3-vl-4b-instruct', object: 'model', created: 0, owned_by: 'visto' }] }))
    const client = createClient({ baseURL: server.url })
    const list = await client.models.list()
    expect(list.data.map((m) => m.id)).toEqual(['qwen3-vl-4b-instruct'])
    expect(server.requests[0]?.method).toBe('GET')
    expect(server.requests[0]?.path).toBe('/v1/models')
  })
})

describe('metrics', () => {
  it('records latency, outcome, attempts and tokens for every call', async () => {
    server.script(delayed(50, ok('one two three', { promptTokens: 7 })), apiError(400, 'bad'))
    const client = createClient({ baseURL: server.url })
    await client.chat.completions.create(sceneRequest())
    await client.chat.completions.create(sceneRequest()).catch(() => {})
    const [success, failure] = client.metrics.entries
    expect(success).toMatchObject({ outcome: 'success', attempts: 1, status: 200, promptTokens: 7, completionTokens: 3, totalTokens: 10, stream: false })
    expect(success!.latencyMs).toBeGreaterThanOrEqual(45)
    expect(failure).toMatchObject({ outcome: 'error', status: 400, error: 'BadRequestError' })
    const summary = client.metrics.summary()
    expect(summary.requests).toBe(2)
    expect(summary.successRate).toBe(0.5)
    expect(summary.errors).toEqual({ BadRequestError: 1 })
  })
})
