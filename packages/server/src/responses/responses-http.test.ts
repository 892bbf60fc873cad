import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { EngineEvent, EngineRequest } from '../engines/engine.js'
import { freshDataDir } from '../../../../test-support/data-dir.js'
import { fixturesDir } from '../../../../test-support/paths.js'
import { ScriptedEngine, words, type Script } from '../../../../test-support/scripted-engine.js'
import { createRandom } from '@visto/testkit/images/image-fuzz'
import { closeApp } from '../../../../test-support/close-app.js'

// The Responses API over HTTP with a scripted engine: request mapping into the chat job,
// the response object, the event sequence, storage and conversations. The model's own
// behaviour is e2e/responses.test.ts's (the real engine and the official openai client).

let app: FastifyInstance | undefined
let closeData: (() => void) | undefined
afterEach(async () => {
  await closeApp(app)
  closeData?.()
  app = undefined
  closeData = undefined
})

const png = readFileSync(join(fixturesDir, 'tiny.png'))
const pngUrl = `data:image/png;base64,${png.toString('base64')}`

function scripted(events: EngineEvent[]): Script {
  return async function* () {
    yield* events
  }
}

async function setup(options: { script?: Script; data?: boolean; config?: Record<string, number | string>; clock?: () => number } = {}) {
  const engine = new ScriptedEngine(options.script)
  const data = options.data === false ? undefined : { dir: freshDataDir(), ...(options.clock ? { clock: options.clock } : {}) }
  const composed = await composeServer(serveConfig({ parallel: 1, ...options.config }), { engine, metrics: { processMetrics: false }, ...(data ? { data } : {}) })
  app = composed.app
  closeData = () => composed.dataDir?.close()
  return { engine, composed }
}

const create = (body: unknown, headers: Record<string, string> = {}) => app!.inject({ method: 'POST', url: '/v1/responses', payload: body as object, headers })
const get = (url: string) => app!.inject({ method: 'GET', url })

/** The engine's view of a request: each message's role, text and image count, and its calls. */
function seen(request: EngineRequest) {
  return request.messages.map((m) => ({
    role: m.role,
    text: m.content.map((p) => (p.type === 'text' ? p.text : '<image>')).join(''),
    ...(m.toolCalls ? { toolCalls: m.toolCalls } : {}),
    ...(m.toolCallId !== undefined ? { toolCallId: m.toolCallId } : {}),
  }))
}

interface SseEvent {
  event: string
  // biome-ignore lint/suspicious/noExplicitAny: parsed event JSON of a dozen shapes, walked into and matched with toMatchObject
  data: Record<string, any>
}
function events(body: string): SseEvent[] {
  return body
    .split('\n\n')
    .filter((frame) => frame.startsWith('event: '))
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n')
      return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) }
    })
}

