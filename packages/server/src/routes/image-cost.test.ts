import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { defaultImagePipelineOptions, prepareImage } from '../images/pipeline.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { qwen3VlGeometry, type VisionGeometry } from '../engines/vision-geometry.js'
import { closeApp } from '../../../../test-support/close-app.js'

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(apiKey?: string): Promise<FastifyInstance> {
  app = (await composeServer(serveConfig(apiKey ? { 'api-key': apiKey } : {}), { engine: new ScriptedEngine() })).app
  return app
}

const cost = (app: FastifyInstance, images: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { images }, headers })

describe('POST /v1/visto/image-cost', () => {
  it('gives the resized size and prompt tokens of each image per detail level', async () => {
    const app = await setup()
    const response = await cost(app, [
      { width: 4000, height: 3000, detail: 'auto' },
      { width: 4000, height: 3000, detail: 'low' },
      { width: 4000, height: 3000, detail: 'high' },
      { width: 256, height: 256 },
      { width: 10, height: 10, detail: 'auto' },
    ])
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({
      object: 'list',
      data: [
        { object: 'image_cost', detail: 'auto', source_width: 4000, source_height: 3000, width: 1152, height: 864, image_tokens: 972, prompt_tokens: 974 },
        { object: 'image_cost', detail: 'low', source_width: 4000, source_height: 3000, width: 576, height: 416, image_tokens: 234, prompt_tokens: 236 },
        { object: 'image_cost', detail: 'high', source_width: 4000, source_height: 3000, width: 1760, height: 1312, image_tokens: 2255, prompt_tokens: 2257 },
        { object: 'image_cost', detail: 'auto', source_width: 256, source_height: 256, width: 256, height: 256, image_tokens: 64, prompt_tokens: 66 },
        // Grown to the model's minimum of 8 tiles.
        { object: 'image_cost', detail: 'auto', source_width: 10, source_height: 10, width: 96, height: 96, image_tokens: 9, prompt_tokens: 11 },
      ],
    })
  })

  it('agrees with the size the image pipeline really produces', async () => {
    for (const [width, height, detail] of [
      [1000, 700, 'auto'],
      [2000, 300, 'low'],
      [333, 999, 'high'],
    ] as const) {
      const prepared = await prepareImage(dataUrl(await testImage(width, height)), 'messages[0].content[1]', defaultImagePipelineOptions, detail)
      const app = await setup()
      const [figure] = (await cost(app, [{ width, height, detail }])).json().data
      expect({ width: figure.width, height: figure.height, image_tokens: figure.image_tokens }).toEqual({
        width: prepared.width,
        height: prepared.height,
        image_tokens: prepared.imageTokens,
      })
      await closeApp(app)
    }
  })

  it('says which images the server would refuse, and why', async () => {
    const app = await setup()
    const response = await cost(app, [
      { width: 20000, height: 20000 },
      { width: 10000, height: 20 },
    ])
    expect(response.statusCode).toBe(200)
    const [big, thin] = response.json().data
    expect(big.error).toBe('20000x20000 is over the limit of 100000000 decoded pixels (--max-image-pixels)')
    expect(thin.error).toBe('10000x20 has an aspect ratio of 500:1; the model accepts at most 200:1')
  })

  it('answers bad input with a 400 that names the field', async () => {
    const app = await setup()
    for (const [images, param, message] of [
      [undefined, 'images', 'images must be an array of 1 to 64 {"width", "height", "detail"} objects'],
      [[], 'images', 'images must be an array of 1 to 64 {"width", "height", "detail"} objects'],
      [[{ width: 0, height: 10 }], 'images[0].width', 'images[0].width must be a whole number of pixels from 1 to 1000000, got 0'],
      [[{ width: 10, height: '10' }], 'images[0].height', 'images[0].height must be a whole number of pixels from 1 to 1000000, got "10"'],
      [[{ width: 10, height: 10, detail: 'max' }], 'images[0].detail', 'images[0].detail must be "low", "auto" or "high", got "max"'],
      [[7], 'images[0]', 'images[0] must be an object'],
    ] as const) {
      const response = await cost(app, images)
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual({ error: { message, type: 'invalid_request_error', param, code: expect.any(String) } })
    }
  })

  it('needs the API key when one is set', async () => {
    const app = await setup('secret')
    expect((await cost(app, [{ width: 10, height: 10 }])).statusCode).toBe(401)
    expect((await cost(app, [{ width: 10, height: 10 }], { authorization: 'Bearer secret' })).statusCode).toBe(200)
  })

  it("answers with the engine's geometry at request time: the model is loaded after the server is composed", async () => {
    const engine = new ScriptedEngine()
    const scripted = engine.describe.bind(engine)
    let geometry: VisionGeometry = qwen3VlGeometry
    engine.describe = () => ({ ...scripted(), geometry })
    app = (await composeServer(serveConfig(), { engine })).app
    const qwen3 = (await cost(app, [{ width: 4000, height: 3000 }])).json().data[0]
    expect([qwen3.width, qwen3.height, qwen3.image_tokens, qwen3.prompt_tokens]).toEqual([1152, 864, 972, 974])
    // Qwen2.5-VL's 14-px patches, merged 2×2, and a model with three frame tokens.
    geometry = { patchSize: 14, spatialMerge: 2, minImageTokens: 8, frameTokens: 3 }
    const qwen25 = (await cost(app, [{ width: 4000, height: 3000 }])).json().data[0]
    expect([qwen25.width, qwen25.height, qwen25.image_tokens, qwen25.prompt_tokens]).toEqual([1176, 868, 42 * 31, 42 * 31 + 3])
  })
})
