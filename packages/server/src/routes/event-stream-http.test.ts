import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine, words, type Script } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { InvalidRequestError, type ApiError } from '../errors.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { namedEventFrame, sendEventStream } from './event-stream.js'
import { closeApp } from '../../../../test-support/close-app.js'

// Streams over real sockets: what a browser or a slow client sees on the wire.

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

const allowedOrigin = 'http://app.example.test'
const question = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, temperature: 0, stream: true }

async function serve(script: Script, config: Parameters<typeof serveConfig>[0] = {}) {
  const engine = new ScriptedEngine(script)
  const composed = await composeServer(serveConfig({ parallel: 1, 'cors-origins': allowedOrigin, ...config }), { engine })
  app = composed.app
  const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
  return { engine, admission: composed.admission, url }
}

/** POSTs JSON and hands back the response unread, so a test decides when (and whether) to read it. */
function post(url: URL, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ response: IncomingMessage; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(new URL(path, url), { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (response) =>
      resolve({ response, destroy: () => request.destroy() }),
    )
    request.on('error', reject)
    request.end(JSON.stringify(body))
  })
}

async function readAll(response: IncomingMessage): Promise<string> {
  let text = ''
  response.setEncoding('utf8')
  for await (const chunk of response) text += chunk
  return text
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('a streamed chat answer on the wire', () => {
  it('carries the CORS headers of an allowed origin, the exposed headers, x-request-id and x-visto-cache', async () => {
    const { url } = await serve(words(['Hello', ' world']))
    const { response } = await post(url, '/v1/chat/completions', question, { origin: allowedOrigin, 'x-request-id': 'req-cors-stream' })
    const headers: IncomingHttpHeaders = response.headers
    expect(response.statusCode).toBe(200)
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(headers['cache-control']).toBe('no-cache')
    expect(headers['access-control-allow-origin']).toBe(allowedOrigin)
    expect(headers.vary).toBe('Origin')
    expect(headers['access-control-expose-headers']).toBe('x-request-id, retry-after, x-visto-cache')
    expect(headers['x-request-id']).toBe('req-cors-stream')
    expect(headers['x-visto-cache']).toBe('miss')
    const frames = (await readAll(response)).split('\n\n').filter(Boolean)
    expect(frames.at(-1)).toBe('data: [DONE]')
    const text = frames
      .slice(0, -1)
      .map((frame) => (JSON.parse(frame.replace(/^data: /, '')) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    expect(text.join('')).toBe('Hello world')
  })

  it('says x-visto-cache: hit on a stream answered from the response cache', async () => {
    const { url, engine } = await serve(words(['Hello', ' world']))
    await readAll((await post(url, '/v1/chat/completions', question)).response)
    const { response } = await post(url, '/v1/chat/completions', question, { origin: allowedOrigin })
    expect([response.headers['x-visto-cache'], response.headers['access-control-allow-origin']]).toEqual(['hit', allowedOrigin])
    expect((await readAll(response)).endsWith('data: [DONE]\n\n')).toBe(true)
    expect(engine.requests).toHaveLength(1)
  })

  /** Deltas of 16 KiB: a reader that stops reading fills the socket's buffers after a few hundred. */
  function bulky(total: number) {
    const delta = 'x'.repeat(16 * 1024)
    const state = { pulled: 0 }
    const script: Script = async function* (_request, signal) {
      yield { type: 'accepted' }
      for (let i = 0; i < total && !signal.aborted; i++) {
        state.pulled++
        yield { type: 'text', text: delta }
      }
      yield { type: 'done', finishReason: 'length', promptTokens: 4, completionTokens: state.pulled }
    }
    return { script, state }
  }

  /** Waits until the engine has stopped being read: the count holds still for 300 ms. */
  async function stalled(state: { pulled: number }): Promise<number> {
    let last = -1
    for (let i = 0; i < 40 && state.pulled !== last; i++) {
      last = state.pulled
      await new Promise((r) => setTimeout(r, 300))
    }
    return state.pulled
  }

  it('holds the generation back while the client does not read, and sends all of it once it does', async () => {
    const total = 4096
    const { script, state } = bulky(total)
    const { url } = await serve(script, { 'response-cache': 'off' })
    const { response } = await post(url, '/v1/chat/completions', question)
    response.pause()
    const held = await stalled(state)
    // 64 MiB of answer; without waiting for 'drain' all of it would sit in the server's memory by now.
    expect(held).toBeGreaterThan(0)
    expect(held).toBeLessThan(total / 4)
    response.resume()
    const body = await readAll(response)
    expect(state.pulled).toBe(total)
    expect(body.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(body.split('\n\n').filter((frame) => frame.includes('"content":"xxxx')).length).toBe(total)
  })

  it('stops the generation and frees the slot when a client that stopped reading goes away', async () => {
    const { script, state } = bulky(4096)
    const { url, engine, admission } = await serve(script, { 'response-cache': 'off' })
    const { response, destroy } = await post(url, '/v1/chat/completions', question)
    response.pause()
    const held = await stalled(state)
    destroy()
    await until(() => engine.aborted === 1 && admission.running === 0, 'the engine request to end')
    expect(state.pulled).toBe(held)
  })
})

describe('the event-stream writer for other APIs', () => {
  type NamedEvent = { event: string; data: unknown }
  const namedEvents = {
    frame: ({ event, data }: NamedEvent) => namedEventFrame(event, data),
    errorFrame: (error: ApiError) => namedEventFrame('error', { type: 'error', error: { type: error.type, message: error.message } }),
    end: null,
  }

  it('writes named events, tells a failure in its own error event and ends without [DONE]', async () => {
    app = Fastify()
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('x-request-id', 'req_named')
    })
    app.post('/stream', async (request, reply) => {
      async function* events(): AsyncGenerator<NamedEvent> {
        yield { event: 'message_start', data: { type: 'message_start' } }
        yield { event: 'content_block_delta', data: { type: 'content_block_delta', delta: { text: 'Hi' } } }
        throw new InvalidRequestError('The engine rejected the request', { code: 'engine_rejected' })
      }
      await sendEventStream(request, reply, events(), namedEvents, clientDisconnectSignal(reply))
    })
    const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
    const { response } = await post(url, '/stream', {})
    expect(response.headers['x-request-id']).toBe('req_named')
    expect(await readAll(response)).toBe(
      'event: message_start\ndata: {"type":"message_start"}\n\n' +
        'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"Hi"}}\n\n' +
        'event: error\ndata: {"type":"error","error":{"type":"invalid_request_error","message":"The engine rejected the request"}}\n\n',
    )
  })
})
