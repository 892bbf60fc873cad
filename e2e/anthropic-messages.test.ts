/**
 * Anthropic's Messages API on the real engine (tiny stand-in), through the official
 * `@anthropic-ai/sdk` client: text and images, streamed and not, forced tool use and a
 * tool_result with an image, count_tokens against the real usage, errors as the SDK's
 * own classes.
 */
import Anthropic from '@anthropic-ai/sdk'
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { testImage } from '@visto/testkit/images/test-images'
import { textPdf } from '../test-support/pdfs.js'
import { startTinyServer } from '../test-support/in-process-server.js'

const KEY = 'sk-visto-anthropic-e2e'
let server: RunningServer
let client: Anthropic
let jpeg: string

beforeAll(async () => {
  server = await startTinyServer(['--ctx-size', '4096', '--api-key', KEY])
  // The SDK appends /v1/messages itself: the base is the server's own address.
  client = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 })
  jpeg = (await testImage(128, 128)).toString('base64')
})
afterAll(async () => {
  await server?.shutdown()
})

const model = 'qwen3-vl-4b-instruct'
const fresh = { headers: { 'cache-control': 'no-store' } }
// Anthropic deprecated `temperature` and the SDK's types dropped it; clients still send it
// and Visto reads it: 0 makes the stand-in's answers repeat.
const greedy = { temperature: 0 } as object

function lookAt(image: string): MessageParam[] {
  return [
    {
      role: 'user',
      content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: image } },
        { type: 'text', text: 'What is in this picture?' },
      ],
    },
  ]
}

// Bounded arguments, so the random-weight stand-in finishes its constrained call within max_tokens.
const zoom: Tool = {
  name: 'zoom_in',
  description: 'Zoom into a region of the screenshot.',
  input_schema: { type: 'object', properties: { corner: { type: 'string', enum: ['top-left', 'bottom-right'] } }, required: ['corner'], additionalProperties: false },
}

