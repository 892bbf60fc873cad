import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { parsePrometheusText, sample } from '../test-support/prometheus-text.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'

// /metrics and the response cache on the real server: real llama-server, tiny stand-in
// model. The numbers Visto exports must agree with what the engine reported in `usage`,
// llama-server's own metrics must come through renamed, and a cached answer must be
// exactly the one the engine computed.

let server: RunningServer
beforeAll(async () => {
  server = await startTinyServer()
})
afterAll(async () => {
  await server?.shutdown()
})

const chat = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

async function scrape(): Promise<{ text: string; samples: Map<string, number> }> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  const text = await response.text()
  return { text, samples: parsePrometheusText(text) }
}

describe('metrics from the real engine', () => {
  it("count exactly the tokens the engine reported, images by format, and relay llama-server's metrics renamed", async () => {
    const before = (await scrape()).samples
    const image = dataUrl(await testImage(320, 240, 'png'), 'image/png')
    const response = await chat({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe.' },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
      max_tokens: 6,
      temperature: 0.5,
    })
    expect(response.status).toBe(200)
    const { usage } = (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }
    const { text, samples: after } = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels)
    expect(delta('visto_chat_prompt_tokens_total')).toBe(usage.prompt_tokens)
    expect(delta('visto_chat_completion_tokens_total')).toBe(usage.completion_tokens)
    // 320×240 fits the default budget: 320×256 after alignment to 32 px, 10 × 8 tokens.
    expect(delta('visto_chat_image_tokens_total')).toBe(80)
    expect(delta('visto_images_total', { format: 'png' })).toBe(1)
    expect(delta('visto_chat_time_to_first_token_seconds_count')).toBe(1)
    expect(sample(after, 'visto_engine_state', { state: 'ready' })).toBe(1)
    expect(sample(after, 'visto_engine_load_seconds')).toBeGreaterThan(0)
    expect(sample(after, 'visto_engine_metrics_up')).toBe(1)
    expect(sample(after, 'visto_engine_llamacpp_prompt_tokens_total')).toBeGreaterThan(0)
    expect(sample(after, 'visto_engine_llamacpp_tokens_predicted_total')).toBeGreaterThan(0)
    expect(text).toContain('# TYPE visto_engine_llamacpp_requests_processing gauge')
    expect(text).not.toMatch(/^[^#].*llamacpp:/m)
  })
})

describe('the response cache on the real engine', () => {
  it('answers a repeated temperature-0 request with exactly what the engine computed, streamed or not', async () => {
    const image = dataUrl(await testImage(256, 256, 'jpeg'))
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in the picture?' },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
      max_tokens: 8,
      temperature: 0,
    }
    const first = await chat(body)
    expect(first.headers.get('x-visto-cache')).toBe('miss')
    const computed = (await first.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }>; usage: object }
    const second = await chat(body)
    expect(second.headers.get('x-visto-cache')).toBe('hit')
    const cached = (await second.json()) as typeof computed
    expect(cached.choices).toEqual(computed.choices)
    expect(cached.usage).toEqual(computed.usage)

    const streamed = await chat({ ...body, stream: true, stream_options: { include_usage: true } })
    expect(streamed.headers.get('x-visto-cache')).toBe('hit')
    const events = (await streamed.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''))
    expect(events.at(-1)).toBe('[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage: object | null })
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(computed.choices[0]!.message.content)
    expect(chunks.at(-1)!.usage).toEqual(computed.usage)

    // The same question recomputed on request gives the same answer (temperature 0).
    const fresh = await chat(body, { 'cache-control': 'no-cache' })
    expect(fresh.headers.get('x-visto-cache')).toBe('miss')
    expect(((await fresh.json()) as typeof computed).choices).toEqual(computed.choices)
  })
})
