import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { llamaServerPid } from '../test-support/engine-process.js'
import { startTinyServer } from '../test-support/in-process-server.js'

let server: RunningServer

beforeAll(async () => {
  // A small context, so an over-long prompt is cheap to send.
  server = await startTinyServer(['--ctx-size', '512', '--parallel', '1'])
})
afterAll(async () => {
  await server?.shutdown()
})

function post(body: unknown): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

describe.runIf(process.platform === 'linux')('the private llama-server’s API key', () => {
  it('is not on its command line, yet guards it, and requests through Visto still work', async () => {
    const pid = llamaServerPid()
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    const key = environ.find((entry) => entry.startsWith('LLAMA_API_KEY='))?.slice('LLAMA_API_KEY='.length)
    expect(key).toMatch(/^[0-9a-f]{48}$/)
    expect(argv.some((arg) => arg.includes(key!))).toBe(false)
    expect(argv).not.toContain('--api-key')

    const port = argv[argv.indexOf('--port') + 1]
    const unauthenticated = await fetch(`http://127.0.0.1:${port}/props`)
    expect(unauthenticated.status).toBe(401)
    await unauthenticated.body?.cancel()
    const authenticated = await fetch(`http://127.0.0.1:${port}/props`, { headers: { authorization: `Bearer ${key}` } })
    expect(authenticated.status).toBe(200)
    await authenticated.body?.cancel()

    const answer = await post({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0 })
    expect(answer.status).toBe(200)
    expect(((await answer.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(0)
  })
})

describe('a streamed request the engine rejects at once', () => {
  it('gets the same 400 context_length_exceeded JSON as the non-streamed one, not an event stream', async () => {
    const request = { messages: [{ role: 'user', content: 'hello world '.repeat(600) }], max_tokens: 8 }
    const plain = await post(request)
    const streamed = await post({ ...request, stream: true })
    expect(plain.status).toBe(400)
    expect(streamed.status).toBe(400)
    expect(streamed.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const plainBody = (await plain.json()) as { error: { message: string } }
    expect(plainBody).toEqual({
      error: {
        message: expect.stringMatching(/^This model's maximum context length is 512 tokens, but the request needs \d+ tokens/),
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    })
    expect(await streamed.json()).toEqual(plainBody)
  })

  it('gets the same 400 JSON as the non-streamed one for a schema the engine cannot compile', async () => {
    const schema = { type: 'object', properties: { a: { $ref: '#/$defs/missing' } } }
    const request = { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, response_format: { type: 'json_schema', json_schema: { name: 'broken', schema } } }
    const plain = await post(request)
    const streamed = await post({ ...request, stream: true })
    expect(plain.status).toBe(400)
    expect(streamed.status).toBe(400)
    expect(streamed.headers.get('content-type')).toBe('application/json; charset=utf-8')
    const plainBody = (await plain.json()) as { error: { type: string; message: string } }
    expect(plainBody.error.type).toBe('invalid_request_error')
    expect(plainBody.error.message).toMatch(/#\/\$defs\/missing/)
    expect(await streamed.json()).toEqual(plainBody)
  })

  it('streams as before once the prompt fits', async () => {
    const response = await post({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4, temperature: 0, stream: true })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect((await response.text()).trimEnd().endsWith('data: [DONE]')).toBe(true)
  })
})
