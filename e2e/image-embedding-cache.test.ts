import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import type { LlamaServerProcess } from '../packages/server/src/engines/llama-cpp/llama-server-process.js'
import { imageCacheMbPerEngine, usableMemoryBytes } from '../packages/server/src/engines/llama-cpp/image-cache-size.js'
import { dataUrl, png, testImage } from '@visto/testkit/images/test-images'
import { parsePrometheusText, sample } from '../test-support/prometheus-text.js'
import { startTinyServer } from '../test-support/in-process-server.js'

// The engine's image embedding cache (Visto's llama-server patch) on the real engine and
// the tiny stand-in: one server with the cache off is the reference, one with it on must
// answer a different question about the same image from cached embeddings with exactly
// the reference's answer. The response cache is off on both, so every answer is computed.

const HITS = 'visto_engine_llamacpp_image_cache_hits_total'
const MISSES = 'visto_engine_llamacpp_image_cache_misses_total'
const BYTES = 'visto_engine_llamacpp_image_cache_bytes'
const CAPACITY = Math.floor(0.1 * 1024 * 1024)

let withoutCache: RunningServer
let withCache: RunningServer
let image: string
let otherImage: string

beforeAll(async () => {
  ;[withoutCache, withCache] = await Promise.all([
    startTinyServer(['--image-cache-mb', '0', '--response-cache-mb', '0']),
    // Room for one 320×240 image's embeddings on the stand-in (60 KiB), not two.
    startTinyServer(['--image-cache-mb', '0.1', '--response-cache-mb', '0']),
  ])
  // Same size, so the same number of image tokens: only the content tells them apart.
  image = dataUrl(await testImage(320, 240, 'png'), 'image/png')
  otherImage = dataUrl(await png(320, 240), 'image/png')
}, 180_000)
afterAll(async () => {
  await Promise.all([withoutCache?.shutdown(), withCache?.shutdown()])
})

/** The question comes before the image, as in the article's requests: a new question changes the prompt before it. */
async function ask(server: RunningServer, question: string, url: string): Promise<string> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: question },
            { type: 'image_url', image_url: { url } },
          ],
        },
      ],
      max_tokens: 16,
      temperature: 0,
    }),
  })
  expect(response.status).toBe(200)
  const body = (await response.json()) as { choices: Array<{ message: { content: string } }> }
  return body.choices[0]!.message.content
}

async function scrape(server: RunningServer): Promise<{ text: string; samples: Map<string, number> }> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  const text = await response.text()
  return { text, samples: parsePrometheusText(text) }
}

