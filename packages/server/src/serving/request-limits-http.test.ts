import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { closeApp } from '../../../../test-support/close-app.js'

let app: FastifyInstance
let engine: ScriptedEngine

beforeAll(async () => {
  engine = new ScriptedEngine()
  // The default caps, as `visto serve` starts with them.
  const composed = await composeServer(serveConfig({ 'body-limit-mb': 50 }), {
    engine,
    prepareImage: async () => {
      throw new Error('no images in these tests')
    },
  })
  app = composed.app
})

afterAll(async () => {
  await closeApp(app)
})

function post(body: unknown) {
  return app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
}

describe('request caps over HTTP', () => {
  it('refuses 500,000 one-character messages with 400 naming --max-messages, before the engine', async () => {
    const before = engine.requests.length
    const response = await post({ messages: Array.from({ length: 500_000 }, () => ({ role: 'user', content: 'a' })) })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message: 'Too many messages: 500000 in this request, the limit is 256 (--max-messages)',
        type: 'invalid_request_error',
        param: 'messages',
        code: 'too_many_messages',
      },
    })
    expect(engine.requests.length).toBe(before)
  })

  it('refuses a text total over --max-text-chars', async () => {
    const response = await post({
      messages: [
        { role: 'user', content: 'x'.repeat(600_000) },
        { role: 'user', content: 'y'.repeat(600_000) },
      ],
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'Too much text: over 1000000 characters in this request at messages[1].content (--max-text-chars)',
      type: 'invalid_request_error',
      param: 'messages[1].content',
      code: 'too_much_text',
    })
  })

  it('refuses a 46 MiB body of nested [ with 400 naming --max-json-depth before parsing it, and keeps answering /health', async () => {
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const body = Buffer.alloc(46 * 1024 * 1024, '[')
    const started = performance.now()
    const [response, health] = await Promise.all([
      fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      fetch(`${url}/health`),
    ])
    expect(response.status).toBe(400)
    expect(response.headers.get('x-request-id')).toMatch(/^req_/)
    expect(await response.json()).toEqual({
      error: {
        message: 'The request body nests objects and arrays deeper than 64 levels (at character 64); the limit is --max-json-depth',
        type: 'invalid_request_error',
        param: 'body',
        code: 'json_too_deep',
      },
    })
    // Parsing it took 16 s and 2.4 GB before; receiving 46 MiB over loopback is what remains.
    expect(performance.now() - started).toBeLessThan(5000)
    expect(health.status).toBe(200)
    expect((await fetch(`${url}/health`)).status).toBe(200)
  })

  it('parses a body nested as deep as a --max-schema-depth schema makes it', async () => {
    // 32 levels, the --max-schema-depth default: an object in properties in an object …
    let schema: Record<string, unknown> = { type: 'object', properties: {} }
    for (let depth = 2; depth < 32; depth += 2) schema = { type: 'object', properties: { a: schema } }
    const response = await post({ messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'deep', schema } } })
    expect(response.statusCode).toBe(200)
  })

  it('refuses a json_schema the engine grammar would crash on, and passes a sane one through', async () => {
    const before = engine.requests.length
    const crashing = await post({
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^+[a-z]$' } } },
    })
    expect(crashing.statusCode).toBe(400)
    expect(crashing.json().error).toMatchObject({ param: 'response_format.json_schema.schema.pattern', code: 'unsupported_schema' })
    expect(engine.requests.length).toBe(before)

    const sane = { type: 'object', properties: { name: { type: 'string', maxLength: 40 } }, required: ['name'] }
    const ok = await post({ messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: sane } } })
    expect(ok.statusCode).toBe(200)
    expect(engine.requests.at(-1)!.sampling.jsonSchema).toEqual(sane)
  })

  it('refuses a schema nested deeper than --max-schema-depth with 400, not a stack overflow', async () => {
    // Deeper than the schema limit, within --max-json-depth (a body past that is refused before parsing).
    const deep = `${'{"type":"array","items":'.repeat(40)}{}${'}'.repeat(40)}`
    const response = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      payload: `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"schema":${deep}}}}`,
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toBe('The JSON schema in response_format.json_schema.schema nests deeper than 32 levels (--max-schema-depth)')
  })
})