describe('POST /v1/responses', () => {
  it('answers a string input with the response object: one output_text message, usage in input/output tokens, stored', async () => {
    const { engine } = await setup()
    const response = await create({ model: 'qwen3-vl-4b-instruct', input: 'Hi there', instructions: 'Be brief.', max_output_tokens: 50, temperature: 0.2, top_p: 0.9 })
    expect(response.statusCode).toBe(200)
    const body = response.json()
    expect(body).toEqual({
      id: expect.stringMatching(/^resp_[0-9a-f]{24}$/),
      object: 'response',
      created_at: expect.any(Number),
      status: 'completed',
      completed_at: expect.any(Number),
      error: null,
      incomplete_details: null,
      instructions: 'Be brief.',
      max_output_tokens: 50,
      model: 'qwen3-vl-4b-instruct',
      output: [
        { type: 'message', id: expect.stringMatching(/^msg_/), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello world', annotations: [] }] },
      ],
      parallel_tool_calls: true,
      previous_response_id: null,
      store: true,
      temperature: 0.2,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [],
      top_p: 0.9,
      truncation: 'disabled',
      usage: { input_tokens: 20, input_tokens_details: { cached_tokens: 0 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 22 },
      metadata: {},
      user: null,
    })
    expect(seen(engine.requests[0]!)).toEqual([
      { role: 'system', text: 'Be brief.' },
      { role: 'user', text: 'Hi there' },
    ])
    expect(engine.requests[0]!.sampling).toMatchObject({ maxTokens: 50, temperature: 0.2, topP: 0.9 })
    expect((await get(`/v1/responses/${body.id}`)).json()).toEqual(body)
  })

  it('reads input items: input_text and input_image parts, developer messages as system, text.format json_schema as the constraint', async () => {
    const { engine } = await setup()
    const schema = { type: 'object', properties: { colour: { type: 'string' } }, required: ['colour'] }
    const response = await create({
      input: [
        { role: 'developer', content: 'Answer in JSON.' },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'Which colour?' },
            { type: 'input_image', image_url: pngUrl, detail: 'low' },
          ],
        },
      ],
      text: { format: { type: 'json_schema', name: 'colour', schema, strict: true } },
    })
    expect(response.statusCode).toBe(200)
    expect(response.json().text).toEqual({ format: { type: 'json_schema', name: 'colour', schema, strict: true } })
    const request = engine.requests[0]!
    expect(seen(request)).toEqual([
      { role: 'system', text: 'Answer in JSON.' },
      { role: 'user', text: 'Which colour?<image>' },
    ])
    expect(request.sampling.jsonSchema).toEqual(schema)
    const image = request.messages[1]!.content[1]
    expect(image?.type === 'image' && image.image.width).toBeGreaterThan(0)
  })

  it('ends with status incomplete and incomplete_details when the answer stops at max_output_tokens', async () => {
    await setup({ script: words(['cut'], 'length') })
    const body = (await create({ input: 'Tell me everything', max_output_tokens: 1 })).json()
    expect(body).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, completed_at: null })
    expect(body.output[0]).toMatchObject({ status: 'incomplete', content: [{ text: 'cut' }] })
  })

  it('streams the Responses event sequence, numbered, ending with response.completed after the response is stored', async () => {
    await setup()
    const response = await create({ input: 'Hi', stream: true })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    const list = events(response.body)
    expect(list.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(list.map((e) => e.data.type)).toEqual(list.map((e) => e.event))
    expect(list.map((e) => e.data.sequence_number)).toEqual(list.map((_, i) => i))
    expect(list[0]!.data.response).toMatchObject({ status: 'in_progress', output: [], usage: null })
    const itemId = list[2]!.data.item.id
    expect(list[2]!.data).toMatchObject({ output_index: 0, item: { type: 'message', status: 'in_progress', role: 'assistant', content: [] } })
    expect(list[3]!.data).toMatchObject({ item_id: itemId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
    expect(list.slice(4, 6).map((e) => e.data.delta)).toEqual(['Hello', ' world'])
    expect(list[6]!.data).toMatchObject({ item_id: itemId, text: 'Hello world', logprobs: [] })
    expect(list[8]!.data.item).toEqual({
      type: 'message',
      id: itemId,
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: 'Hello world', annotations: [] }],
    })
    const completed = list[9]!.data.response
    expect(completed).toMatchObject({ status: 'completed', output: [list[8]!.data.item], usage: { input_tokens: 20, output_tokens: 2, total_tokens: 22 } })
    expect((await get(`/v1/responses/${completed.id}`)).json()).toEqual(completed)
  })

  it('streams a failure after the headers as an error event then response.failed, both numbered', async () => {
    await setup({
      script: async function* () {
        yield { type: 'accepted' }
        yield { type: 'text', text: 'Par' }
        throw new Error('engine fell over')
      },
    })
    const list = events((await create({ input: 'Hi', stream: true })).body)
    expect(list.slice(-2).map((e) => e.event)).toEqual(['error', 'response.failed'])
    expect(list.at(-2)!.data).toEqual({
      type: 'error',
      code: 'internal_error',
      message: 'The server had an error while processing your request.',
      param: null,
      sequence_number: list.length - 2,
    })
    expect(list.at(-1)!.data.response).toMatchObject({ status: 'failed', error: { code: 'internal_error' }, output: [{ type: 'message', status: 'in_progress' }] })
    expect(list.map((e) => e.data.sequence_number)).toEqual(list.map((_, i) => i))
  })
})

