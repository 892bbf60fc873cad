import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import { parseAnthropicMessagesRequest, parseAnthropicPrompt } from './anthropic-request.js'
import { defaultChatRequestLimits } from './request-limits.js'

const png = 'iVBORw0KGgo='
const ask = { model: 'm', max_tokens: 16, messages: [{ role: 'user', content: 'Hi' }] }

function refusal(body: unknown): { message: string; param: string | null; code: string | null } {
  try {
    parseAnthropicMessagesRequest(body)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    const { message, param, code } = error as InvalidRequestError
    return { message, param, code }
  }
  throw new Error('expected a refusal')
}

describe('Anthropic Messages bodies into chat jobs', () => {
  it('maps system, sampling and stop_sequences, and requires nothing else', () => {
    const job = parseAnthropicMessagesRequest({
      ...ask,
      system: [{ type: 'text', text: 'Be brief.' }],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      stream: true,
    })
    expect(job).toEqual({
      model: 'm',
      messages: [
        { role: 'system', parts: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', parts: [{ type: 'text', text: 'Hi' }] },
      ],
      sampling: { maxTokens: 16, temperature: 0.5, topP: 0.9, topK: 40, stop: ['END'] },
      stream: true,
      includeUsage: false,
    })
  })

  it('turns image and document blocks into the job’s image and PDF parts, naming where they are', () => {
    const job = parseAnthropicMessagesRequest({
      ...ask,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
            { type: 'document', title: 'Report', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
            { type: 'document', title: 'Notes', source: { type: 'text', media_type: 'text/plain', data: 'milk' } },
          ],
        },
      ],
    })
    expect(job.messages[0]!.parts).toEqual([
      { type: 'image', url: `data:image/png;base64,${png}`, detail: 'auto', where: 'messages[0].content[0]' },
      { type: 'image', url: 'https://example.com/a.jpg', detail: 'auto', where: 'messages[0].content[1]' },
      { type: 'file', where: 'messages[0].content[2]', filename: 'Report', fileData: 'data:application/pdf;base64,JVBERi0=', fileId: undefined, pages: undefined, detail: 'auto' },
      { type: 'text', text: 'Notes\n\nmilk' },
    ])
  })

  it('maps tool_use to the assistant’s calls and each tool_result to a tool message, images included, text after it a user message', () => {
    const prompt = parseAnthropicPrompt({
      messages: [
        { role: 'user', content: 'Zoom in.' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: '…', signature: 'x' },
            { type: 'text', text: 'Zooming.' },
            { type: 'tool_use', id: 'toolu_1', name: 'zoom', input: { corner: 'top-left' } },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              content: [
                { type: 'text', text: 'Here.' },
                { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
              ],
            },
            { type: 'text', text: 'What now?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_2', name: 'zoom', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_2', is_error: true, content: 'out of range' }] },
      ],
      tools: [{ name: 'zoom', description: 'Zoom in', input_schema: { type: 'object', properties: { corner: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    })
    expect(prompt.messages).toEqual([
      { role: 'user', parts: [{ type: 'text', text: 'Zoom in.' }] },
      { role: 'assistant', parts: [{ type: 'text', text: 'Zooming.' }], toolCalls: [{ id: 'toolu_1', name: 'zoom', arguments: '{"corner":"top-left"}' }] },
      {
        role: 'tool',
        toolCallId: 'toolu_1',
        parts: [
          { type: 'text', text: 'Here.' },
          { type: 'image', url: `data:image/png;base64,${png}`, detail: 'auto', where: 'messages[2].content[0].content[1]' },
        ],
      },
      { role: 'user', parts: [{ type: 'text', text: 'What now?' }] },
      { role: 'assistant', parts: [], toolCalls: [{ id: 'toolu_2', name: 'zoom', arguments: '{}' }] },
      {
        role: 'tool',
        toolCallId: 'toolu_2',
        parts: [
          { type: 'text', text: 'Error: ' },
          { type: 'text', text: 'out of range' },
        ],
      },
    ])
    expect(prompt.tools).toEqual({
      functions: [{ name: 'zoom', description: 'Zoom in', parameters: { type: 'object', properties: { corner: { type: 'string' } } } }],
      choice: 'required',
      parallel: false,
    })
  })

  it.each([
    [{ type: 'auto' }, 'auto', true],
    [{ type: 'tool', name: 'zoom' }, { name: 'zoom' }, true],
    [{ type: 'none' }, 'none', true],
    [undefined, 'auto', true],
  ])('tool_choice %j is the job’s %j', (toolChoice, choice, parallel) => {
    const prompt = parseAnthropicPrompt({ ...ask, tools: [{ name: 'zoom', input_schema: { type: 'object' } }], ...(toolChoice ? { tool_choice: toolChoice } : {}) })
    expect(prompt.tools).toMatchObject({ choice, parallel })
  })

  it.each([
    [{ ...ask, max_tokens: undefined }, 'max_tokens is required: the most tokens the answer may have, a whole number of at least 1', 'max_tokens'],
    [{ ...ask, max_tokens: 0 }, 'max_tokens must be at least 1, got 0', 'max_tokens'],
    [{ ...ask, temperature: 1.5 }, 'temperature must be at most 1, got 1.5', 'temperature'],
    [{ ...ask, stop_sequences: 'END' }, 'stop_sequences must be an array of strings, got a string', 'stop_sequences'],
    [{ ...ask, messages: [] }, 'messages must be a non-empty array, got an empty array', 'messages'],
    [{ ...ask, messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].role must be "user" or "assistant", got "tool"', 'messages[0].role'],
    [
      { ...ask, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] }] },
      'messages[0].content[0].source.type must be "base64" or "url", got "file"; Anthropic file ids are not served here, send the image inline',
      'messages[0].content[0].source.type',
    ],
    [
      { ...ask, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'text/html', data: png } }] }] },
      'messages[0].content[0].source.media_type must name an image type such as "image/png" or "image/jpeg", got "text/html"',
      'messages[0].content[0].source.media_type',
    ],
    [
      { ...ask, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'sunny' }] }] },
      'messages[0].content[0] answers the tool_use "toolu_x", which no earlier assistant message made',
      'messages[0].content[0].tool_use_id',
    ],
    [
      { ...ask, messages: [{ role: 'assistant', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }] }, ...ask.messages] },
      'messages[0].content[0] is an image block, which only user messages may hold',
      'messages[0].content[0].type',
    ],
    [
      { ...ask, messages: [{ role: 'user', content: [{ type: 'search_result', source: 'x' }] }] },
      'Unsupported content block type "search_result" in messages[0].content[0]; supported types are "text", "image", "document", "tool_use" and "tool_result"',
      'messages[0].content[0].type',
    ],
    [
      { ...ask, tools: [{ type: 'web_search_20250305', name: 'web_search' }] },
      'tools[0].type is "web_search_20250305", a tool Anthropic\'s servers run; this server runs none: offer custom tools ({"name", "description", "input_schema"})',
      'tools[0].type',
    ],
    [{ ...ask, tools: [{ name: 'zoom' }] }, 'tools[0].input_schema must be a JSON schema object, got undefined', 'tools[0].input_schema'],
    [{ ...ask, tool_choice: { type: 'any' } }, 'tool_choice needs tools: this request offers no tools to call', 'tool_choice'],
    [
      { ...ask, tools: [{ name: 'zoom', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'fly' } },
      'tool_choice names the tool "fly", which is not among the tools (zoom)',
      'tool_choice.name',
    ],
  ])('refuses %j: %s', (body, message, param) => {
    expect(refusal(body)).toMatchObject({ message, param })
  })

  it('applies the server’s limits: messages, blocks per message and text', () => {
    const limits = { ...defaultChatRequestLimits, maxMessages: 2, maxPartsPerMessage: 2, maxTextChars: 10 }
    const three = { ...ask, messages: [ask.messages[0], ask.messages[0], ask.messages[0]] }
    expect(() => parseAnthropicMessagesRequest(three, limits)).toThrow('Too many messages: 3 in this request, the limit is 2 (--max-messages)')
    const blocks = {
      ...ask,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
            { type: 'text', text: 'c' },
          ],
        },
      ],
    }
    expect(() => parseAnthropicMessagesRequest(blocks, limits)).toThrow('Too many content blocks: 3 in messages[0].content, the limit is 2 per message (--max-message-parts)')
    expect(() => parseAnthropicMessagesRequest({ ...ask, system: 'a system prompt' }, limits)).toThrow(
      'Too much text: over 10 characters in this request at system (--max-text-chars)',
    )
  })
})
