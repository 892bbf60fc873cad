import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ChatJobPart } from './chat-job.js'
import { parseChatRequest } from './chat-request.js'
import { cacheDirective, entryBytes, ResponseCache, type CachedResponse } from './response-cache.js'

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a2f6c1b80000000049454e44ae426082', 'hex')
const base64 = PNG.toString('base64')

function request(overrides: Record<string, unknown> = {}, image = `data:image/png;base64,${base64}`, detail?: string) {
  return {
    model: 'qwen3-vl-4b-instruct',
    messages: [
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: detail ? { url: image, detail } : { url: image } },
        ],
      },
    ],
    temperature: 0,
    max_tokens: 64,
    ...overrides,
  }
}

const cache = (options: Partial<ConstructorParameters<typeof ResponseCache>[0]> = {}) =>
  new ResponseCache({ maxBytes: 1024 * 1024, mode: 'deterministic', maxImageBytes: 1024 * 1024, ...options })

function keyOf(body: unknown, c = cache()): string | undefined {
  const parsed = parseChatRequest(body)
  const model = parsed.model ?? 'qwen3-vl-4b-instruct'
  return c.keyFor(model, parsed, { ...parsed.sampling, maxTokens: parsed.sampling.maxTokens ?? 1024 })
}

const answer = (text: string): CachedResponse => ({ deltas: [text], finishReason: 'stop', promptTokens: 10, completionTokens: 1 })

describe('response cache key', () => {
  const base = keyOf(request())!

  it('is a sha256 of the canonical request', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/)
  })

  it.each([
    ['the model', { model: 'other-model' }],
    [
      'the user text',
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is that?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${base64}` } },
            ],
          },
        ],
      },
    ],
    [
      'the system text',
      {
        messages: [
          { role: 'system', content: 'Be long.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${base64}` } },
            ],
          },
        ],
      },
    ],
    [
      'a role',
      {
        messages: [
          { role: 'user', content: 'Be brief.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${base64}` } },
            ],
          },
        ],
      },
    ],
    ['max_tokens', { max_tokens: 65 }],
    ['seed', { seed: 1 }],
    ['top_p', { top_p: 0.5 }],
    ['top_k', { top_k: 5 }],
    ['min_p', { min_p: 0.1 }],
    ['repeat_penalty', { repeat_penalty: 1.1 }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['frequency_penalty', { frequency_penalty: 0.5 }],
    ['stop', { stop: ['\n'] }],
    ['ignore_eos', { ignore_eos: true }],
    ['response_format', { response_format: { type: 'json_object' } }],
  ])('changes with %s', (_name, overrides) => {
    expect(keyOf(request(overrides))).not.toBe(base)
  })

  it('keys an upload by the sha256 its job gives, as the same bytes sent inline', () => {
    const parsed = parseChatRequest(request({}, 'visto-upload:anything:1'))
    const sampling = { ...parsed.sampling, maxTokens: 64 }
    const sha256 = createHash('sha256').update(PNG).digest('hex')
    const uploaded = (hash: string) => ({
      messages: parsed.messages.map((message) => ({
        ...message,
        parts: message.parts.map((part): ChatJobPart => (part.type === 'image' ? { type: 'image', where: 'image[0]', bytes: PNG, sha256: hash, detail: part.detail } : part)),
      })),
    })
    expect(cache().keyFor('qwen3-vl-4b-instruct', uploaded(sha256), sampling)).toBe(base)
    expect(cache().keyFor('qwen3-vl-4b-instruct', uploaded('0'.repeat(64)), sampling)).not.toBe(base)
    // A URL that is neither inline nor fetchable is not cached.
    expect(cache().keyFor('qwen3-vl-4b-instruct', parsed, sampling)).toBeUndefined()
  })

  it('keys an uploaded PDF as the same PDF sent inline as a data URL, and never one sent by file_id', () => {
    // Over two hashing steps and not a whole number of 3-byte groups.
    const pdf = Buffer.from(Array.from({ length: 2 * 3 * 64 * 1024 + 5 }, (_, i) => i % 251))
    const sampling = { maxTokens: 64, temperature: 0 }
    const inline = (data: string) => parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: data, pages: '1' } }] }] })
    const uploaded = (bytes: Buffer) => ({
      messages: [
        {
          role: 'user' as const,
          parts: [{ type: 'file' as const, where: 'image[0]', filename: undefined, fileData: undefined, fileId: undefined, bytes, pages: '1', detail: 'auto' as const }],
        },
      ],
    })
    const inlineKey = cache().keyFor('qwen3-vl-4b-instruct', inline(`data:application/pdf;base64,${pdf.toString('base64')}`), sampling)
    expect(inlineKey).toMatch(/^[0-9a-f]{64}$/)
    expect(cache().keyFor('qwen3-vl-4b-instruct', uploaded(pdf), sampling)).toBe(inlineKey)
    const other = Buffer.from(pdf)
    other[other.length - 1]! ^= 1
    expect(cache().keyFor('qwen3-vl-4b-instruct', uploaded(other), sampling)).not.toBe(inlineKey)
    const byId = parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] })
    expect(cache().keyFor('qwen3-vl-4b-instruct', byId, sampling)).toBeUndefined()
  })

  it('changes with temperature (seeded requests are cacheable at any temperature)', () => {
    expect(keyOf(request({ temperature: 0.5, seed: 1 }))).not.toBe(keyOf(request({ temperature: 0, seed: 1 })))
  })

  it('changes with any image byte and with detail', () => {
    const other = Buffer.from(PNG)
    other[other.length - 5]! ^= 1
    expect(keyOf(request({}, `data:image/png;base64,${other.toString('base64')}`))).not.toBe(base)
    expect(keyOf(request({}, undefined, 'low'))).not.toBe(base)
    expect(keyOf(request({}, undefined, 'high'))).not.toBe(keyOf(request({}, undefined, 'low')))
  })

  it('does not change with JSON key order, base64 whitespace, alphabet or padding, the MIME label, or equivalent spellings', () => {
    const reordered = JSON.parse(JSON.stringify({ max_tokens: 64, temperature: 0, messages: request().messages, model: 'qwen3-vl-4b-instruct' }))
    expect(keyOf(reordered)).toBe(base)
    const wrapped = base64.replace(/(.{10})/g, '$1\n  ')
    expect(keyOf(request({}, `data:image/png;base64,${wrapped}`))).toBe(base)
    expect(keyOf(request({}, `data:image/jpeg;base64,${base64}`))).toBe(base)
    expect(keyOf(request({}, base64.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')))).toBe(base)
    expect(keyOf(request({}, undefined, 'auto'))).toBe(base)
    expect(keyOf({ ...request(), max_tokens: undefined, max_completion_tokens: 64 })).toBe(base)
    expect(keyOf(request({ stop: '\n' }))).toBe(keyOf(request({ stop: ['\n'] })))
    expect(keyOf(request({ stream: true, stream_options: { include_usage: true } }))).toBe(base)
    const schema = (a: object) => request({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: a } } })
    expect(keyOf(schema({ type: 'object', required: ['a'] }))).toBe(keyOf(schema({ required: ['a'], type: 'object' })))
  })

  it('leaves sampled requests out unless the mode is "all", and keeps seeded ones', () => {
    expect(keyOf(request({ temperature: 0.7 }))).toBeUndefined()
    expect(keyOf({ ...request(), temperature: undefined })).toBeUndefined()
    expect(keyOf(request({ temperature: 0.7, seed: 42 }))).toMatch(/^[0-9a-f]{64}$/)
    expect(keyOf(request({ temperature: 0.7 }), cache({ mode: 'all' }))).toMatch(/^[0-9a-f]{64}$/)
  })

  it('leaves out remote images, unparseable images, and everything when off', () => {
    expect(keyOf(request({}, 'https://example.com/cat.png'))).toBeUndefined()
    expect(keyOf(request({}, 'data:image/png;base64,@@@'))).toBeUndefined()
    expect(keyOf(request(), cache({ mode: 'off' }))).toBeUndefined()
    expect(keyOf(request(), cache({ maxBytes: 0 }))).toBeUndefined()
  })
})