describe('function tools', () => {
  const tools = [{ type: 'function', name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }]
  const call: EngineEvent[] = [
    { type: 'accepted' },
    { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' },
    { type: 'tool_call_arguments', index: 0, text: '{"city":' },
    { type: 'tool_call_arguments', index: 0, text: '"Oslo"}' },
    { type: 'done', finishReason: 'tool_calls', promptTokens: 12, completionTokens: 9 },
  ]

  it('offers the functions to the engine and answers a call as a function_call output item', async () => {
    const { engine } = await setup({ script: scripted(call) })
    const body = (await create({ input: 'Weather in Oslo?', tools, tool_choice: 'required', parallel_tool_calls: false })).json()
    expect(engine.requests[0]!.tools).toEqual({
      functions: [{ name: 'get_weather', description: 'Weather in a city', parameters: tools[0]!.parameters }],
      choice: 'required',
      parallel: false,
    })
    expect(body.output).toEqual([
      { type: 'function_call', id: expect.stringMatching(/^fc_/), call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Oslo"}', status: 'completed' },
    ])
    expect(body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false, tools: [{ type: 'function', name: 'get_weather', strict: true }] })
  })

  it('streams a call as output_item.added, function_call_arguments deltas and done', async () => {
    await setup({ script: scripted(call) })
    const list = events((await create({ input: 'Weather?', tools, stream: true })).body)
    expect(list.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(list[2]!.data.item).toMatchObject({ type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '', status: 'in_progress' })
    expect(list[5]!.data).toMatchObject({ name: 'get_weather', arguments: '{"city":"Oslo"}' })
    expect(list[7]!.data.response.output).toEqual([list[6]!.data.item])
  })

  it('continues after function_call_output by previous_response_id: the call and its result reach the engine', async () => {
    const { engine } = await setup({ script: scripted(call) })
    const first = (await create({ input: 'Weather in Oslo?', tools })).json()
    engine.script = words(['Sunny'])
    const second = await create({ previous_response_id: first.id, tools, input: [{ type: 'function_call_output', call_id: 'call_a', output: '{"sky":"clear"}' }] })
    expect(second.statusCode).toBe(200)
    expect(seen(engine.requests[1]!)).toEqual([
      { role: 'user', text: 'Weather in Oslo?' },
      { role: 'assistant', text: '', toolCalls: [{ id: 'call_a', name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
      { role: 'tool', text: '{"sky":"clear"}', toolCallId: 'call_a' },
    ])
    expect(second.json()).toMatchObject({ previous_response_id: first.id, output: [{ content: [{ text: 'Sunny' }] }] })
  })

  it('refuses a function_call_output that answers no call of the conversation', async () => {
    await setup()
    const response = await create({
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'function_call_output', call_id: 'call_zzz', output: 'x' },
      ],
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      type: 'invalid_request_error',
      code: 'invalid_value',
      param: 'input[1].call_id',
      message: 'input[1] answers the call "call_zzz", which no earlier function_call made',
    })
  })
})

describe('stored responses and conversations', () => {
  it('rebuilds the conversation from previous_response_id: earlier input and output, without the earlier instructions', async () => {
    const { engine } = await setup()
    const first = (
      await create({
        instructions: 'First rules.',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'What is this?' },
              { type: 'input_image', image_url: pngUrl },
            ],
          },
        ],
      })
    ).json()
    engine.script = words(['Blue'])
    const second = (await create({ previous_response_id: first.id, instructions: 'Second rules.', input: 'Which colour?' })).json()
    expect(seen(engine.requests[1]!)).toEqual([
      { role: 'system', text: 'Second rules.' },
      { role: 'user', text: 'What is this?<image>' },
      { role: 'assistant', text: 'Hello world' },
      { role: 'user', text: 'Which colour?' },
    ])
    const third = await create({ previous_response_id: second.id, input: 'And now?' })
    expect(seen(engine.requests[2]!).map((m) => m.text)).toEqual(['What is this?<image>', 'Hello world', 'Which colour?', 'Blue', 'And now?'])

    const items = (await get(`/v1/responses/${third.json().id}/input_items`)).json()
    expect(items).toMatchObject({ object: 'list', has_more: false })
    expect(items.data.map((item: { role: string; content: [{ text: string }] }) => `${item.role}:${item.content[0].text}`)).toEqual([
      'user:And now?',
      'assistant:Blue',
      'user:Which colour?',
      'assistant:Hello world',
      'user:What is this?',
    ])
    expect(items.data[4].content[1]).toEqual({ type: 'input_image', image_url: pngUrl, file_id: null, detail: 'auto' })
    const page = (await get(`/v1/responses/${third.json().id}/input_items?order=asc&limit=2&after=${items.data[4].id}`)).json()
    expect(page.data.map((item: { content: [{ text: string }] }) => item.content[0].text)).toEqual(['Hello world', 'Which colour?'])
    expect(page).toMatchObject({ first_id: items.data[3].id, last_id: items.data[2].id, has_more: true })
  })

  it('answers a conversation by previous_response_id from the response cache exactly when the same conversation sent whole would be', async () => {
    const { engine } = await setup({ config: { 'response-cache': 'all' } })
    const first = (await create({ input: 'Pick a number', temperature: 0 })).json()
    const byId = await create({ previous_response_id: first.id, input: 'Another', temperature: 0 })
    expect(byId.headers['x-visto-cache']).toBe('miss')
    const whole = await create({
      input: [
        { role: 'user', content: 'Pick a number' },
        { role: 'assistant', content: 'Hello world' },
        { role: 'user', content: 'Another' },
      ],
      temperature: 0,
    })
    expect(whole.headers['x-visto-cache']).toBe('hit')
    // The same last turn after a different history is another request.
    const other = (await create({ input: 'Pick a colour', temperature: 0 })).json()
    expect((await create({ previous_response_id: other.id, input: 'Another', temperature: 0 })).headers['x-visto-cache']).toBe('miss')
    expect(engine.requests).toHaveLength(4)
  })

  it('does not keep store:false responses; deleting a response makes it unknown, and its continuations say why they cannot go on', async () => {
    await setup()
    const unstored = (await create({ input: 'Hi', store: false })).json()
    expect(unstored.store).toBe(false)
    expect((await get(`/v1/responses/${unstored.id}`)).statusCode).toBe(404)
    const refused = await create({ previous_response_id: unstored.id, input: 'Again' })
    expect(refused.statusCode).toBe(400)
    expect(refused.json().error).toEqual({
      type: 'invalid_request_error',
      code: 'previous_response_not_found',
      param: 'previous_response_id',
      message: `Previous response with id '${unstored.id}' not found.`,
    })

    const first = (await create({ input: 'Hi' })).json()
    const second = (await create({ previous_response_id: first.id, input: 'Again' })).json()
    const deleted = await app!.inject({ method: 'DELETE', url: `/v1/responses/${first.id}` })
    expect(deleted.json()).toEqual({ id: first.id, object: 'response', deleted: true })
    const gone = await get(`/v1/responses/${first.id}`)
    expect(gone.statusCode).toBe(404)
    expect(gone.json().error).toEqual({ type: 'not_found_error', code: 'response_not_found', param: 'response_id', message: `Response with id '${first.id}' not found.` })
    expect((await app!.inject({ method: 'DELETE', url: `/v1/responses/${first.id}` })).statusCode).toBe(404)
    expect((await get(`/v1/responses/${second.id}`)).statusCode).toBe(200)
    const broken = await create({ previous_response_id: second.id, input: 'More' })
    expect(broken.statusCode).toBe(400)
    expect(broken.json().error.message).toBe(
      `Previous response with id '${second.id}' continues response '${first.id}', which was deleted or has expired; its conversation cannot be continued.`,
    )
  })

  it('forgets responses after --response-retention-hours, and continuing a conversation renews all of it', async () => {
    let now = 1_000_000
    await setup({ clock: () => now, config: { 'response-retention-hours': 1 } })
    const first = (await create({ input: 'Hi' })).json()
    now += 3000
    const second = (await create({ previous_response_id: first.id, input: 'Again' })).json()
    now += 3000
    // 6000 s after the first response, 3000 s after the second renewed it.
    expect((await get(`/v1/responses/${first.id}`)).statusCode).toBe(200)
    now += 700
    expect((await get(`/v1/responses/${first.id}`)).statusCode).toBe(404)
    expect((await get(`/v1/responses/${second.id}`)).statusCode).toBe(404)
  })

  it('without a data directory: serves store-less responses, refuses store:true, previous_response_id and retrieval with a 503', async () => {
    await setup({ data: false })
    const served = await create({ input: 'Hi' })
    expect(served.statusCode).toBe(200)
    expect(served.json().store).toBe(false)
    for (const [response, param] of [
      [await create({ input: 'Hi', store: true }), 'store'],
      [await create({ input: 'Hi', previous_response_id: 'resp_abc' }), 'previous_response_id'],
      [await get('/v1/responses/resp_abc'), 'response_id'],
      [await get('/v1/responses/resp_abc/input_items'), 'response_id'],
    ] as const) {
      expect(response.statusCode).toBe(503)
      expect(response.json().error).toMatchObject({ type: 'service_unavailable_error', code: 'responses_store_unavailable', param })
    }
  })
})

