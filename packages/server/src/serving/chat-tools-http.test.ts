import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { EngineEvent, TokenLogprob } from '../engines/engine.js'
import { ScriptedEngine, type Script } from '../../../../test-support/scripted-engine.js'
import { closeApp } from '../../../../test-support/close-app.js'

// How tool calls, logprobs and several choices become OpenAI responses and chunks. The
// engine is scripted: this is the serving side's assembly, not the model's behaviour
// (e2e/tools-logprobs-choices.test.ts runs the real engine).

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

const token = (text: string, logprob: number): TokenLogprob => ({
  token: text,
  logprob,
  bytes: [...Buffer.from(text)],
  top: [{ token: text, logprob, bytes: [...Buffer.from(text)] }],
})

function scripted(events: EngineEvent[]): Script {
  return async function* () {
    yield* events
  }
}

async function setup(script: Script, options: Record<string, number | string> = {}) {
  const engine = new ScriptedEngine(script)
  app = (await composeServer(serveConfig({ parallel: 1, 'response-cache': 'all', ...options }), { engine, metrics: { processMetrics: false } })).app
  return engine
}

const post = (body: object, headers: Record<string, string> = {}) => app!.inject({ method: 'POST', url: '/v1/chat/completions', payload: body, headers })
const chunks = (body: string) =>
  body
    .split('\n\n')
    .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ index: number; delta: Record<string, unknown>; logprobs: unknown; finish_reason: string | null }>; usage?: unknown })

const weather = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }
const ask = { messages: [{ role: 'user', content: 'Weather?' }], tools: [weather] }
const twoCalls: EngineEvent[] = [
  { type: 'accepted' },
  { type: 'tool_call', index: 0, id: 'call_a', name: 'get_weather' },
  { type: 'tool_call_arguments', index: 0, text: '{"city":' },
  { type: 'tool_call_arguments', index: 0, text: '"Oslo"}' },
  { type: 'tool_call', index: 1, id: 'call_b', name: 'get_weather' },
  { type: 'tool_call_arguments', index: 1, text: '{"city":"Lima"}' },
  { type: 'done', finishReason: 'tool_calls', promptTokens: 12, completionTokens: 9 },
]

