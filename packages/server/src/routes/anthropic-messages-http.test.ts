import type { Message, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages'
import type { AnthropicMessage, AnthropicStreamEvent } from '@visto/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { fuzzSeeds } from '@visto/testkit/images/fuzz-seeds'
import { createRandom, fuzzCase } from '@visto/testkit/images/image-fuzz'
import { ScriptedEngine, type Script } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { EngineEvent, EngineRequest } from '../engines/engine.js'
import { EngineUnavailableError } from '../errors.js'
import type { ImagePreparer } from '../serving/chat-completions.js'
import { closeApp } from '../../../../test-support/close-app.js'

// How chat jobs become Anthropic messages and event streams, and how every error on these
// routes takes Anthropic's shape. The engine is scripted: this is the serving side's
// mapping (e2e/anthropic-messages.test.ts runs the real engine with the official SDK).

// Our wire types are the SDK's: a message and a stream event of ours are its own.
const asSdkMessage = (message: AnthropicMessage): Message => message
const asSdkEvent = (event: AnthropicStreamEvent): RawMessageStreamEvent | { type: 'ping' } => event
void asSdkMessage
void asSdkEvent

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

function scripted(events: EngineEvent[]): Script {
  return async function* () {
    yield* events
  }
}

const placeholderImage: ImagePreparer = async (url, where) => {
  if (!url.startsWith('data:image/')) throw new Error(`unexpected ${url} at ${where}`)
  return { data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64, imageTokens: 4 }
}

async function setup(script: Script, options: Record<string, number | string | boolean> = {}, engine = new ScriptedEngine(script)) {
  app = (await composeServer(serveConfig({ parallel: 1, ...options }), { engine, prepareImage: placeholderImage, metrics: { processMetrics: false } })).app
  return engine
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  app!.inject({
    method: 'POST',
    url,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
  })

/** `event: x` / `data: {...}` frames, checking that each frame's name is its data's type. */
function events(body: string): AnthropicStreamEvent[] {
  return body
    .split('\n\n')
    .filter(Boolean)
    .map((frame) => {
      const [eventLine, dataLine, ...rest] = frame.split('\n')
      expect(rest).toEqual([])
      const name = /^event: (.+)$/.exec(eventLine!)![1]!
      const data = JSON.parse(/^data: (.+)$/.exec(dataLine!)![1]!) as AnthropicStreamEvent
      expect(data.type).toBe(name)
      return data
    })
}

const ask = { model: 'qwen3-vl-4b-instruct', max_tokens: 32, messages: [{ role: 'user', content: 'Weather?' }], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] }
const textThenCall: EngineEvent[] = [
  { type: 'accepted' },
  { type: 'text', text: 'Let me ' },
  { type: 'text', text: 'check.' },
  { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' },
  { type: 'tool_call_arguments', index: 0, text: '{"city":' },
  { type: 'tool_call_arguments', index: 0, text: '"Oslo"}' },
  { type: 'done', finishReason: 'tool_calls', promptTokens: 12, completionTokens: 9 },
]
const nullUsage = { cache_creation_input_tokens: null, cache_read_input_tokens: null, server_tool_use: null, output_tokens_details: null }

describe('POST /v1/messages', () => {
  it('answers with a message: a text block, a tool_use block with the arguments as input, stop_reason "tool_use" and usage', async () => {
    const engine = await setup(scripted(textThenCall))
    const response = await post('/v1/messages', { ...ask, tool_choice: { type: 'auto', disable_parallel_tool_use: true }, stop_sequences: ['END'], temperature: 0.2 })
    expect(response.statusCode).toBe(200)
    const message = response.json()
    expect(message).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{24}$/),
      type: 'message',
      role: 'assistant',
      model: 'qwen3-vl-4b-instruct',
      content: [
        { type: 'text', text: 'Let me check.', citations: null },
        { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: { city: 'Oslo' }, caller: { type: 'direct' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: { input_tokens: 12, output_tokens: 9, cache_creation: null, service_tier: null, inference_geo: null, speed: null, ...nullUsage },
    })
    const request: EngineRequest = engine.requests[0]!
    expect(request.tools).toEqual({ functions: [{ name: 'get_weather', parameters: { type: 'object' } }], choice: 'auto', parallel: false })
    expect(request.sampling).toMatchObject({ maxTokens: 32, temperature: 0.2, stop: ['END'] })
  })

  it('streams Anthropic’s event sequence, named events, that assembles into the same message', async () => {
    await setup(scripted(textThenCall))
    const response = await post('/v1/messages', { ...ask, stream: true })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    const sequence = events(response.body)
    const start = sequence[0] as Extract<AnthropicStreamEvent, { type: 'message_start' }>
    expect(start.message).toMatchObject({ id: expect.stringMatching(/^msg_/), content: [], stop_reason: null, usage: { input_tokens: 0, output_tokens: 0 } })
    expect(sequence.slice(1)).toEqual([
      { type: 'ping' },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me ' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'check.' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {}, caller: { type: 'direct' } } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":"Oslo"}' } },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null, stop_details: null, container: null },
        usage: { input_tokens: 12, output_tokens: 9, ...nullUsage },
      },
      { type: 'message_stop' },
    ])
  })

  it('says which stop sequence ended the answer, and max_tokens when the limit did', async () => {
    await setup(
      scripted([{ type: 'accepted' }, { type: 'text', text: 'one two' }, { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: 2, stopSequence: 'three' }]),
    )
    expect((await post('/v1/messages', { ...ask, stop_sequences: ['three'] })).json()).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'three' })
    const streamed = events((await post('/v1/messages', { ...ask, stop_sequences: ['three'], stream: true })).body)
    expect(streamed.at(-2)).toMatchObject({ type: 'message_delta', delta: { stop_reason: 'stop_sequence', stop_sequence: 'three' } })
    await closeApp(app)
    await setup(scripted([{ type: 'accepted' }, { type: 'done', finishReason: 'length', promptTokens: 5, completionTokens: 0 }]))
    // An answer with nothing in it still has its text block, streamed or not.
    expect((await post('/v1/messages', ask)).json()).toMatchObject({ stop_reason: 'max_tokens', content: [{ type: 'text', text: '' }] })
    const empty = events((await post('/v1/messages', { ...ask, stream: true })).body).map((e) => e.type)
    expect(empty).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_stop', 'message_delta', 'message_stop'])
  })

  it('ends a stream that fails after its headers with an Anthropic error event', async () => {
    await setup(async function* () {
      yield { type: 'accepted' }
      yield { type: 'text', text: 'partial' }
      throw new EngineUnavailableError('The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.')
    })
    const response = await post('/v1/messages', { ...ask, stream: true })
    const sequence = events(response.body)
    expect(sequence.map((e) => e.type)).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_delta', 'error'])
    expect(sequence.at(-1)).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.' },
      request_id: response.headers['x-request-id'],
    })
  })
})