describe('bad requests', () => {
  it.each([
    [{}, 'input', 'missing_required_parameter', 'input is required: a string, or a non-empty array of input items'],
    [{ input: [] }, 'input', 'invalid_type', 'input must be a string or a non-empty array of items, got an empty array'],
    [{ input: 5 }, 'input', 'invalid_type', 'input must be a string or a non-empty array of items, got a number'],
    [
      { input: [{ type: 'reasoning', summary: [] }] },
      'input[0].type',
      'unsupported_value',
      'input[0].type "reasoning" is not supported; input items are "message", "function_call" and "function_call_output"',
    ],
    [{ input: [{ role: 'robot', content: 'x' }] }, 'input[0].role', 'invalid_value', 'input[0].role must be "user", "system", "developer" or "assistant", got "robot"'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_audio' }] }] },
      'input[0].content[0].type',
      'unsupported_content_type',
      'Unsupported content part type "input_audio" in input[0].content[0]; supported types are "input_text", "input_image" and "input_file"',
    ],
    [
      { input: [{ role: 'user', content: [{ type: 'input_image' }] }] },
      'input[0].content[0]',
      'missing_required_parameter',
      'input[0].content[0] needs exactly one of "image_url" (a data:image/...;base64 URL) and "file_id" (an uploaded image)',
    ],
    [
      { input: [{ role: 'system', content: [{ type: 'input_image', image_url: 'data:,' }] }] },
      'input[0].content[0]',
      'invalid_value',
      'Images are only accepted in user messages and function_call_output; input[0].content[0] is in a system message',
    ],
    [
      { input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://x/a.pdf' }] }] },
      'input[0].content[0].file_url',
      'unsupported_parameter',
      'input[0].content[0].file_url is not supported: send the PDF inline as "file_data" (data:application/pdf;base64,...) or upload it and send "file_id"',
    ],
    [{ input: 'x', max_output_tokens: 0 }, 'max_output_tokens', 'invalid_value', `max_output_tokens must be from 1 to ${Number.MAX_SAFE_INTEGER}, got 0`],
    [{ input: 'x', temperature: 3 }, 'temperature', 'invalid_value', 'temperature must be at most 2, got 3'],
    [
      { input: 'x', text: { format: { type: 'json_schema', name: 'a' } } },
      'text.format.schema',
      'missing_required_parameter',
      'text.format.schema must be a JSON schema object, got undefined',
    ],
    [{ input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', 'unsupported_value', 'tools[0].type "web_search" is not supported: this server offers function tools only'],
    [{ input: 'x', tools: [{ type: 'function', function: { name: 'a' } }] }, 'tools[0].name', 'missing_required_parameter', 'tools[0].name must be a string, got undefined'],
    [{ input: 'x', tool_choice: 'required' }, 'tool_choice', 'invalid_value', 'tool_choice needs tools: this request offers no functions to call'],
    [{ input: 'x', background: true }, 'background', 'unsupported_parameter', 'background: background responses are not supported; send the request and wait, or stream it'],
    [{ input: 'x', store: 'yes' }, 'store', 'invalid_type', 'store must be a boolean, got a string'],
    [{ input: [{ role: 'assistant', content: 'Hi' }] }, 'input', 'invalid_value', 'The conversation must contain at least one user message'],
  ])('%j → 400 %s', async (body, param, code, message) => {
    const { engine } = await setup()
    const response = await create(body)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ error: { type: 'invalid_request_error', param, code, message } })
    expect(engine.requests).toHaveLength(0)
  })

  it('survives malformed Responses bodies (items, parts, tools, formats, conversations) with zero 5xx, each refusal an OpenAI error naming its param', async () => {
    const { engine } = await setup()
    const stored = (await create({ input: 'Hi', tools: [{ type: 'function', name: 'f' }] })).json().id
    const random = createRandom(2121)
    const pick = <T>(options: T[]): T => options[Math.floor(random() * options.length)]!
    // Each optional field is left out more often than not, so that some requests get through to the engine.
    const sometimes = (value: () => unknown): unknown => (random() < 0.3 ? value() : undefined)
    const junk = (): unknown =>
      pick<unknown>([null, 0, -1, 1e308, '', 'x', [], {}, [[]], true, '\u0000', { type: 'input_image' }, { type: 'message' }, { type: 'function_call_output' }])
    const part = (): unknown =>
      pick<() => unknown>([
        () => ({ type: 'input_text', text: pick<unknown>(['hi', 5, null]) }),
        () => ({
          type: 'input_image',
          image_url: pick<unknown>([pngUrl, 'data:image/png;base64,AAAA', 'http://169.254.169.254/', 7, null]),
          detail: pick<unknown>([undefined, 'low', 'ultra']),
        }),
        () => ({ type: 'input_image', file_id: pick<unknown>(['file-x', 3]) }),
        () => ({ type: 'input_file', file_data: pick<unknown>(['data:application/pdf;base64,JVBERi0=', 'AAAA', 1]), filename: pick<unknown>([undefined, 'a.pdf', 2]) }),
        () => ({ type: pick<unknown>(['output_text', 'refusal', 'input_audio', 1]), text: 'x', refusal: 'no' }),
        junk,
      ])()
    const item = (): unknown =>
      pick<() => unknown>([
        () => ({
          role: pick<unknown>(['user', 'user', 'assistant', 'system', 'developer', 'tool', 3]),
          content: pick<unknown>(['hello', [part()], [part(), part()], null, junk()]),
        }),
        () => ({ type: 'function_call', call_id: pick<unknown>(['c1', 1]), name: pick<unknown>(['f', undefined]), arguments: pick<unknown>(['{}', {}]) }),
        () => ({ type: 'function_call_output', call_id: pick<unknown>(['c1', 'c2', undefined]), output: pick<unknown>(['ok', [part()], 5]) }),
        () => ({ type: pick<unknown>(['reasoning', 'item_reference', 'web_search_call', 0]) }),
        junk,
      ])()
    const serverErrors: string[] = []
    let refused = 0
    for (let i = 0; i < 200; i++) {
      const body: Record<string, unknown> = {
        input: pick<unknown>(['Hi', [item()], [{ role: 'user', content: 'Hi' }, item()], [item(), item(), item()], junk()]),
        instructions: sometimes(() => pick<unknown>([undefined, 'Be brief', 5])),
        max_output_tokens: sometimes(() => pick<unknown>([undefined, 4, 0, 'x'])),
        text: sometimes(() =>
          pick<unknown>([
            undefined,
            { format: { type: 'json_schema', name: 'a', schema: pick<unknown>([{ type: 'object' }, [], { a: { a: { a: {} } } }]) } },
            { format: { type: pick<unknown>(['text', 'json_object', 'xml']) } },
            junk(),
          ]),
        ),
        tools: sometimes(() =>
          pick<unknown>([
            undefined,
            [{ type: 'function', name: 'f', parameters: pick<unknown>([{ type: 'object' }, 'x', { type: 'string', pattern: '(*x)' }]) }],
            [{ type: 'file_search' }],
            junk(),
          ]),
        ),
        tool_choice: sometimes(() => pick<unknown>([undefined, 'auto', 'required', { type: 'function', name: pick<unknown>(['f', 'g']) }, junk()])),
        previous_response_id: sometimes(() => pick<unknown>([undefined, undefined, stored, 'resp_nope', junk()])),
        store: sometimes(() => pick<unknown>([undefined, false, 'yes'])),
        stream: sometimes(() => pick<unknown>([undefined, false, true, 'no'])),
        include: sometimes(() => pick<unknown>([undefined, ['message.output_text.logprobs'], 'x'])),
      }
      const response = await create(body)
      if (response.statusCode >= 500) serverErrors.push(`case ${i}: ${response.statusCode} ${response.body} for ${JSON.stringify(body).slice(0, 400)}`)
      else if (response.statusCode !== 200) {
        refused++
        expect(response.json()).toMatchObject({
          error: { message: expect.any(String), type: expect.stringMatching(/^(invalid_request_error|not_found_error)$/), param: expect.any(String) },
        })
      }
    }
    expect(serverErrors).toEqual([])
    expect(refused).toBeGreaterThan(100)
    expect(engine.requests.length).toBeGreaterThan(1)
    expect((await create({ input: 'Still there?' })).statusCode).toBe(200)
  }, 60_000)

  it('refuses an input_image file_id that names no upload, with the image wording', async () => {
    await setup()
    const response = await create({ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-nope' }] }] })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      type: 'invalid_request_error',
      code: 'file_not_found',
      param: 'input[0].content[0].file_id',
      message: 'Invalid image data in input[0].content[0]: no uploaded file has the id "file-nope"',
    })
  })
})
