import OpenAI from 'openai'
import type { FunctionTool, ResponseCreateParamsNonStreaming, ResponseInputItem } from 'openai/resources/responses/responses'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'

// The Responses API on the real engine (tiny stand-in), through the official openai
// client: create with an image, the stream helper, retrieve/delete/input_items, a
// two-turn conversation by previous_response_id about one image, function tools.

let server: RunningServer
let client: OpenAI
let jpeg: string

beforeAll(async () => {
  server = await startTinyServer(['--ctx-size', '4096'])
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  jpeg = dataUrl(await testImage(128, 128))
})
afterAll(async () => {
  await server?.shutdown()
})

const model = 'qwen3-vl-4b-instruct'
// Visto's extension: the stand-in always writes max_output_tokens tokens, so counts are exact.
const untilMax = { ignore_eos: true } as object
const fresh = { headers: { 'cache-control': 'no-store' } }

function imageQuestion(text: string, image: string | undefined): ResponseInputItem[] {
  return [{ role: 'user', content: [{ type: 'input_text', text }, ...(image ? [{ type: 'input_image' as const, image_url: image, detail: 'low' as const }] : [])] }]
}

describe('the Responses API on the real engine (official openai client)', () => {
  it('responses.create with an image: a stored response object whose usage counts the image', async () => {
    const withImage = await client.responses.create({
      model,
      input: imageQuestion('What is in this picture?', jpeg),
      max_output_tokens: 8,
      ...untilMax,
    } as ResponseCreateParamsNonStreaming)
    expect(withImage.id).toMatch(/^resp_/)
    expect(withImage.object).toBe('response')
    // Cut at max_output_tokens, as OpenAI reports it.
    expect(withImage.status).toBe('incomplete')
    expect(withImage.incomplete_details).toEqual({ reason: 'max_output_tokens' })
    expect(withImage.output).toHaveLength(1)
    const message = withImage.output[0]!
    expect(message.type).toBe('message')
    expect(message.type === 'message' && message.content[0]!.type).toBe('output_text')
    expect(withImage.output_text).toBe(message.type === 'message' && message.content[0]!.type === 'output_text' ? message.content[0]!.text : undefined)
    expect(withImage.output_text.length).toBeGreaterThan(0)
    expect(withImage.usage).toMatchObject({ output_tokens: 8, total_tokens: withImage.usage!.input_tokens + 8 })
    const textOnly = await client.responses.create({
      model,
      input: imageQuestion('What is in this picture?', undefined),
      max_output_tokens: 8,
      store: false,
      ...untilMax,
    } as ResponseCreateParamsNonStreaming)
    expect(withImage.usage!.input_tokens - textOnly.usage!.input_tokens).toBeGreaterThan(16)

    const retrieved = await client.responses.retrieve(withImage.id)
    expect(retrieved.output).toEqual(withImage.output)
    expect(retrieved.usage).toEqual(withImage.usage)
    expect(retrieved.output_text).toBe(withImage.output_text)
    await expect(client.responses.retrieve(textOnly.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('.stream() with text.format json_schema: helper events in order, deltas that add up to finalResponse(), which retrieve returns stored', async () => {
    // A schema the grammar closes quickly, so even the random-weight stand-in completes (response.completed, not cut at the limit).
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false }
    const stream = client.responses.stream(
      { model, input: imageQuestion('Is there a picture?', jpeg), max_output_tokens: 40, text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } },
      fresh,
    )
    const deltas: string[] = []
    const names: string[] = []
    const sequence: number[] = []
    stream.on('event', (event) => {
      names.push(event.type)
      sequence.push(event.sequence_number)
    })
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta))
    const final = await stream.finalResponse()
    expect(names.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'])
    expect(names.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'])
    expect(sequence).toEqual(names.map((_, i) => i))
    expect(final.status).toBe('completed')
    const message = final.output[0]
    const text = message?.type === 'message' && message.content[0]?.type === 'output_text' ? message.content[0].text : undefined
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join('')).toBe(text)
    expect(Object.keys(JSON.parse(text!) as object)).toEqual(['ok'])
    const stored = await client.responses.retrieve(final.id)
    expect(stored.output_text).toBe(text)
    expect(stored.usage).toEqual(final.usage)
    expect(stored.text?.format).toEqual({ type: 'json_schema', name: 'answer', schema, strict: true })
  })

  it('input_items.list and delete', async () => {
    const response = await client.responses.create({ model, input: imageQuestion('Look.', jpeg), instructions: 'Be brief.', max_output_tokens: 2 })
    const items = await client.responses.inputItems.list(response.id)
    expect(items.data).toHaveLength(1)
    expect(items.data[0]).toMatchObject({
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [
        { type: 'input_text', text: 'Look.' },
        { type: 'input_image', image_url: jpeg, detail: 'low' },
      ],
    })
    await client.responses.delete(response.id)
    await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404, code: 'response_not_found' })
    await expect(client.responses.delete(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })

  it('a two-turn conversation about one image by previous_response_id: the second turn reads the image again', async () => {
    const first = await client.responses.create({
      model,
      input: imageQuestion('What colour is this?', jpeg),
      max_output_tokens: 6,
      ...untilMax,
    } as ResponseCreateParamsNonStreaming)
    const second = await client.responses.create({
      model,
      previous_response_id: first.id,
      input: 'And what shape?',
      max_output_tokens: 6,
      ...untilMax,
    } as ResponseCreateParamsNonStreaming)
    expect(second.previous_response_id).toBe(first.id)
    expect(second.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens + first.usage!.output_tokens)
    // The same conversation sent whole without the image: the difference is the image's tokens, as in the first turn.
    const firstWithoutImage = await client.responses.create({ model, input: imageQuestion('What colour is this?', undefined), max_output_tokens: 1, store: false })
    const secondWithoutImage = await client.responses.create({
      model,
      store: false,
      max_output_tokens: 1,
      input: [...imageQuestion('What colour is this?', undefined), { role: 'assistant', content: first.output_text }, { role: 'user', content: 'And what shape?' }],
    })
    const imageTokens = first.usage!.input_tokens - firstWithoutImage.usage!.input_tokens
    expect(imageTokens).toBeGreaterThan(16)
    expect(second.usage!.input_tokens - secondWithoutImage.usage!.input_tokens).toBe(imageTokens)
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' })
    expect(items.data.map((item) => item.type === 'message' && item.role)).toEqual(['user', 'assistant', 'user'])
  })

  it('function tools: tool_choice "required" gives a function_call item, and function_call_output continues the conversation', async () => {
    const weather: FunctionTool = {
      type: 'function',
      name: 'get_weather',
      description: 'The weather in a city, for some days.',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', enum: ['Paris', 'Oslo', 'Lima'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
        required: ['city', 'days'],
        additionalProperties: false,
      },
      strict: true,
    }
    const first = await client.responses.create({ model, input: 'What is the weather in Oslo this week?', tools: [weather], tool_choice: 'required', max_output_tokens: 200 })
    expect(first.status).toBe('completed')
    const call = first.output.find((item) => item.type === 'function_call')
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', status: 'completed', call_id: expect.stringMatching(/^call_/), id: expect.stringMatching(/^fc_/) })
    if (call?.type !== 'function_call') throw new Error('no call')
    const args = JSON.parse(call.arguments) as { city: string; days: number }
    expect(['Paris', 'Oslo', 'Lima']).toContain(args.city)
    expect(Object.keys(args).sort()).toEqual(['city', 'days'])

    const second = await client.responses.create({
      model,
      previous_response_id: first.id,
      tools: [weather],
      tool_choice: 'none',
      input: [{ type: 'function_call_output', call_id: call.call_id, output: JSON.stringify({ sky: 'clear', high: 21 }) }],
      max_output_tokens: 4,
    })
    expect(second.output.map((item) => item.type)).toEqual(['message'])
    // tool_choice "none" leaves the tools out of the prompt, as in chat; the call and its result are in it.
    const questionAlone = await client.responses.create({ model, input: 'What is the weather in Oslo this week?', store: false, max_output_tokens: 1 })
    expect(second.usage!.input_tokens).toBeGreaterThan(questionAlone.usage!.input_tokens + 10)
    const items = await client.responses.inputItems.list(second.id, { order: 'asc' })
    expect(items.data.map((item) => item.type)).toEqual(['message', 'function_call', 'function_call_output'])
  })

  it('refuses an unknown previous_response_id with a BadRequestError naming it', async () => {
    const error = await client.responses.create({ model, previous_response_id: 'resp_000000000000000000000000', input: 'Hi' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect(error).toMatchObject({ status: 400, code: 'previous_response_not_found', param: 'previous_response_id' })
  })
})
