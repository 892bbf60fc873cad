import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { rawExchange } from '../../../test-support/raw-http.js'
import { freshDataDir } from '../../../test-support/data-dir.js'
import { ScriptedEngine } from '../../../test-support/scripted-engine.js'
import { createHttpApp } from './app.js'
import { composeServer } from './compose.js'
import { serveConfig } from './config.js'
import { closeApp } from '../../../test-support/close-app.js'

/**
 * Requests Node's HTTP parser or fastify refuse before any route runs, and a response
 * whose own headers cannot be written: each answered in our envelope with x-request-id,
 * never in fastify's or Node's own format.
 */

let apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.map((app) => closeApp(app)))
  apps = []
})

async function listening(): Promise<number> {
  const composed = await composeServer(serveConfig({}), {
    engine: new ScriptedEngine(),
    prepareImage: async () => ({ data: Buffer.from('png'), mime: 'image/png', width: 32, height: 32 }),
    data: { dir: freshDataDir() },
  })
  const { app } = composed
  app.addHook('onClose', async () => composed.dataDir?.close())
  apps.push(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as { port: number }).port
}

function expectEnvelope(response: { status: string; headers: string; body: string }, status: string, error: Record<string, unknown>): void {
  expect(response.status).toBe(status)
  expect(response.headers).toMatch(/\r\nx-request-id: req_[0-9a-f]{24}(\r\n|$)/i)
  expect(response.headers).toMatch(/\r\ncontent-type: application\/json; charset=utf-8/i)
  expect(JSON.parse(response.body)).toEqual({ error })
}

describe("fastify's and Node's own refusals, on the wire", () => {
  it('answers a path segment over 100 characters with a 414 in the envelope', async () => {
    const port = await listening()
    const response = await rawExchange(port, `GET /v1/batches/${'b'.repeat(5000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    expectEnvelope(response, 'HTTP/1.1 414 URI Too Long', {
      message: 'The URL is too long: a path segment such as an id may be at most 100 characters',
      type: 'invalid_request_error',
      param: null,
      code: 'uri_too_long',
    })
  })

  it('answers a URL that does not percent-decode with a 400 in the envelope', async () => {
    const port = await listening()
    const response = await rawExchange(port, 'GET /v1/batches/%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    expectEnvelope(response, 'HTTP/1.1 400 Bad Request', {
      message: 'The URL does not decode: a % must start a valid UTF-8 escape such as %2F',
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_url',
    })
  })

  it('answers an HTTP/1.1 request without Host with a 400 in the envelope, and still serves HTTP/1.0 without one', async () => {
    const port = await listening()
    const response = await rawExchange(port, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n')
    expectEnvelope(response, 'HTTP/1.1 400 Bad Request', {
      message: 'Missing Host header: an HTTP/1.1 request must carry one; send Host: name[:port]',
      type: 'invalid_request_error',
      param: 'host',
      code: 'invalid_host_header',
    })
    expect((await rawExchange(port, 'GET /health HTTP/1.0\r\n\r\n')).status).toBe('HTTP/1.1 200 OK')
  })

  it('answers bad chunked encoding with a 400 in the envelope', async () => {
    const port = await listening()
    const response = await rawExchange(
      port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    )
    expectEnvelope(response, 'HTTP/1.1 400 Bad Request', {
      message: 'Malformed request body framing: the chunked encoding or the Content-Length and Transfer-Encoding headers are invalid',
      type: 'invalid_request_error',
      param: null,
      code: 'malformed_request',
    })
  })

  it('answers headers over the limit and garbage on the wire in the envelope, with a request id', async () => {
    const port = await listening()
    expectEnvelope(await rawExchange(port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large', {
      message: 'The request headers are too large',
      type: 'invalid_request_error',
      param: null,
      code: 'headers_too_large',
    })
    expectEnvelope(await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n'), 'HTTP/1.1 400 Bad Request', {
      message: 'Malformed HTTP request',
      type: 'invalid_request_error',
      param: null,
      code: 'malformed_request',
    })
  })

  it('answers a response whose own header cannot be written with a 500 in the envelope', async () => {
    const app = createHttpApp({ bodyLimitBytes: 1024, access: { corsOrigins: [], allowedHosts: [], checkHost: true } })
    apps.push(app)
    // What the download route did for 请求.jsonl before its Content-Disposition was encoded.
    app.get('/bad-header', { config: { access: 'public' } }, async (_request, reply) => reply.header('content-disposition', 'attachment; filename="请求.jsonl"').send('x'))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const response = await rawExchange(port, 'GET /bad-header HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    expectEnvelope(response, 'HTTP/1.1 500 Internal Server Error', {
      message: 'The server had an error while processing your request.',
      type: 'server_error',
      param: null,
      code: 'internal_error',
    })
    expect(response.headers).not.toMatch(/content-disposition/i)
  })
})
