import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { startTinyServer } from '../test-support/in-process-server.js'
import { writeTinyMmproj } from '../test-support/standin.js'

// The tiny stand-in with a projector of 14-px patches (Qwen2.5-VL's), on the real engine:
// llama.cpp then charges one token per 28×28 px, and Visto must size and count images the
// same way, having read the geometry from the mmproj file rather than assumed Qwen3-VL's.

let server: RunningServer

beforeAll(async () => {
  const mmproj = await writeTinyMmproj(join(mkdtempSync(join(tmpdir(), 'visto-patch14-')), 'mmproj.gguf'), { patchSize: 14 })
  server = await startTinyServer(['--mmproj', mmproj, '--response-cache-mb', '0'])
}, 180_000)
afterAll(async () => {
  await server?.shutdown()
})

async function post<Answer>(path: string, body: unknown): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(response.status).toBe(200)
  return (await response.json()) as Answer
}

async function promptTokens(width: number, height: number): Promise<number> {
  const image = dataUrl(await testImage(width, height, 'png'), 'image/png')
  const answer = await post<{ usage: { prompt_tokens: number } }>('/v1/chat/completions', {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: image } },
          { type: 'text', text: 'Describe.' },
        ],
      },
    ],
    max_tokens: 1,
    temperature: 0,
  })
  return answer.usage.prompt_tokens
}

describe('model geometry from the engine', () => {
  it("reads the projector's patch size when the engine loads the model", () => {
    expect(server.engine.describe().geometry).toEqual({ patchSize: 14, spatialMerge: 2, minImageTokens: 8, frameTokens: 2 })
  })

  it('prices images in 28-px tokens, exactly as llama.cpp charges them', async () => {
    const costs = (
      await post<{ data: Array<Record<string, number>> }>('/v1/visto/image-cost', {
        images: [
          { width: 112, height: 84 },
          { width: 224, height: 168 },
        ],
      })
    ).data
    // With Qwen3-VL's 32 px these would be 128×96 (12 tokens) and 224×160 (35).
    expect(costs.map((c) => [c.width, c.height, c.image_tokens, c.prompt_tokens])).toEqual([
      [112, 84, 4 * 3, 4 * 3 + 2],
      [224, 168, 8 * 6, 8 * 6 + 2],
    ])
    // Same text, so the prompts differ by the images alone.
    expect((await promptTokens(224, 168)) - (await promptTokens(112, 84))).toBe(costs[1]!.prompt_tokens! - costs[0]!.prompt_tokens!)
  })
})
