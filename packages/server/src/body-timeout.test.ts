import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine, type Script } from '../../../test-support/scripted-engine.js'
import { composeServer } from './compose.js'
import { serveConfig } from './config.js'
import { closeApp } from '../../../test-support/close-app.js'

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

/** Emits a delta every `intervalMs` for `count` deltas: a generation that outlives the body timeout. */
function slowWords(count: number, intervalMs: number): Script {
  return async function* () {
    for (let i = 0; i < count; i++) {
      await new Promise((r) => setTimeout(r, intervalMs))
      yield { type: 'text', text: 'x' }
    }
    yield { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: count }
  }
}

async function listen(bodyTimeoutSeconds: number, script?: Script): Promise<{ port: number }> {
  const composed = await composeServer(serveConfig({ 'body-timeout-seconds': bodyTimeoutSeconds, parallel: 2 }), { engine: new ScriptedEngine(script) })
  app = composed.app
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { port: (app.server.address() as { port: number }).port }
}

/** Sends the headers and part of a body, then nothing more; resolves with all the server wrote before closing. */
function stallingRequest(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"messages":[')
    })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
  })
}

const article = { messages: [{ role: 'user', content: 'hi' }] }

describe('--body-timeout-seconds: receiving a request has a time limit, generating does not', () => {
  it('answers 408 in the OpenAI envelope when the body stops arriving, and closes the connection', async () => {
    const { port } = await listen(1)
    const raw = await stallingRequest(port)
    const [head, body] = raw.split('\r\n\r\n') as [string, string]
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout')
    expect(head).toMatch(/\r\nconnection: close/i)
    expect(JSON.parse(body)).toEqual({
      error: {
        message: 'The request was not received within 1 s (--body-timeout-seconds); send the body faster or raise the limit',
        type: 'invalid_request_error',
        param: 'body',
        code: 'request_timeout',
      },
    })
  })

  it('lets a generation run past the body timeout, streamed and not', async () => {
    // 0.3 s to receive a request (Node checks every 100 ms); each generation takes 1.2 s.
    const { port } = await listen(0.3, slowWords(12, 100))
    const url = `http://127.0.0.1:${port}/v1/chat/completions`
    const [plain, streamed] = await Promise.all([
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(article) }),
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...article, stream: true }) }),
    ])
    expect(plain.status).toBe(200)
    expect((await plain.json()).choices[0].message.content).toBe('x'.repeat(12))
    expect(streamed.status).toBe(200)
    const text = await streamed.text()
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(text.match(/"content":"x"/g)).toHaveLength(12)
  })

  it('has no limit at 0', async () => {
    const { port } = await listen(0)
    expect(app!.server.requestTimeout).toBe(0)
    const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(article) })
    expect(response.status).toBe(200)
  })
})
