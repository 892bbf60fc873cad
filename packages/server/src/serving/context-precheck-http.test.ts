import { crc32, deflateSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { png } from '@visto/testkit/images/test-images'
import { parsePrometheusText } from '../../../../test-support/prometheus-text.js'
import { ScriptedEngine, words } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { closeApp } from '../../../../test-support/close-app.js'

/**
 * Eight 100 MP images used to be decoded (17 s) before the engine refused the prompt as
 * longer than the context. Their cost is known from their headers: the request is
 * refused with the engine's own 400 before a single pixel is decoded.
 */

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A real, valid grey PNG of width x height, all black: megapixels to decode, a few hundred KB to send. */
function blankPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 0, 0, 0, 0], 8)
  // Each row: filter byte 0, then `width` zero samples.
  const pixels = deflateSync(Buffer.alloc((width + 1) * height), { level: 9 })
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))])
}

async function start(contextLength: number) {
  const engine = new ScriptedEngine(words(['Fine']), { contextLength })
  // No image preparer given: the real pipeline, as `visto serve` runs it.
  const composed = await composeServer(serveConfig({ 'max-images': 8 }), { engine })
  app = composed.app
  return { app, engine }
}

function chat(app: FastifyInstance, images: Buffer[], text = 'What is in these?') {
  const content = [{ type: 'text', text }, ...images.map((image) => ({ type: 'image_url', image_url: { url: `data:image/png;base64,${image.toString('base64')}` } }))]
  return app.inject({
    method: 'POST',
    url: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 4 }),
  })
}

async function imagesDecoded(app: FastifyInstance): Promise<number> {
  const samples = parsePrometheusText((await app.inject({ method: 'GET', url: '/metrics' })).body)
  return [...samples].filter(([name]) => name.startsWith('visto_images_total')).reduce((n, [, value]) => n + value, 0)
}

describe('a request over the context, refused from its images’ headers', () => {
  it('refuses eight 100 MP images with a small context in milliseconds, decoding none of them', async () => {
    const { app, engine } = await start(2048)
    const huge = blankPng(10_000, 10_000)
    expect(huge.length).toBeLessThan(200_000)
    const cost = (await app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { images: [{ width: 10_000, height: 10_000 }] } })).json().data[0]
      .prompt_tokens as number
    const started = performance.now()
    const response = await chat(app, Array(8).fill(huge))
    const elapsedMs = performance.now() - started
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message: `This model's maximum context length is 2048 tokens, but the request needs at least ${8 * cost} tokens (images included, counted from their headers before decoding). Shorten the conversation, send fewer or smaller images (image_url.detail "low"), or start the server with a larger --ctx-size.`,
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    })
    // Decoding even one of them takes seconds; reading eight headers takes milliseconds.
    expect(elapsedMs).toBeLessThan(1500)
    expect(await imagesDecoded(app)).toBe(0)
    expect(engine.requests).toHaveLength(0)
  })

  it('counts text too, and still decodes and answers a request that fits', async () => {
    const { app, engine } = await start(2048)
    const small = await png(64, 64)
    const fits = await chat(app, [small, small])
    expect(fits.statusCode).toBe(200)
    expect(await imagesDecoded(app)).toBe(2)
    expect(engine.requests).toHaveLength(1)
    // The same two small images with a text whose lower bound alone is over the context.
    const tooLong = await chat(app, [small, small], 'word '.repeat(14_000))
    expect(tooLong.statusCode).toBe(400)
    expect(tooLong.json().error.code).toBe('context_length_exceeded')
    expect(tooLong.json().error.message).toMatch(/^This model's maximum context length is 2048 tokens, but the request needs at least 2\d\d\d tokens/)
    expect(await imagesDecoded(app)).toBe(2)
  })
})
