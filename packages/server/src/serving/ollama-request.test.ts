import { describe, expect, it } from 'vitest'
import { ApiError } from '../errors.js'
import { parseOllamaChat, parseOllamaGenerate } from './ollama-request.js'

const models = ['qwen3-vl-4b-instruct']
const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='

/** The 400 (or 404) a body gets: its status and message, as Ollama's clients show them. */
function refusal(parse: () => unknown): { status: number; message: string } {
  try {
    parse()
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, message: error.message }
    throw error
  }
  throw new Error('the body was accepted')
}

describe('parseOllamaChat', () => {
  it('maps messages with base64 images (images before the text), options, format and stream', () => {
    const parsed = parseOllamaChat(
      {
        model: 'qwen3-vl-4b-instruct:latest',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'What is this?', images: [png] },
        ],
        format: 'json',
        options: { temperature: 0.2, num_predict: 64, top_p: 0.9, top_k: 40, seed: 7, stop: ['\n\n'], num_ctx: 8192, num_gpu: 99, mirostat: 0 },
        keep_alive: '5m',
        think: false,
        stream: false,
      },
      models,
    )
    expect(parsed.name).toBe('qwen3-vl-4b-instruct:latest')
    expect(parsed.loadOnly).toBe(false)
    expect(parsed.request).toEqual({
      model: 'qwen3-vl-4b-instruct',
      messages: [
        { role: 'system', parts: [{ type: 'text', text: 'Be brief.' }] },
        {
          role: 'user',
          parts: [
            { type: 'image', url: png, detail: 'auto', where: 'messages[1].images[0]' },
            { type: 'text', text: 'What is this?' },
          ],
        },
      ],
      sampling: {
        maxTokens: 64,
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        minP: undefined,
        repeatPenalty: undefined,
        presencePenalty: undefined,
        frequencyPenalty: undefined,
        seed: 7,
        stop: ['\n\n'],
        jsonSchema: { type: 'object' },
        logprobs: undefined,
      },
      stream: false,
      includeUsage: false,
    })
  })

  it('streams unless stream is false, as Ollama does', () => {
    expect(parseOllamaChat({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'hi' }] }, models).request.stream).toBe(true)
    expect(parseOllamaChat({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'hi' }], stream: null }, models).request.stream).toBe(true)
  })

  it('takes a JSON schema as format, and -1 or -2 as num_predict (the server default)', () => {
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] }
    const { sampling } = parseOllamaChat(
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'hi' }], format: schema, options: { num_predict: -1, seed: -1 } },
      models,
    ).request
    expect(sampling.jsonSchema).toEqual(schema)
    expect(sampling.maxTokens).toBeUndefined()
    // A negative seed is Ollama's "random".
    expect(sampling.seed).toBeUndefined()
  })

  it('reads an empty or absent messages list as Ollama\'s "load the model" call', () => {
    expect(parseOllamaChat({ model: 'qwen3-vl-4b-instruct' }, models).loadOnly).toBe(true)
    expect(parseOllamaChat({ model: 'qwen3-vl-4b-instruct', messages: [] }, models).loadOnly).toBe(true)
  })

  it("maps Ollama's tool calls (arguments as an object, no ids) and answers each tool message's call", () => {
    const parsed = parseOllamaChat(
      {
        model: 'qwen3-vl-4b-instruct',
        tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        messages: [
          { role: 'user', content: 'Weather in Oslo and Lima?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Oslo' } } }, { function: { name: 'get_weather', arguments: { city: 'Lima' } } }],
          },
          { role: 'tool', content: '12 °C', tool_name: 'get_weather' },
          { role: 'tool', content: '20 °C', tool_name: 'get_weather' },
        ],
      },
      models,
    )
    expect(parsed.request.tools).toEqual({
      functions: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      choice: 'auto',
      parallel: true,
    })
    const [, assistant, first, second] = parsed.request.messages
    expect(assistant!.toolCalls).toEqual([
      { id: 'call_1_0', name: 'get_weather', arguments: '{"city":"Oslo"}' },
      { id: 'call_1_1', name: 'get_weather', arguments: '{"city":"Lima"}' },
    ])
    expect(first).toEqual({ role: 'tool', parts: [{ type: 'text', text: '12 °C' }], toolCallId: 'call_1_0' })
    expect(second!.toolCallId).toBe('call_1_1')
  })

  it.each([
    ['no model', { messages: [{ role: 'user', content: 'hi' }] }, 400, 'model is required'],
    ['an unknown model', { model: 'llama3.2', messages: [] }, 404, 'model "llama3.2" not found: this server serves qwen3-vl-4b-instruct:latest (Visto cannot pull models)'],
    ['messages that are not an array', { model: 'qwen3-vl-4b-instruct', messages: 'hi' }, 400, 'messages must be an array of {role, content}, got a string'],
    ['no user message', { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'system', content: 'x' }] }, 400, 'messages must contain at least one user message'],
    [
      'an unknown role',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'robot', content: 'x' }] },
      400,
      'messages[0].role must be "system", "user", "assistant" or "tool", got "robot"',
    ],
    [
      "content parts (OpenAI's shape)",
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] },
      400,
      'messages[0].content must be a string, got an array',
    ],
    [
      'an image that is not a string',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x', images: [12] }] },
      400,
      'messages[0].images[0] must be a base64-encoded image string, got a number',
    ],
    [
      'an image URL',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x', images: ['https://example.com/a.png'] }] },
      400,
      "messages[0].images[0] is a URL; Ollama's images are the image's bytes as base64, not addresses",
    ],
    [
      'an image in an assistant message',
      {
        model: 'qwen3-vl-4b-instruct',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: 'y', images: [png] },
        ],
      },
      400,
      'Images are only accepted in user and tool messages; messages[1].images is in an assistant message',
    ],
    ['think: true', { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], think: true }, 400, '"qwen3-vl-4b-instruct" does not support thinking'],
    [
      'a format that is neither "json" nor a schema',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], format: 'xml' },
      400,
      'format must be "json" or a JSON schema object, got "xml"',
    ],
    [
      'options that are not an object',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], options: [1] },
      400,
      'options must be an object of model parameters, got an array',
    ],
    [
      'a temperature that is a string',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], options: { temperature: 'hot' } },
      400,
      'options.temperature must be a number, got a string',
    ],
    [
      'num_predict 0',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], options: { num_predict: 0 } },
      400,
      'options.num_predict must be at least 1 (or -1 for no limit of its own), got 0',
    ],
    [
      'stop as a number',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], options: { stop: 3 } },
      400,
      'options.stop must be an array of strings, got a number',
    ],
    [
      'keep_alive as an object',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x' }], keep_alive: {} },
      400,
      'keep_alive must be a duration ("5m") or a number of seconds, got an object',
    ],
    [
      'tool_calls in a user message',
      { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'x', tool_calls: [] }] },
      400,
      'messages[0].tool_calls is only accepted in assistant messages',
    ],
    [
      'a tool call without a function',
      {
        model: 'qwen3-vl-4b-instruct',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: '', tool_calls: [{ name: 'f' }] },
        ],
      },
      400,
      'messages[1].tool_calls[0].function must be an object with "name" and "arguments", got undefined',
    ],
    [
      'a tool result for a call nobody made',
      {
        model: 'qwen3-vl-4b-instruct',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'tool', content: '1', tool_call_id: 'call_9' },
        ],
      },
      400,
      'messages[1] answers the tool call "call_9", which no earlier assistant message made',
    ],
  ])('refuses %s', (_label, body, status, message) => {
    expect(refusal(() => parseOllamaChat(body, models))).toEqual({ status, message })
  })
})

