import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { startTinyServer } from '../test-support/in-process-server.js'

let server: RunningServer

beforeAll(async () => {
  server = await startTinyServer(['--parallel', '1'])
})
afterAll(async () => {
  await server?.shutdown()
})

function post(schema: unknown): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: 'Answer.' }],
      max_tokens: 16,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
    }),
  })
}

describe('response_format schemas and the real engine', () => {
  it('refuses the 31-byte pattern that froze llama-server for good with a 400 in milliseconds, and the engine keeps answering', async () => {
    const started = performance.now()
    const response = await post({ type: 'string', pattern: '^(((a{0,20}){0,20}){0,20})$' })
    expect(response.status).toBe(400)
    expect((await response.json()).error).toEqual({
      message:
        "response_format.json_schema.schema.pattern cannot be used as a grammar: its repetitions nest into 400 copies in the engine's grammar, the limit is 16 (a repeated group that itself repeats multiplies the counts; use smaller counts, fewer nested repetitions, or maxLength)",
      type: 'invalid_request_error',
      param: 'response_format.json_schema.schema.pattern',
      code: 'unsupported_schema',
    })
    expect(performance.now() - started).toBeLessThan(500)
    const next = await post({ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' })
    expect(next.status).toBe(200)
  })

  it('passes realistic schemas to the engine, each answered within seconds', async () => {
    const strings = { type: 'string', maxLength: 200 }
    for (const schema of [
      { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
      { type: 'string', pattern: '^[A-Z]{2,10}$' },
      { type: 'string', pattern: '^(\\d{1,3}\\.){3}\\d{1,3}$' },
      { type: 'object', properties: { name: strings, city: strings, note: strings }, required: ['name', 'city', 'note'] },
    ]) {
      const started = performance.now()
      const response = await post(schema)
      expect(response.status, JSON.stringify(schema)).toBe(200)
      await response.json()
      expect(performance.now() - started, JSON.stringify(schema)).toBeLessThan(5000)
    }
  })
})