describe("errors on the Anthropic routes, in Anthropic's shape", () => {
  const anthropicError = (type: string, message: string | ReturnType<typeof expect.stringContaining>) => ({
    type: 'error',
    error: { type, message },
    request_id: expect.stringMatching(/^req_/),
  })

  it.each([
    ['no max_tokens', { ...ask, max_tokens: undefined }, 400, 'invalid_request_error', 'max_tokens is required: the most tokens the answer may have, a whole number of at least 1'],
    ['an unknown model', { ...ask, model: 'claude-sonnet-4-5' }, 404, 'not_found_error', 'The model "claude-sonnet-4-5" does not exist. Available models: qwen3-vl-4b-instruct'],
    ['a body that is not JSON', '{"model": ', 400, 'invalid_request_error', expect.stringContaining('The request body is not valid JSON')],
    [
      'an image that is not base64',
      { ...ask, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: '%%%' } }] }] },
      400,
      'invalid_request_error',
      expect.stringContaining('Invalid image data in messages[0].content[0]'),
    ],
    [
      'a remote image while remote images are off',
      { ...ask, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } }] }] },
      400,
      'invalid_request_error',
      expect.stringContaining('remote image URLs are disabled on this server'),
    ],
  ])('%s: %i %s', async (_case, body, status, type, message) => {
    const engine = new ScriptedEngine()
    // The real pipeline, so that bad images are refused as they are in production.
    app = (await composeServer(serveConfig({ parallel: 1 }), { engine, metrics: { processMetrics: false } })).app
    const response = await post('/v1/messages', body)
    expect(response.statusCode).toBe(status)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(response.json()).toEqual(anthropicError(type, message))
    expect(engine.requests).toHaveLength(0)
  })

  it('a full queue is 503 overloaded_error with Retry-After (the SDK retries it like 529); count_tokens has the same shape', async () => {
    const engine = await setup(scripted(textThenCall))
    engine.currentState = { status: 'loading', progress: 0.5, message: 'reading the model' }
    const response = await post('/v1/messages', ask)
    expect(response.statusCode).toBe(503)
    expect(response.headers['retry-after']).toBeDefined()
    expect(response.json()).toEqual(anthropicError('overloaded_error', 'The model is not ready: loading.'))
    const unknownModel = await post('/v1/messages/count_tokens', { model: 'nope', messages: ask.messages })
    expect(unknownModel.json()).toEqual(anthropicError('not_found_error', expect.stringContaining('The model "nope" does not exist')))
  })

  it('leaves the OpenAI routes in their own envelope', async () => {
    await setup(scripted(textThenCall))
    const response = await post('/v1/chat/completions', { model: 'claude-sonnet-4-5', messages: ask.messages })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toEqual({ error: expect.objectContaining({ type: 'not_found_error', code: 'model_not_found' }) })
  })
})

