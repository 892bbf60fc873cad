import type { ResponsesResponse, ResponsesStreamEvent } from '@visto/protocol'
import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import type { EngineEvent } from '../engines/engine.js'
import type { ChoiceEvent } from '../serving/choice-events.js'
import { ResponseEventStream } from './response-events.js'

const skeleton = { id: 'resp_1', object: 'response', status: 'in_progress', output: [], usage: null } as unknown as ResponsesResponse

async function* source(events: EngineEvent[]): AsyncGenerator<ChoiceEvent> {
  for (const event of events) yield { ...event, choice: 0 }
}

async function run(events: EngineEvent[], withLogprobs = false) {
  const finished: ResponsesResponse[] = []
  const stream = new ResponseEventStream(
    skeleton,
    (response) => finished.push(response),
    () => 42,
    withLogprobs,
  )
  const out: ResponsesStreamEvent[] = []
  for await (const event of stream.events(source(events))) out.push(event)
  return { out, finished, stream }
}

const token = (text: string) => ({ token: text, logprob: -0.5, bytes: [...Buffer.from(text)], top: [] })

describe('ResponseEventStream', () => {
  it('closes the message when a call begins, gives each item its own output_index, and stores before response.completed', async () => {
    const { out, finished } = await run([
      { type: 'accepted' },
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_call', index: 0, id: 'call_1', name: 'look' },
      { type: 'tool_call_arguments', index: 0, text: '{}' },
      { type: 'tool_call', index: 1, id: 'call_2', name: 'zoom' },
      { type: 'tool_call_arguments', index: 1, text: '{"x":1}' },
      { type: 'done', finishReason: 'tool_calls', promptTokens: 5, completionTokens: 7 },
    ])
    expect(out.map((e) => `${e.type}${'output_index' in e ? `@${e.output_index}` : ''}`)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added@0',
      'response.content_part.added@0',
      'response.output_text.delta@0',
      'response.output_text.done@0',
      'response.content_part.done@0',
      'response.output_item.done@0',
      'response.output_item.added@1',
      'response.function_call_arguments.delta@1',
      'response.function_call_arguments.done@1',
      'response.output_item.done@1',
      'response.output_item.added@2',
      'response.function_call_arguments.delta@2',
      'response.function_call_arguments.done@2',
      'response.output_item.done@2',
      'response.completed',
    ])
    expect(finished).toHaveLength(1)
    const completed = out.at(-1) as ResponsesStreamEvent & { response: ResponsesResponse }
    expect(completed.type).toBe('response.completed')
    expect(completed.response).toBe(finished[0])
    expect(
      completed.response.output.map((item) =>
        item.type === 'function_call' ? `${item.call_id}:${item.name}:${item.arguments}` : item.content[0]!.type === 'output_text' ? item.content[0]!.text : '',
      ),
    ).toEqual(['Let me check.', 'call_1:look:{}', 'call_2:zoom:{"x":1}'])
    expect(completed.response).toMatchObject({ status: 'completed', completed_at: 42, usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } })
  })

  it('puts logprobs on the delta of the text they scored and on the finished text', async () => {
    const { out } = await run(
      [
        { type: 'accepted' },
        { type: 'logprobs', tokens: [token('Hi')] },
        { type: 'text', text: 'Hi' },
        { type: 'logprobs', tokens: [token('!')] },
        { type: 'text', text: '!' },
        { type: 'done', finishReason: 'length', promptTokens: 1, completionTokens: 2 },
      ],
      true,
    )
    const deltas = out.filter((e) => e.type === 'response.output_text.delta')
    expect(deltas.map((e) => e.logprobs.map((l) => l.token))).toEqual([['Hi'], ['!']])
    const done = out.find((e) => e.type === 'response.output_item.done')
    expect(done && done.type === 'response.output_item.done' && done.item).toMatchObject({
      status: 'incomplete',
      content: [{ text: 'Hi!', logprobs: [{ token: 'Hi', logprob: -0.5, top_logprobs: [] }, { token: '!' }] }],
    })
    expect(out.at(-1)).toMatchObject({ type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } })
  })

  it('sends an empty message for an empty answer, and frames a later failure as error then response.failed, numbered on', async () => {
    const { out, stream } = await run([{ type: 'accepted' }, { type: 'done', finishReason: 'stop', promptTokens: 1, completionTokens: 0 }])
    expect(out.at(-1)).toMatchObject({ type: 'response.completed', response: { output: [{ type: 'message', content: [{ type: 'output_text', text: '' }] }] } })
    const frames = stream.format
      .errorFrame(new InvalidRequestError('too long', { code: 'context_length_exceeded', param: 'input' }))
      .split('\n\n')
      .filter(Boolean)
    expect(frames.map((frame) => frame.split('\n')[0])).toEqual(['event: error', 'event: response.failed'])
    const [error, failed] = frames.map((frame) => JSON.parse(frame.split('\n')[1]!.slice(6)))
    expect(error).toEqual({ type: 'error', code: 'context_length_exceeded', message: 'too long', param: 'input', sequence_number: out.length })
    expect(failed).toMatchObject({
      type: 'response.failed',
      sequence_number: out.length + 1,
      response: { status: 'failed', error: { code: 'context_length_exceeded', message: 'too long' } },
    })
    expect(stream.format.end).toBeNull()
  })
})
