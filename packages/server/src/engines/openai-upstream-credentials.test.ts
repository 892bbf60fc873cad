import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OpenAiUpstreamEngine } from './openai-upstream-engine.js'

let upstream: Server | undefined
afterEach(async () => {
  vi.useRealTimers()
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()))
  upstream = undefined
})

/** A minimal OpenAI-compatible upstream that records each request's path and authorization. */
async function startUpstream(seen: Array<string | undefined>): Promise<string> {
  upstream = createServer((request: IncomingMessage, response) => {
    seen.push(`${request.url} ${request.headers.authorization}`)
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ object: 'list', data: [{ id: 'upstream-model' }] }))
  })
  await new Promise<void>((resolve) => upstream!.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${(upstream!.address() as AddressInfo).port}`
}

const options = { modelAliases: ['m'], contextLength: 4096, parallel: 1 }

describe('--upstream-url with credentials', () => {
  it('sends the userinfo as Basic auth, never in the URL, and shows the URL without it', async () => {
    const seen: Array<string | undefined> = []
    const host = await startUpstream(seen)
    const engine = new OpenAiUpstreamEngine({ ...options, baseUrl: `http://us%40er:s3cret@${host}/v1` })
    await engine.start()
    expect(engine.state()).toEqual({ status: 'ready' })
    // The model list, then the metrics an engine may report its embedding cache in: both with the credentials.
    const basic = `Basic ${Buffer.from('us@er:s3cret').toString('base64')}`
    expect(seen).toEqual([`/v1/models ${basic}`, `/metrics ${basic}`])
    expect(engine.displayUrl).toBe(`http://${host}/v1`)
  })

  it('prefers --upstream-api-key over the userinfo', async () => {
    const seen: Array<string | undefined> = []
    const host = await startUpstream(seen)
    await new OpenAiUpstreamEngine({ ...options, baseUrl: `http://user:pass@${host}/v1`, apiKey: 'sk-up' }).start()
    expect(seen).toEqual(['/v1/models Bearer sk-up', '/metrics Bearer sk-up'])
  })

  it('keeps the credentials out of the unavailable state and the 503 message while unreachable', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    const failingFetch = (async (url: string | URL | Request) => {
      throw new TypeError(`connect ECONNREFUSED for ${String(url)} (was http://user:s3cret@gpu-box:8000/v1)`)
    }) as typeof fetch
    const engine = new OpenAiUpstreamEngine({ ...options, baseUrl: 'http://user:s3cret@gpu-box:8000/v1', fetch: failingFetch })
    const starting = engine.start()
    starting.catch(() => {})
    await vi.advanceTimersByTimeAsync(0)
    const state = engine.state()
    expect(state).toMatchObject({ status: 'unavailable', message: expect.stringContaining('upstream http://gpu-box:8000/v1 unreachable') })
    expect(JSON.stringify(state)).not.toContain('s3cret')
    const refusal = await engine.health().catch((error: Error) => error)
    expect((refusal as Error).message).toMatch(/^The upstream engine is not ready: upstream http:\/\/gpu-box:8000\/v1 unreachable/)
    expect((refusal as Error).message).not.toContain('s3cret')
    await vi.advanceTimersByTimeAsync(60_000)
    await expect(starting).rejects.toThrow(/^upstream http:\/\/gpu-box:8000\/v1 unreachable/)
    await starting.catch((error: Error) => expect(error.message).not.toContain('s3cret'))
  })
})