describe('response cache storage', () => {
  it('evicts the least recently used answers once their bytes pass the limit', () => {
    const one = answer('x'.repeat(1000))
    const size = entryBytes(one)
    const c = cache({ maxBytes: size * 3 })
    c.set('a', one)
    c.set('b', one)
    c.set('c', one)
    expect(c.bytes).toBe(size * 3)
    expect(c.get('a')).toBe(one) // a is now the most recent
    c.set('d', one)
    expect([c.has('a'), c.has('b'), c.has('c'), c.has('d')]).toEqual([true, false, true, true])
    expect(c.evictions).toBe(1)
    c.set('big', answer('y'.repeat(2500)))
    expect(c.bytes).toBeLessThanOrEqual(size * 3)
    expect(c.has('big')).toBe(true)
    expect(c.size).toBe(1)
  })

  it('counts bytes of multi-byte text, keeps nothing bigger than the whole cache, and replaces an existing key', () => {
    expect(entryBytes(answer('é'))).toBe(entryBytes(answer('e')) + 1)
    const c = cache({ maxBytes: 600 })
    c.set('huge', answer('z'.repeat(1000)))
    expect(c.has('huge')).toBe(false)
    c.set('k', answer('first'))
    c.set('k', answer('second'))
    expect(c.size).toBe(1)
    expect(c.bytes).toBe(entryBytes(answer('second')))
    expect(c.get('k')!.deltas).toEqual(['second'])
  })

  it('counts hits and misses', () => {
    const c = cache()
    expect(c.get('nope')).toBeUndefined()
    c.set('yes', answer('a'))
    c.get('yes')
    expect([c.hits, c.misses]).toEqual([1, 1])
  })
})

describe('Cache-Control on requests', () => {
  it.each([
    [undefined, 'use'],
    ['max-age=0', 'use'],
    ['no-cache', 'refresh'],
    ['No-Cache, max-age=0', 'refresh'],
    ['no-store', 'skip'],
    [['no-cache', 'no-store'], 'skip'],
  ] as const)('%j means %s', (header, expected) => {
    expect(cacheDirective(header as string | string[] | undefined)).toBe(expected)
  })
})