describe('POST /v1/messages/count_tokens', () => {
  it('asks an engine that counts, without generating or holding a slot', async () => {
    const engine = new ScriptedEngine(scripted(textThenCall))
    const counted: EngineRequest[] = []
    Object.assign(engine, {
      countPromptTokens: async (request: EngineRequest) => {
        counted.push(request)
        return 77
      },
    })
    await setup(scripted(textThenCall), {}, engine)
    const body = {
      model: 'qwen3-vl-4b-instruct',
      system: 'Be brief.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'text', text: 'What is it?' },
          ],
        },
      ],
      tools: ask.tools,
      tool_choice: { type: 'tool', name: 'get_weather' },
    }
    const response = await post('/v1/messages/count_tokens', body)
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ input_tokens: 77 })
    expect(engine.requests).toHaveLength(0)
    expect(counted).toHaveLength(1)
    expect(counted[0]!.messages.map((m) => [m.role, m.content.map((p) => p.type)])).toEqual([
      ['system', ['text']],
      ['user', ['image', 'text']],
    ])
    expect(counted[0]!.tools).toMatchObject({ choice: { name: 'get_weather' } })
  })

  it('runs one token on an engine that cannot count, and reports its prompt tokens', async () => {
    const engine = await setup(scripted(textThenCall))
    const response = await post('/v1/messages/count_tokens', { model: 'qwen3-vl-4b-instruct', messages: ask.messages })
    expect(response.json()).toEqual({ input_tokens: 12 })
    expect(engine.requests.map((r) => r.sampling.maxTokens)).toEqual([1])
  })
})

