import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import { parseChatRequest } from './chat-request.js'
import { defaultChatRequestLimits } from './request-limits.js'

const weather = { type: 'function', function: { name: 'get_weather', description: 'Weather now.', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }
const ask = [{ role: 'user', content: 'Weather in Oslo?' }]
const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }

function rejection(body: unknown, limits = defaultChatRequestLimits): { message: string; param: string | null; code: string | null } {
  try {
    parseChatRequest(body, limits)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    const e = error as InvalidRequestError
    return { message: e.message, param: e.param, code: e.code }
  }
  throw new Error('expected a rejection')
}

describe('parseChatRequest: tools', () => {
  it('reads tools into the job, tool_choice defaulting to auto and parallel calls allowed', () => {
    expect(parseChatRequest({ messages: ask, tools: [weather] }).tools).toEqual({
      functions: [{ name: 'get_weather', description: 'Weather now.', parameters: weather.function.parameters }],
      choice: 'auto',
      parallel: true,
    })
  })

  it('reads each tool_choice and parallel_tool_calls', () => {
    const choice = (tool_choice: unknown, extra = {}) =>
      parseChatRequest({ messages: ask, tools: [weather, { type: 'function', function: { name: 'other' } }], tool_choice, ...extra }).tools
    expect(choice('none')?.choice).toBe('none')
    expect(choice('required')?.choice).toBe('required')
    expect(choice({ type: 'function', function: { name: 'other' } })?.choice).toEqual({ name: 'other' })
    expect(choice('auto', { parallel_tool_calls: false })).toMatchObject({ choice: 'auto', parallel: false })
    expect(choice('auto')?.functions[1]).toEqual({ name: 'other' })
  })

  it('treats no tools, null and [] alike: no tools in the job', () => {
    expect(parseChatRequest({ messages: ask }).tools).toBeUndefined()
    expect(parseChatRequest({ messages: ask, tools: null, tool_choice: 'auto' }).tools).toBeUndefined()
    expect(parseChatRequest({ messages: ask, tools: [], tool_choice: 'none' }).tools).toBeUndefined()
  })

  it('reads an assistant message with tool_calls and the tool message answering it, images included', () => {
    const image = 'data:image/png;base64,AAAA'
    const parsed = parseChatRequest({
      messages: [
        ...ask,
        { role: 'assistant', content: null, tool_calls: [call] },
        {
          role: 'tool',
          tool_call_id: 'call_1',
          content: [
            { type: 'text', text: 'sunny' },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
      tools: [weather],
    })
    expect(parsed.messages[1]).toEqual({ role: 'assistant', parts: [], toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' }] })
    expect(parsed.messages[2]).toEqual({
      role: 'tool',
      toolCallId: 'call_1',
      parts: [
        { type: 'text', text: 'sunny' },
        { type: 'image', url: image, detail: 'auto', where: 'messages[2].content[1]' },
      ],
    })
  })

  it.each([
    [{ tools: { a: 1 } }, 'tools', 'tools must be an array of {"type": "function", "function": {...}}, got an object'],
    [{ tools: ['x'] }, 'tools[0]', 'tools[0] must be an object {"type": "function", "function": {...}}, got a string'],
    [{ tools: [{ type: 'code_interpreter' }] }, 'tools[0].type', 'tools[0].type must be "function", got "code_interpreter"'],
    [{ tools: [{ type: 'function' }] }, 'tools[0].function', 'tools[0].function must be an object with a "name", got undefined'],
    [{ tools: [{ type: 'function', function: { name: 12 } }] }, 'tools[0].function.name', 'tools[0].function.name must be a string, got a number'],
    [
      { tools: [{ type: 'function', function: { name: 'say hello' } }] },
      'tools[0].function.name',
      'tools[0].function.name must be 1 to 64 letters, digits, underscores or dashes, got "say hello"',
    ],
    [{ tools: [weather, weather] }, 'tools[1].function.name', 'tools[1].function.name "get_weather" is offered twice; function names must be unique'],
    [{ tools: [{ type: 'function', function: { name: 'f', description: 3 } }] }, 'tools[0].function.description', 'tools[0].function.description must be a string, got a number'],
    [
      { tools: [{ type: 'function', function: { name: 'f', parameters: 'any' } }] },
      'tools[0].function.parameters',
      'tools[0].function.parameters must be a JSON schema object, got a string',
    ],
    [{ tools: Array.from({ length: 129 }, (_, i) => ({ type: 'function', function: { name: `f${i}` } })) }, 'tools', 'Too many tools: 129 in this request, the limit is 128'],
    [{ tools: [weather], tool_choice: 'always' }, 'tool_choice', 'tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}, got "always"'],
    [{ tools: [weather], tool_choice: 3 }, 'tool_choice', 'tool_choice must be a string or an object naming a function, got a number'],
    [
      { tools: [weather], tool_choice: { type: 'function', function: { name: 'fly' } } },
      'tool_choice.function.name',
      'tool_choice names the function "fly", which is not among the tools (get_weather)',
    ],
    [{ tools: [weather], tool_choice: { type: 'function' } }, 'tool_choice.function', 'tool_choice.function must be an object with the "name" of one of the tools'],
    [{ tool_choice: 'required' }, 'tool_choice', 'tool_choice needs tools: this request offers no functions to call'],
    [{ tools: [weather], parallel_tool_calls: 'yes' }, 'parallel_tool_calls', 'parallel_tool_calls must be a boolean, got a string'],
  ])('refuses malformed tools and tool_choice, naming the parameter (%#)', (fields, param, message) => {
    expect(rejection({ messages: ask, ...fields })).toMatchObject({ param, message })
  })

  it('checks parameter schemas against the response_format schema limits, pattern budget included', () => {
    const nested = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { code: { type: 'string', pattern: '^(((a{0,20}){0,20}){0,20})$' } } } } }
    expect(rejection({ messages: ask, tools: [nested] })).toMatchObject({ param: 'tools[0].function.parameters.properties.code.pattern', code: 'unsupported_schema' })
    const deep = { type: 'function', function: { name: 'f', parameters: { a: { a: { a: { a: {} } } } } } }
    expect(rejection({ messages: ask, tools: [deep] }, { ...defaultChatRequestLimits, maxSchemaDepth: 3 })).toEqual({
      message: 'The JSON schema in tools[0].function.parameters nests deeper than 3 levels (--max-schema-depth)',
      param: 'tools[0].function.parameters',
      code: 'schema_too_deep',
    })
  })

  it('counts tool definitions and calls against --max-text-chars', () => {
    const limits = { ...defaultChatRequestLimits, maxTextChars: 40 }
    expect(rejection({ messages: ask, tools: [weather] }, limits)).toMatchObject({ code: 'too_much_text', param: 'tools[0].function.parameters' })
  })

  it.each([
    [[...ask, { role: 'tool', content: 'sunny' }], 'messages[1].tool_call_id', 'messages[1].tool_call_id must be a string naming the call this result answers, got undefined'],
    [
      [...ask, { role: 'tool', tool_call_id: 'call_9', content: 'sunny' }],
      'messages[1].tool_call_id',
      'messages[1] answers the tool call "call_9", which no earlier assistant message made',
    ],
    [[...ask, { role: 'assistant', tool_calls: {} }], 'messages[1].tool_calls', 'messages[1].tool_calls must be an array of tool calls, got an object'],
    [
      [...ask, { role: 'assistant', tool_calls: [{ type: 'function', function: call.function }] }],
      'messages[1].tool_calls[0].id',
      'messages[1].tool_calls[0].id must be a string, got undefined',
    ],
    [
      [...ask, { role: 'assistant', tool_calls: [{ ...call, function: { name: 'f', arguments: { city: 'Oslo' } } }] }],
      'messages[1].tool_calls[0].function.arguments',
      'messages[1].tool_calls[0].function.arguments must be a string (the arguments as JSON text), got an object',
    ],
    [
      [...ask, { role: 'assistant', tool_calls: [{ ...call, type: 'custom' }] }],
      'messages[1].tool_calls[0].type',
      'messages[1].tool_calls[0].type must be "function", got "custom"',
    ],
    [[{ role: 'user', content: 'x', tool_calls: [call] }], 'messages[0].tool_calls', 'messages[0].tool_calls is only accepted in assistant messages'],
    [
      [...ask, { role: 'assistant', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
      'messages[1].content[0]',
      'Images are only accepted in user and tool messages; messages[1].content[0] is in an assistant message',
    ],
  ])('refuses malformed tool calls and tool messages, naming the field (%#)', (messages, param, message) => {
    expect(rejection({ messages, tools: [weather] })).toMatchObject({ param, message })
  })

  it('reads logprobs and top_logprobs into sampling, and n into the job', () => {
    expect(parseChatRequest({ messages: ask, logprobs: true, top_logprobs: 3 }).sampling.logprobs).toBe(3)
    expect(parseChatRequest({ messages: ask, logprobs: true }).sampling.logprobs).toBe(0)
    expect(parseChatRequest({ messages: ask, logprobs: false }).sampling.logprobs).toBeUndefined()
    expect(parseChatRequest({ messages: ask, n: 3 }).n).toBe(3)
    expect(rejection({ messages: ask, top_logprobs: 2 })).toMatchObject({ param: 'top_logprobs', message: 'top_logprobs needs "logprobs": true' })
    expect(rejection({ messages: ask, logprobs: true, top_logprobs: 21 })).toMatchObject({ param: 'top_logprobs', message: 'top_logprobs must be at most 20, got 21' })
    expect(rejection({ messages: ask, logprobs: 'yes' })).toMatchObject({ param: 'logprobs', message: 'logprobs must be a boolean, got a string' })
  })
})