describe('the image embedding cache in the engine', () => {
  it('answers a different question about the same image from cached embeddings, exactly as without the cache', async () => {
    const first = 'What is in this picture?'
    const second = 'Which colours dominate the image, and where?'
    const reference = [await ask(withoutCache, first, image), await ask(withoutCache, second, image)]
    // The stand-in's answers do depend on the image, so equal answers mean equal embeddings.
    expect(await ask(withoutCache, second, otherImage)).not.toBe(reference[1])

    const start = (await scrape(withCache)).samples
    expect(await ask(withCache, first, image)).toBe(reference[0])
    const afterFirst = (await scrape(withCache)).samples
    expect(sample(afterFirst, MISSES) - sample(start, MISSES)).toBe(1)
    expect(sample(afterFirst, HITS) - sample(start, HITS)).toBe(0)

    expect(await ask(withCache, second, image)).toBe(reference[1])
    const { text, samples: afterSecond } = await scrape(withCache)
    expect(sample(afterSecond, HITS) - sample(afterFirst, HITS)).toBe(1)
    expect(sample(afterSecond, MISSES) - sample(afterFirst, MISSES)).toBe(0)
    expect(sample(afterSecond, BYTES)).toBeGreaterThan(0)
    expect(sample(afterSecond, 'visto_engine_llamacpp_image_cache_capacity_bytes')).toBe(CAPACITY)
    expect(text).toContain('# TYPE visto_engine_llamacpp_image_cache_hits_total counter')
  })

  it('encodes a new image again instead of answering from another image’s embeddings', async () => {
    const before = (await scrape(withCache)).samples
    const reference = await ask(withoutCache, 'Describe it.', otherImage)
    expect(await ask(withCache, 'Describe it.', otherImage)).toBe(reference)
    const after = (await scrape(withCache)).samples
    expect(sample(after, MISSES) - sample(before, MISSES)).toBe(1)
    expect(sample(after, HITS) - sample(before, HITS)).toBe(0)
  })

  it('stays within --image-cache-mb, dropping the least recently used image', async () => {
    // The previous test's image took the room of the first one, which is encoded again.
    const before = (await scrape(withCache)).samples
    const reference = await ask(withoutCache, 'Anything unusual here?', image)
    expect(await ask(withCache, 'Anything unusual here?', image)).toBe(reference)
    const after = (await scrape(withCache)).samples
    expect(sample(after, MISSES) - sample(before, MISSES)).toBe(1)
    expect(sample(after, HITS) - sample(before, HITS)).toBe(0)
    expect(sample(after, BYTES)).toBe(sample(before, BYTES))
    expect(sample(after, BYTES)).toBeLessThanOrEqual(CAPACITY)
  })

  it('serves an image encoded for one slot to another slot', async () => {
    // Visto lets llama-server pick the slot; its own endpoint takes id_slot, so ask the child directly.
    const child = (withCache.engine as unknown as { process: LlamaServerProcess }).process
    const askSlot = async (slot: number) => {
      const response = await fetch(`${child.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${child.apiKey}` },
        body: JSON.stringify({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Slots?' },
                { type: 'image_url', image_url: { url: otherImage } },
              ],
            },
          ],
          max_tokens: 8,
          temperature: 0,
          id_slot: slot,
        }),
      })
      expect(response.status).toBe(200)
      return ((await response.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content
    }
    const before = (await scrape(withCache)).samples
    const onFirstSlot = await askSlot(0)
    const afterFirst = (await scrape(withCache)).samples
    expect(await askSlot(1)).toBe(onFirstSlot)
    const afterSecond = (await scrape(withCache)).samples
    expect(sample(afterSecond, HITS) - sample(afterFirst, HITS)).toBe(1)
    expect(sample(afterSecond, MISSES) - sample(before, MISSES)).toBe(sample(afterFirst, MISSES) - sample(before, MISSES))
  })

  it('gets an eighth of the memory, at most 4096 MiB, by default', async () => {
    const byDefault = await startTinyServer(['--response-cache-mb', '0'])
    try {
      const { samples } = await scrape(byDefault)
      const mb = imageCacheMbPerEngine('auto', usableMemoryBytes())
      expect(mb).toBe(Math.min(4096, Math.floor(usableMemoryBytes() / 8 / 1024 / 1024)))
      expect(sample(samples, 'visto_engine_llamacpp_image_cache_capacity_bytes')).toBe(mb * 1024 * 1024)
    } finally {
      await byDefault.shutdown()
    }
  })

  it('counts nothing with --image-cache-mb 0', async () => {
    const { samples } = await scrape(withoutCache)
    expect(sample(samples, HITS)).toBe(0)
    expect(sample(samples, MISSES)).toBe(0)
    expect(sample(samples, 'visto_engine_llamacpp_image_cache_capacity_bytes')).toBe(0)
  })
})

// A llama-server without Visto's patch (a distro package, a Docker image, an older Visto
// build) gets the size in an environment variable it does not know, and must run as before.
// Such a binary is only on machines that have one: name it in VISTO_STOCK_LLAMA_SERVER.
const stockBinary = process.env.VISTO_STOCK_LLAMA_SERVER
describe.skipIf(!stockBinary)('a stock llama-server given --image-cache-mb', () => {
  it('answers image requests as usual, without the cache’s counters', async () => {
    const stock = await startTinyServer(['--llama-server', stockBinary!, '--image-cache-mb', '16', '--response-cache-mb', '0'])
    try {
      const reference = await ask(withoutCache, 'What is in this picture?', image)
      expect(await ask(stock, 'What is in this picture?', image)).toBe(reference)
      expect(await ask(stock, 'Which colours dominate the image, and where?', image)).toBeTypeOf('string')
      const { text, samples } = await scrape(stock)
      expect(sample(samples, 'visto_engine_metrics_up')).toBe(1)
      expect(text).not.toContain('image_cache')
    } finally {
      await stock.shutdown()
    }
  })
})
