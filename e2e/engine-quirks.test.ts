import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'

// A stand-in whose every output token is a lone UTF-8 continuation byte: the worst a
// random-weight (or unlucky real) model can emit. Stock llama-server's chat parser
// fails on such output; Visto's patched build (engine-patches/) must let it through, and
// Visto must answer 200 with the bytes replaced.
let server: RunningServer

beforeAll(async () => {
  server = await startTinyServer([], 'invalid-utf8')
})
afterAll(async () => {
  await server?.shutdown()
})

async function post(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

describe('a model that emits invalid UTF-8', () => {
  const request = async () => ({
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe.' },
          { type: 'image_url', image_url: { url: dataUrl(await testImage(128, 128)) } },
        ],
      },
    ],
    max_tokens: 24,
    temperature: 0,
    seed: 1,
  })

  it('still gets 200 with the invalid bytes replaced by U+FFFD', async () => {
    const response = await post(await request())
    expect(response.status).toBe(200)
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number } }
    const text = body.choices[0]!.message.content
    expect(body.usage.completion_tokens).toBe(24)
    expect(text.length).toBeGreaterThan(0)
    expect([...text].every((c) => c === '\uFFFD')).toBe(true)
  })

  it('streams the same replaced text, with no error event', async () => {
    const whole = (await (await post(await request())).json()) as { choices: Array<{ message: { content: string } }> }
    const streamed = await (await post({ ...(await request()), stream: true })).text()
    const events = streamed.split('\n\n').filter(Boolean)
    expect(events.at(-1)).toBe('data: [DONE]')
    expect(streamed).not.toContain('"error"')
    const text = events
      .slice(0, -1)
      .map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> })
      .map((c) => c.choices[0]?.delta.content ?? '')
      .join('')
    expect(text).toBe(whole.choices[0]!.message.content)
  })
})
