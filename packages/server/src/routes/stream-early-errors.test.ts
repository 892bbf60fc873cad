import { request as httpRequest } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { endless, ScriptedEngine, type Script } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { EngineEvent } from '../engines/engine.js'
import { ContextLengthExceededError, InvalidRequestError } from '../errors.js'
import { captureLog, LogLevel, type LogLine } from '../../../../test-support/log-capture.js'
import { closeApp } from '../../../../test-support/close-app.js'

const question = { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16 }

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(script: Script) {
  const engine = new ScriptedEngine(script)
  const log = captureLog()
  const config = serveConfig({ parallel: 1, 'max-queue': 4, 'default-max-tokens': 16, 'max-images': 2, 'body-limit-mb': 1, 'response-cache': 'off' })
  const composed = await composeServer(config, {
    engine,
    logger: log.logger,
    prepareImage: async () => ({ data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64 }),
  })
  app = composed.app
  return { app: composed.app, engine, admission: composed.admission, log }
}

function gate(): { open: () => void; wait: Promise<void> } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { open, wait }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (condition()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const errorLines = (lines: LogLine[]) => lines.filter((line) => line.level >= LogLevel.warn)

describe('a streamed request the engine rejects before accepting the prompt', () => {
  it.each([
    ['a prompt beyond the context', () => new ContextLengthExceededError("This model's maximum context length is 512 tokens, but the request needs 900 tokens (images included).")],
    ['an invalid JSON schema', () => new InvalidRequestError('The engine rejected the request: failed to parse grammar', { code: 'engine_rejected' })],
  ])('gets the same status and JSON body as without streaming: %s', async (_name, rejection) => {
    const { app, admission } = await setup(async function* (): AsyncGenerator<EngineEvent> {
      await new Promise((r) => setTimeout(r, 30))
      throw rejection()
    })
    const plain = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: question })
    const streamed = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...question, stream: true } })
    expect(plain.statusCode).toBe(400)
    expect(streamed.statusCode).toBe(plain.statusCode)
    expect(streamed.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(streamed.headers['content-type']).toBe(plain.headers['content-type'])
    expect(streamed.json()).toEqual(plain.json())
    expect(streamed.json()).toEqual(rejection().toEnvelope())
    expect(admission.running).toBe(0)
  })
})

describe('SSE headers', () => {
  it('are written once the engine accepts the prompt, not before it and not only at the first token', async () => {
    const accept = gate()
    const firstToken = gate()
    const { app, engine } = await setup(async function* (): AsyncGenerator<EngineEvent> {
      await accept.wait
      yield { type: 'accepted' }
      await firstToken.wait
      yield { type: 'text', text: 'Hello' }
      yield { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: 1 }
    })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    let headersArrived = false
    const client = new AbortController()
    onTestFinished(() => client.abort())
    const responding = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...question, stream: true }),
      signal: client.signal,
    })
    responding.then(() => (headersArrived = true)).catch(() => {})
    await until(() => engine.requests.length === 1, 'the engine to get the request')
    await new Promise((r) => setTimeout(r, 150))
    expect(headersArrived).toBe(false)

    accept.open()
    const response = await responding
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let received = ''
    while (!received.includes('\n\n')) received += decoder.decode((await reader.read()).value)
    expect(JSON.parse(received.split('\n\n')[0]!.replace(/^data: /, '')).choices[0].delta).toEqual({ role: 'assistant', content: '' })

    firstToken.open()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += decoder.decode(chunk.value)
    expect(received).toContain('"content":"Hello"')
    expect(received.trimEnd().endsWith('data: [DONE]')).toBe(true)
  })

  it('still come at the first event of an engine that never announces acceptance', async () => {
    const { app } = await setup(async function* (): AsyncGenerator<EngineEvent> {
      yield { type: 'text', text: 'Hi' }
      yield { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: 1 }
    })
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...question, stream: true } })
    expect(response.statusCode).toBe(200)
    const deltas = response.body
      .split('\n\n')
      .filter((event) => event.startsWith('data: {'))
      .map((event) => JSON.parse(event.slice(6)).choices[0]?.delta)
    expect(deltas).toEqual([{ role: 'assistant', content: '' }, { content: 'Hi' }, {}])
  })
})

describe('a client that disconnects', () => {
  it.each([
    ['while its stream runs', true],
    ['while waiting for a non-streamed answer', false],
  ])('%s is logged at info as 499, never as a 500, and its generation stops', async (_name, stream) => {
    const { app, engine, admission, log } = await setup(endless())
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    const responding = fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...question, stream }),
      signal: controller.signal,
    })
    responding.catch(() => {})
    await until(() => engine.requests.length === 1, 'the engine to start')
    if (stream) await responding
    controller.abort()
    await until(() => admission.running === 0 && engine.aborted === 1, 'the slot to be released')
    await until(() => log.lines.some((line) => line.status === 499), 'the disconnect to be logged')
    expect(log.lines.find((line) => line.status === 499)).toMatchObject({
      level: LogLevel.info,
      code: 'client_closed_request',
      msg: 'client disconnected before the response was complete',
    })
    expect(errorLines(log.lines)).toEqual([])
    expect(log.lines.some((line) => line.status === 500 || (line.res as { statusCode?: number } | undefined)?.statusCode === 500)).toBe(false)
  })

  it('half-way through sending its body is logged at info as 499, not as a 500', async () => {
    const { app, engine, log } = await setup(endless())
    const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
    const sending = httpRequest({
      host: url.hostname,
      port: url.port,
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    })
    sending.on('error', () => {})
    sending.write('{"messages": [')
    await new Promise((r) => setTimeout(r, 100))
    sending.destroy()
    await until(() => log.lines.some((line) => line.status === 499), 'the disconnect to be logged')
    expect(log.lines.find((line) => line.status === 499)).toMatchObject({ level: LogLevel.info, code: 'client_closed_request' })
    expect(errorLines(log.lines)).toEqual([])
    expect(engine.requests).toHaveLength(0)
  })
})