describe('parseOllamaGenerate', () => {
  it('makes the prompt and its images one user message, after the system prompt', () => {
    const parsed = parseOllamaGenerate({ model: 'qwen3-vl-4b-instruct', prompt: 'Describe it.', system: 'You see well.', images: [png], options: { num_predict: 8 } }, models)
    expect(parsed.loadOnly).toBe(false)
    expect(parsed.request.messages).toEqual([
      { role: 'system', parts: [{ type: 'text', text: 'You see well.' }] },
      {
        role: 'user',
        parts: [
          { type: 'image', url: png, detail: 'auto', where: 'images[0]' },
          { type: 'text', text: 'Describe it.' },
        ],
      },
    ])
    expect(parsed.request.sampling.maxTokens).toBe(8)
    expect(parsed.request.stream).toBe(true)
  })

  it('reads no prompt and no images as the "load the model" call', () => {
    expect(parseOllamaGenerate({ model: 'qwen3-vl-4b-instruct' }, models).loadOnly).toBe(true)
    expect(parseOllamaGenerate({ model: 'qwen3-vl-4b-instruct', prompt: '', raw: false }, models).loadOnly).toBe(true)
  })

  it.each([
    ['raw: true', { raw: true }, 'raw is not supported: Visto always renders the prompt through the model\'s own chat template; send it without "raw"'],
    ['a suffix', { suffix: '    return x' }, 'suffix is not supported: the model Visto serves does not fill in the middle; send the text before the gap as the prompt'],
    ['a template', { template: '{{ .Prompt }}' }, "template is not supported: Visto renders every prompt with the model's own chat template"],
    ['a context', { context: [1, 2, 3] }, 'context is not supported: send the conversation as messages to /api/chat instead'],
    ['a prompt that is not a string', { prompt: ['a'] }, 'prompt must be a string, got an array'],
    ['images that are not an array', { images: 'abc' }, 'images must be an array of base64-encoded images, got a string'],
  ])('refuses %s with a 400 that says so', (_label, extra, message) => {
    expect(refusal(() => parseOllamaGenerate({ model: 'qwen3-vl-4b-instruct', prompt: 'hi', ...extra }, models))).toEqual({ status: 400, message })
  })
})
