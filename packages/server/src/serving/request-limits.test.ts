import { describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../errors.js'
import { parseChatRequest } from './chat-request.js'
import { parseServeConfig } from '../config.js'
import { chatRequestLimitsFrom, defaultChatRequestLimits, type ChatRequestLimits } from './request-limits.js'

const limits: ChatRequestLimits = { maxMessages: 3, maxPartsPerMessage: 2, maxTextChars: 10, maxSchemaDepth: 4, maxSchemaBytes: 200 }

function rejection(body: unknown, with_ = limits): { message: string; param: string | null; code: string | null } {
  try {
    parseChatRequest(body, with_)
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    const e = error as InvalidRequestError
    return { message: e.message, param: e.param, code: e.code }
  }
  throw new Error('expected a rejection')
}

const user = (content: unknown) => ({ role: 'user', content })

describe('chat request caps', () => {
  it("has the documented defaults, which are also the flags' defaults", () => {
    expect(defaultChatRequestLimits).toEqual({ maxMessages: 256, maxPartsPerMessage: 64, maxTextChars: 1_000_000, maxSchemaDepth: 32, maxSchemaBytes: 65536 })
    expect(chatRequestLimitsFrom(parseServeConfig([], {}))).toEqual(defaultChatRequestLimits)
  })

  it('takes every cap from its flag or VISTO_* variable', () => {
    const config = parseServeConfig(['--max-messages', '3', '--max-message-parts=2', '--max-text-chars', '10', '--max-schema-depth', '4'], { VISTO_MAX_SCHEMA_KB: '0.5' })
    expect(chatRequestLimitsFrom(config)).toEqual({ maxMessages: 3, maxPartsPerMessage: 2, maxTextChars: 10, maxSchemaDepth: 4, maxSchemaBytes: 512 })
  })

  it('accepts a request exactly at every cap', () => {
    const parsed = parseChatRequest(
      {
        messages: [
          user('abc'),
          user([
            { type: 'text', text: 'de' },
            { type: 'text', text: 'fgh' },
          ]),
          user('ij'),
        ],
        response_format: { type: 'json_schema', json_schema: { schema: { type: 'object', properties: { a: { type: 'string' } } } } },
      },
      limits,
    )
    expect(parsed.messages).toHaveLength(3)
  })

  it('refuses more messages than --max-messages, naming the count and the flag', () => {
    expect(rejection({ messages: [user('a'), user('b'), user('c'), user('d')] })).toEqual({
      message: 'Too many messages: 4 in this request, the limit is 3 (--max-messages)',
      param: 'messages',
      code: 'too_many_messages',
    })
  })

  it('refuses 500,000 messages under the default limits without reading them', () => {
    const messages = new Array(500_000).fill(null)
    expect(rejection({ messages }, defaultChatRequestLimits).code).toBe('too_many_messages')
  })

  it('refuses more content parts in one message than --max-message-parts', () => {
    const parts = [
      { type: 'text', text: 'a' },
      { type: 'text', text: 'b' },
      { type: 'text', text: 'c' },
    ]
    expect(rejection({ messages: [user('x'), user(parts)] })).toEqual({
      message: 'Too many content parts: 3 in messages[1].content, the limit is 2 per message (--max-message-parts)',
      param: 'messages[1].content',
      code: 'too_many_parts',
    })
  })

  it('counts text across all messages and parts against --max-text-chars', () => {
    expect(
      rejection({
        messages: [
          user('abcdef'),
          user([
            { type: 'text', text: 'ghij' },
            { type: 'text', text: 'k' },
          ]),
        ],
      }),
    ).toEqual({
      message: 'Too much text: over 10 characters in this request at messages[1].content[1].text (--max-text-chars)',
      param: 'messages[1].content[1].text',
      code: 'too_much_text',
    })
    expect(rejection({ messages: [user('abcdefghijk')] }).param).toBe('messages[0].content')
  })

  it('refuses a response_format schema deeper than --max-schema-depth', () => {
    const schema = { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'string' } } } } }
    expect(rejection({ messages: [user('hi')], response_format: { type: 'json_schema', json_schema: { schema } } })).toEqual({
      message: 'The JSON schema in response_format.json_schema.schema nests deeper than 4 levels (--max-schema-depth)',
      param: 'response_format.json_schema.schema',
      code: 'schema_too_deep',
    })
  })

  it('refuses a schema nested 100,000 deep without overflowing the stack', () => {
    let schema: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 100_000; i++) schema = { type: 'array', items: schema }
    expect(rejection({ messages: [user('hi')], response_format: { type: 'json_schema', json_schema: { schema } } }, defaultChatRequestLimits).code).toBe('schema_too_deep')
  })

  it('refuses a response_format schema larger than --max-schema-kb', () => {
    const schema = { type: 'string', description: 'x'.repeat(300) }
    const error = rejection({ messages: [user('hi')], response_format: { type: 'json_schema', json_schema: { schema } } })
    expect(error.message).toBe('The JSON schema in response_format.json_schema.schema is 334 bytes, the limit is 200 bytes (--max-schema-kb)')
    expect(error.code).toBe('schema_too_large')
  })
})
