import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AbortError, ConnectionError, createClient, OverloadedError, ServerError, TimeoutError, type ChatCompletionChunk } from './index.js'
import { chunk, sse, sseRaw, startScriptedServer, type ScriptedServer } from '../../../test-support/scripted-server.js'

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

const request = { messages: [{ role: 'user' as const, content: 'describe' }], stream: true as const }

describe('streaming', () => {
  it('yields each chunk in order and ends at [DONE]', async () => {
    server.script(sse([chunk('A '), chunk('red '), chunk('apple.'), chunk(undefined, 'stop')], { delayMs: 5 }))
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request)
    const pieces: string[] = []
    let finish: string | null = null
    for await (const c of stream) {
      pieces.push(c.choices[0]?.delta.content ?? '')
      finish = c.choices[0]?.finish_reason ?? finish
    }
    expect(pieces.join('')).toBe('A red apple.')
    expect(finish).toBe('stop')
    expect(stream.requestId).toBe('req-stream')
    expect(server.requests[0]?.headers.accept).toBe('text/event-stream')
    expect(server.requests[0]?.json?.stream).toBe(true)
    expect(client.metrics.entries[0]).toMatchObject({ outcome: 'success', stream: true })
    expect(client.metrics.entries[0]?.timeToFirstTokenMs).toBeGreaterThanOrEqual(0)
  })

  it('turns a mid-stream error event into a typed error after delivering the chunks before it', async () => {
    server.script(sse([chunk('Partial '), { error: { message: 'engine died mid-answer', type: 'server_error', param: null, code: 'engine_failure' } }]))
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request)
    const seen: ChatCompletionChunk[] = []
    const error = await (async () => {
      for await (const c of stream) seen.push(c)
    })().catch((e: unknown) => e)
    expect(seen.map((c) => c.choices[0]?.delta.content)).toEqual(['Partial '])
    expect(error).toBeInstanceOf(ServerError)
    expect((error as ServerError).message).toBe('engine died mid-answer')
    expect((error as ServerError).code).toBe('engine_failure')
    expect((error as ServerError).duringStream).toBe(true)
    expect((error as ServerError).requestId).toBe('req-stream')
    expect(client.metrics.entries[0]).toMatchObject({ outcome: 'error', error: 'ServerError', stream: true })
  })

  it('maps a mid-stream overload error to OverloadedError', async () => {
    server.script(sse([{ error: { message: 'slot lost', type: 'service_unavailable_error', param: null, code: null } }]))
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request)
    await expect(stream.text()).rejects.toThrow(OverloadedError)
  })

  it('reports a stream that stops without finish_reason or [DONE] as a connection error', async () => {
    server.script(sse([chunk('cut')], { done: false }))
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request)
    await expect(stream.text()).rejects.toThrow('The stream ended before the completion finished')
  })

  it('accepts a server that sends finish_reason but no [DONE]', async () => {
    server.script(sse([chunk('fine'), chunk(undefined, 'stop')], { done: false }))
    const client = createClient({ baseURL: server.url })
    expect(await (await client.chat.completions.create(request)).text()).toBe('fine')
  })

  it('retries a 503 before the stream starts', async () => {
    server.script(
      (_r, res) => {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after-ms': '10' })
        res.end('{"error":{"message":"busy","type":"service_unavailable_error","param":null,"code":null}}')
      },
      sse([chunk('ok'), chunk(undefined, 'stop')]),
    )
    const client = createClient({ baseURL: server.url })
    expect(await (await client.chat.completions.create(request)).text()).toBe('ok')
    expect(server.requests).toHaveLength(2)
  })

  it('closes the connection when the consumer stops early', async () => {
    server.script(
      sseRaw(
        Array.from({ length: 200 }, (_, i) => `data: ${JSON.stringify(chunk(`t${i} `))}\n\n`),
        10,
      ),
    )
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request)
    let count = 0
    for await (const _ of stream) if (++count === 2) break
    const stopped = performance.now()
    await server.requests[0]?.closed
    // The server would keep writing for 2 s; it must see the disconnect well before that.
    expect(performance.now() - stopped).toBeLessThan(500)
    expect(count).toBe(2)
  })

  it('times out a stream that goes silent', async () => {
    server.script(async (_r, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify(chunk('hello'))}\n\n`)
    })
    const client = createClient({ baseURL: server.url, timeout: 200 })
    const stream = await client.chat.completions.create(request)
    await expect(stream.text()).rejects.toThrow(TimeoutError)
  })

  it('counts keep-alive comments as signs of life for the idle timeout', async () => {
    // Six pings 200 ms apart outlast the 1 s timeout, each well inside it (a loaded CI core may lag by hundreds of ms).
    server.script(
      sseRaw([...Array.from({ length: 6 }, () => ': ping\n\n'), `data: ${JSON.stringify(chunk('late'))}\n\n`, `data: ${JSON.stringify(chunk(undefined, 'stop'))}\n\n`], 200),
    )
    const client = createClient({ baseURL: server.url, timeout: 1000 })
    expect(await (await client.chat.completions.create(request)).text()).toBe('late')
  })

  it('throws AbortError when the caller aborts mid-stream', async () => {
    server.script(
      sseRaw(
        Array.from({ length: 100 }, () => `data: ${JSON.stringify(chunk('x'))}\n\n`),
        20,
      ),
    )
    const controller = new AbortController()
    const client = createClient({ baseURL: server.url })
    const stream = await client.chat.completions.create(request, { signal: controller.signal })
    setTimeout(() => controller.abort(), 60)
    const error = await stream.text().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AbortError)
    expect(error).not.toBeInstanceOf(ConnectionError)
  })

  it('streams ask() answers through onToken and still reports usage', async () => {
    server.script(
      sse([
        chunk('Two '),
        chunk('cats.'),
        { ...chunk(undefined, 'stop') },
        { ...chunk(undefined), choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
      ]),
    )
    const client = createClient({ baseURL: server.url })
    const tokens: string[] = []
    const result = await client.ask(undefined, 'How many cats?', { onToken: (t) => tokens.push(t) })
    expect(tokens).toEqual(['Two ', 'cats.'])
    expect(result).toMatchObject({ text: 'Two cats.', finishReason: 'stop', usage: { total_tokens: 7 }, cached: false })
    expect(server.requests[0]?.json?.stream_options).toEqual({ include_usage: true })
  })
})