describe('tool calls through serving', () => {
  it('answers calls alone with content null, tool_calls and finish_reason "tool_calls"', async () => {
    await setup(scripted(twoCalls))
    const response = await post(ask)
    expect(response.statusCode).toBe(200)
    expect(response.json().choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lima"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ])
  })

  it('streams OpenAI tool_calls deltas: id, type and name first, then argument pieces', async () => {
    await setup(scripted(twoCalls))
    const deltas = chunks((await post({ ...ask, stream: true })).body).map((c) => [c.choices[0]!.delta, c.choices[0]!.finish_reason])
    expect(deltas).toEqual([
      [{ role: 'assistant', content: '' }, null],
      [{ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, null],
      [{ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }, null],
      [{ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }, null],
      [{ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, null],
      [{ tool_calls: [{ index: 1, function: { arguments: '{"city":"Lima"}' } }] }, null],
      [{}, 'tool_calls'],
    ])
  })

  it('offers the engine the tools, except for tool_choice "none"; sends earlier calls and results along', async () => {
    const engine = await setup(scripted([{ type: 'accepted' }, { type: 'text', text: 'ok' }, { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 1 }]))
    const history = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_a', content: 'sunny' },
    ]
    await post({ messages: history, tools: [weather], tool_choice: 'required', parallel_tool_calls: false })
    expect(engine.requests[0]!.tools).toEqual({ functions: [{ name: 'get_weather', parameters: { type: 'object' } }], choice: 'required', parallel: false })
    expect(engine.requests[0]!.messages.slice(1)).toEqual([
      { role: 'assistant', content: [], toolCalls: [{ id: 'call_a', name: 'get_weather', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'call_a', content: [{ type: 'text', text: 'sunny' }] },
    ])
    await post({ messages: history, tools: [weather], tool_choice: 'none' })
    expect(engine.requests[1]!.tools).toBeUndefined()
  })

  it('replays a cached answer with calls exactly, and keys tools and tool_choice apart', async () => {
    const engine = await setup(scripted(twoCalls))
    const first = await post({ ...ask, temperature: 0 })
    const again = await post({ ...ask, temperature: 0 })
    expect(again.headers['x-visto-cache']).toBe('hit')
    expect(again.json().choices).toEqual(first.json().choices)
    const streamedHit = chunks((await post({ ...ask, temperature: 0, stream: true })).body)
    expect(streamedHit.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls')
    expect(streamedHit[1]!.choices[0]!.delta).toEqual({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] })
    expect(engine.requests).toHaveLength(1)
    await post({ ...ask, temperature: 0, tool_choice: 'required' })
    await post({ ...ask, temperature: 0, tools: [{ type: 'function', function: { name: 'other' } }] })
    await post({ ...ask, temperature: 0, parallel_tool_calls: false })
    expect(engine.requests).toHaveLength(4)
  })
})

describe('logprobs and n through serving', () => {
  const withLogprobs: EngineEvent[] = [
    { type: 'accepted' },
    { type: 'logprobs', tokens: [token('Hi', -0.5)] },
    { type: 'text', text: 'Hi' },
    { type: 'logprobs', tokens: [token('!', -1.25)] },
    { type: 'text', text: '!' },
    { type: 'done', finishReason: 'stop', promptTokens: 3, completionTokens: 2 },
  ]

  it('returns logprobs content in OpenAI shape, and the same tokens in the chunks of their text', async () => {
    await setup(scripted(withLogprobs))
    const whole = (await post({ messages: ask.messages, logprobs: true, top_logprobs: 1 })).json()
    expect(whole.choices[0].logprobs).toEqual({
      content: [
        { token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105] }] },
        { token: '!', logprob: -1.25, bytes: [33], top_logprobs: [{ token: '!', logprob: -1.25, bytes: [33] }] },
      ],
      refusal: null,
    })
    const streamed = chunks((await post({ messages: ask.messages, logprobs: true, top_logprobs: 1, stream: true }, { 'cache-control': 'no-store' })).body)
    expect(streamed.map((c) => [c.choices[0]!.delta.content, (c.choices[0]!.logprobs as { content: unknown[] } | null)?.content.length ?? 0])).toEqual([
      ['', 0],
      ['Hi', 1],
      ['!', 1],
      [undefined, 0],
    ])
  })

  it('runs n generations one after another in one slot, the seed moving on per choice, usage summed', async () => {
    let call = 0
    const engine = await setup(async function* (request) {
      const text = `answer ${call++} seed ${request.sampling.seed}`
      yield { type: 'accepted' }
      yield { type: 'text', text }
      yield { type: 'done', finishReason: 'length', promptTokens: 10, completionTokens: 4 }
    })
    const body = { messages: ask.messages, n: 3, seed: 4294967295 }
    const whole = (await post(body)).json()
    expect(whole.choices.map((c: { index: number; message: { content: string } }) => [c.index, c.message.content])).toEqual([
      [0, 'answer 0 seed 4294967295'],
      [1, 'answer 1 seed 0'],
      [2, 'answer 2 seed 1'],
    ])
    expect(whole.usage).toEqual({ prompt_tokens: 10, completion_tokens: 12, total_tokens: 22 })
    expect(engine.requests).toHaveLength(3)

    const streamed = chunks((await post({ ...body, stream: true, stream_options: { include_usage: true } }, { 'cache-control': 'no-store' })).body)
    expect(streamed.map((c) => (c.choices[0] ? [c.choices[0].index, c.choices[0].delta.content ?? c.choices[0].finish_reason] : c.usage))).toEqual([
      [0, ''],
      [0, 'answer 3 seed 4294967295'],
      [0, 'length'],
      [1, ''],
      [1, 'answer 4 seed 0'],
      [1, 'length'],
      [2, ''],
      [2, 'answer 5 seed 1'],
      [2, 'length'],
      { prompt_tokens: 10, completion_tokens: 12, total_tokens: 22 },
    ])
    // A hit replays every choice.
    const hit = await post(body)
    expect(hit.headers['x-visto-cache']).toBe('hit')
    expect(hit.json().choices).toEqual(whole.choices)
  })

  it('refuses n over --max-n with 400 before the engine', async () => {
    const engine = await setup(scripted(withLogprobs), { 'max-n': 2 })
    const response = await post({ messages: ask.messages, n: 3 })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'n is 3, the limit is 2 choices per request (--max-n); send several requests instead',
      type: 'invalid_request_error',
      param: 'n',
      code: 'too_many_choices',
    })
    expect(engine.requests).toHaveLength(0)
  })
})