describe('HTTP fuzz of the Anthropic routes', () => {
  it('survives hostile images, malformed blocks, tools and cut-off bodies with zero 5xx, each refusal an Anthropic error', async () => {
    const engine = new ScriptedEngine()
    // The real image pipeline: hostile bytes reach the decoders as they would in production.
    app = (await composeServer(serveConfig({ parallel: 2, 'max-queue': 64, 'max-image-mb': 2, 'body-limit-mb': 8 }), { engine, metrics: { processMetrics: false } })).app
    const seeds = await fuzzSeeds()
    const random = createRandom(1729)
    const pick = <T>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!
    const junk = (): unknown =>
      pick<() => unknown>([() => null, () => 7, () => 'x', () => [], () => ({}), () => [[]], () => ({ type: 'text' }), () => true, () => '\u0000', () => -1])()
    const imageSource = (url: string): unknown => {
      const match = /^data:([^;,]*);base64,(.*)$/s.exec(url)
      return match ? { type: 'base64', media_type: match[1] || 'image/png', data: match[2] } : { type: pick(['url', 'base64', 'file']), url, data: url, media_type: 'image/png' }
    }
    const body = (i: number): Record<string, unknown> => {
      const image: Record<string, unknown> = { type: 'image', source: imageSource(fuzzCase(seeds, i, 77).url) }
      const message: Record<string, unknown> = { role: 'user', content: [image, { type: 'text', text: 'Describe.' }] }
      const request: Record<string, unknown> = { model: 'qwen3-vl-4b-instruct', max_tokens: 8, messages: [message] }
      const slots: Array<() => void> = [
        () => {},
        () => (request.messages = junk()),
        () => (message.role = junk()),
        () => (message.content = junk()),
        () => ((message.content as unknown[])[0] = junk()),
        () => (image.source = junk()),
        () => (image.type = pick(['document', 'tool_result', 'tool_use', 'thinking', 'server_tool_use', 5])),
        () => (request.max_tokens = junk()),
        () => (request.system = junk()),
        () => (request.stop_sequences = junk()),
        () => (request.temperature = pick([2, -1, 'hot', null])),
        () =>
          (request.tools = pick([
            junk(),
            [{ name: 'f' }],
            [{ name: 'f', input_schema: pick([junk(), { type: 'string', pattern: '(*x)' }]) }],
            [{ type: 'bash_20250124', name: 'bash' }],
          ])),
        () => (request.tool_choice = pick([junk(), { type: 'any' }, { type: 'tool', name: pick(['f', 'nope', 5]) }, { type: 'auto', disable_parallel_tool_use: 'yes' }])),
        () =>
          (request.messages = [
            { role: 'assistant', content: [{ type: 'tool_use', id: pick(['t1', 5, '']), name: 'f', input: pick([{}, 'x', null]) }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: pick(['t1', 't2', 3]), content: pick([junk(), [image], 'ok']) }] },
          ]),
        () =>
          (message.content = [
            {
              type: 'document',
              source: pick([junk(), { type: 'base64', media_type: 'application/pdf', data: pick(['JVBERi0xLjQK', '%%%', '']) }, { type: 'url', url: 'https://example.com/x.pdf' }]),
            },
          ]),
      ]
      pick(slots)()
      return request
    }
    const serverErrors: string[] = []
    let refused = 0
    for (let i = 0; i < 240; i++) {
      const url = i % 5 === 4 ? '/v1/messages/count_tokens' : '/v1/messages'
      const text = JSON.stringify({ ...body(i), ...(i % 7 === 3 ? { stream: true } : {}) })
      const payload = i % 11 === 5 ? text.slice(0, Math.floor(random() * text.length)) : text
      const response = await post(url, payload)
      if (response.statusCode >= 500) serverErrors.push(`case ${i}: ${response.statusCode} ${response.body.slice(0, 300)}`)
      else if (response.statusCode !== 200) {
        refused++
        expect(response.json(), `case ${i}`).toEqual({
          type: 'error',
          error: { type: expect.stringMatching(/^(invalid_request_error|request_too_large|not_found_error)$/), message: expect.any(String) },
          request_id: expect.any(String),
        })
      }
    }
    expect(serverErrors).toEqual([])
    expect(refused).toBeGreaterThan(80)
    expect((await post('/v1/messages', { ...ask, tools: undefined })).statusCode).toBe(200)
  }, 60_000)
})
