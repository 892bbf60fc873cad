import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { launchChromium } from '../test-support/chromium.js'
import { startTinyServer } from '../test-support/in-process-server.js'

// A web app on another origin that the operator allowed (--cors-origins) streams answers
// from the real server in Chromium; a page on any other origin still reads nothing.

let browser: Browser
let visto: RunningServer
let allowedSite: Server
let allowedURL: string
let foreignSite: Server
let foreignURL: string

const question = { messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 12, temperature: 0, seed: 42 }

/** A page that streams an answer with fetch and reads the SSE frames as they arrive. */
function streamingPage(target: string): string {
  return `<!doctype html><meta charset="utf-8"><title>a web app</title><script>
window.streamed = (async () => {
  try {
    const response = await fetch(${JSON.stringify(`${target}/v1/chat/completions`)}, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: ${JSON.stringify(JSON.stringify({ ...question, stream: true }))},
    })
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    let received = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      received += value
    }
    const frames = received.split('\\n\\n').filter(Boolean)
    const text = frames
      .filter((frame) => frame !== 'data: [DONE]')
      .map((frame) => JSON.parse(frame.slice('data: '.length)).choices[0]?.delta?.content ?? '')
      .join('')
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      requestId: response.headers.get('x-request-id'),
      cache: response.headers.get('x-visto-cache'),
      last: frames.at(-1),
      text,
    }
  } catch (error) {
    return { blocked: error.name }
  }
})()
</script>`
}

function site(): Promise<{ server: Server; url: string }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(streamingPage(visto.url))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })))
}

beforeAll(async () => {
  ;({ server: allowedSite, url: allowedURL } = await site())
  ;({ server: foreignSite, url: foreignURL } = await site())
  visto = await startTinyServer(['--cors-origins', allowedURL])
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await visto?.shutdown()
  await Promise.all([allowedSite, foreignSite].map((server) => new Promise((resolve) => server?.close(resolve))))
})

describe('a page on an origin allowed by --cors-origins', () => {
  it('reads a streamed answer as it arrives, the same text as without streaming, with the exposed headers', async () => {
    const whole = (await (
      await fetch(`${visto.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: JSON.stringify(question),
      })
    ).json()) as { choices: Array<{ message: { content: string } }> }
    const page = await browser.newPage()
    await page.goto(allowedURL)
    const result = (await page.evaluate('window.streamed')) as Record<string, unknown>
    await page.close()
    expect(result).toMatchObject({ status: 200, contentType: 'text/event-stream; charset=utf-8', last: 'data: [DONE]' })
    expect(result.requestId).toMatch(/^req_/)
    expect(result.cache).toBe('miss')
    expect(result.text).toBe(whole.choices[0]!.message.content)
    expect(result.text).not.toBe('')
  })
})

describe('a page on an origin not allowed', () => {
  it('still reads nothing of a stream', async () => {
    const page = await browser.newPage()
    await page.goto(foreignURL)
    const result = (await page.evaluate('window.streamed')) as Record<string, unknown>
    await page.close()
    expect(result).toEqual({ blocked: 'TypeError' })
  })
})