describe('Anthropic Messages API on the real engine (official @anthropic-ai/sdk)', () => {
  it('answers a text+image message, and streams the same answer through messages.stream → finalMessage', async () => {
    const params = { model, max_tokens: 8, ...greedy, system: 'You describe images.', messages: lookAt(jpeg) }
    const message = await client.messages.create(params)
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model, stop_reason: 'max_tokens', stop_sequence: null })
    expect(message.id).toMatch(/^msg_[0-9a-f]{24}$/)
    expect(message.content).toHaveLength(1)
    expect(message.content[0]).toMatchObject({ type: 'text', text: expect.any(String) })
    expect(message.usage.output_tokens).toBe(8)
    // 128×128 is 16 image tokens and two frame markers, on top of the text.
    expect(message.usage.input_tokens).toBeGreaterThan(18)

    const events: string[] = []
    const stream = client.messages.stream(params, fresh)
    stream.on('streamEvent', (event) => events.push(event.type))
    const final = await stream.finalMessage()
    expect(final.content).toEqual(message.content)
    expect(final.usage).toMatchObject({ input_tokens: message.usage.input_tokens, output_tokens: 8 })
    expect(final.stop_reason).toBe('max_tokens')
    expect(events[0]).toBe('message_start')
    expect(events.slice(-4)).toEqual(['content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    expect(await stream.finalText()).toBe((message.content[0] as Anthropic.TextBlock).text)
  })

  it('stop_sequences: the answer ends before the first one it meets, stop_reason "stop_sequence" naming it, streamed and from the cache too', async () => {
    const story: MessageParam[] = [{ role: 'user', content: 'Tell me a story.' }]
    const full = await client.messages.create({ model, max_tokens: 24, ...greedy, messages: story })
    const text = (full.content[0] as Anthropic.TextBlock).text
    const stop = text.slice(8, 11)
    expect(stop).toHaveLength(3)
    const params = { model, max_tokens: 24, ...greedy, messages: story, stop_sequences: ['never-in-this-text', stop] }
    const stopped = await client.messages.create(params)
    expect(stopped).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop, content: [{ type: 'text', text: text.slice(0, text.indexOf(stop)) }] })
    const streamed = await client.messages.stream(params, fresh).finalMessage()
    expect(streamed).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop, content: stopped.content })
    const { data: again, response } = await client.messages.create(params).withResponse()
    expect(response.headers.get('x-visto-cache')).toBe('hit')
    expect(again).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: stop, content: stopped.content })
  })

  it('count_tokens equals the input_tokens of the same request, images and tools included', async () => {
    const messages: MessageParam[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these two.' },
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: jpeg } },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: (await testImage(96, 160, 'png')).toString('base64') } },
        ],
      },
    ]
    const counted = await client.messages.countTokens({ model, system: 'Be brief.', messages })
    const answered = await client.messages.create({ model, system: 'Be brief.', messages, max_tokens: 1 }, fresh)
    expect(counted.input_tokens).toBe(answered.usage.input_tokens)

    const withTool = { model, messages: lookAt(jpeg), tools: [zoom], tool_choice: { type: 'tool' as const, name: 'zoom_in' } }
    const countedTool = await client.messages.countTokens(withTool)
    const answeredTool = await client.messages.create({ ...withTool, max_tokens: 1 }, fresh)
    expect(countedTool.input_tokens).toBe(answeredTool.usage.input_tokens)
    expect(countedTool.input_tokens).toBeGreaterThan(counted.input_tokens - 40)
  })

  it('tool_choice {type: "tool"} gives a tool_use block with parseable input; a tool_result with an image continues the conversation', async () => {
    const ask: MessageParam[] = [{ role: 'user', content: 'Look at my screen and zoom in on the error.' }]
    const called = await client.messages.create({ model, max_tokens: 100, messages: ask, tools: [zoom], tool_choice: { type: 'tool', name: 'zoom_in' } })
    expect(called.stop_reason).toBe('tool_use')
    const use = called.content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use')
    expect(use).toBeDefined()
    expect(use!.id).toMatch(/^toolu_/)
    expect(use!.name).toBe('zoom_in')
    expect(use!.input).toEqual({ corner: expect.stringMatching(/^(top-left|bottom-right)$/) })

    // Streamed, the SDK assembles the same kind of block from input_json_delta.
    const streamed = await client.messages.stream({ model, max_tokens: 100, messages: ask, tools: [zoom], tool_choice: { type: 'any' } }, fresh).finalMessage()
    expect(streamed.stop_reason).toBe('tool_use')
    expect(streamed.content.find((block) => block.type === 'tool_use')).toMatchObject({ type: 'tool_use', name: 'zoom_in', input: { corner: expect.any(String) } })

    const history: MessageParam[] = [
      ...ask,
      { role: 'assistant', content: called.content },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: use!.id,
            content: [
              { type: 'text', text: 'Here is the zoomed region.' },
              { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: jpeg } },
            ],
          },
        ],
      },
    ]
    const next = await client.messages.create({ model, max_tokens: 8, ...greedy, messages: history, tools: [zoom] })
    expect(['end_turn', 'max_tokens', 'tool_use']).toContain(next.stop_reason)
    // The image in the tool result reached the model: 16 image tokens and their markers.
    const textOnly = history.map(
      (m, i): MessageParam => (i === 2 ? { role: 'user', content: [{ type: 'tool_result', tool_use_id: use!.id, content: 'Here is the zoomed region.' }] } : m),
    )
    const without = await client.messages.countTokens({ model, messages: textOnly, tools: [zoom] })
    expect(next.usage.input_tokens - without.input_tokens).toBeGreaterThanOrEqual(16)
  })

  it('reads a base64 PDF document block', async () => {
    const pdf = (await textPdf(1)).toString('base64')
    const message = await client.messages.create({
      model,
      max_tokens: 4,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    })
    expect(message.usage.output_tokens).toBeGreaterThan(0)
    const textOnly = await client.messages.countTokens({ model, messages: [{ role: 'user', content: 'Summarise.' }] })
    // The page arrived as an image: far more prompt than the text alone.
    expect(message.usage.input_tokens - textOnly.input_tokens).toBeGreaterThan(8)
  })

  it('refuses bad input with the SDK’s own error classes and Anthropic’s error body', async () => {
    const noMax = await client.messages.create({ model, messages: lookAt(jpeg) } as never).catch((e: unknown) => e)
    expect(noMax).toBeInstanceOf(Anthropic.BadRequestError)
    expect((noMax as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'max_tokens is required: the most tokens the answer may have, a whole number of at least 1' },
    })
    const badImage = await client.messages.create({ model, max_tokens: 4, messages: lookAt('bm90IGFuIGltYWdl') }).catch((e: unknown) => e)
    expect(badImage).toBeInstanceOf(Anthropic.BadRequestError)
    expect((badImage as Error).message).toContain('Invalid image data')
    const unknownModel = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 4, messages: lookAt(jpeg) }).catch((e: unknown) => e)
    expect(unknownModel).toBeInstanceOf(Anthropic.NotFoundError)
    expect((unknownModel as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } })
    const wrongKey = await new Anthropic({ baseURL: server.url, apiKey: 'sk-wrong', maxRetries: 0 }).messages
      .countTokens({ model, messages: lookAt(jpeg) })
      .catch((e: unknown) => e)
    expect(wrongKey).toBeInstanceOf(Anthropic.AuthenticationError)
  })
})
