import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { defaultImagePipelineOptions, prepareImage, type ImagePipelineOptions } from './pipeline.js'
import { captureLog, LogLevel } from '../../../../test-support/log-capture.js'
import { closeApp } from '../../../../test-support/close-app.js'

const images: ImagePipelineOptions = {
  ...defaultImagePipelineOptions,
  allowRemote: true,
  // The production address policy; only name resolution is scripted (no network in tests).
  remote: { ...defaultImagePipelineOptions.remote, resolve: async () => [{ address: '10.20.30.40', family: 4 }] },
}
const log = captureLog()
let app: FastifyInstance
let engine: ScriptedEngine

beforeAll(async () => {
  engine = new ScriptedEngine()
  const config = serveConfig({ parallel: 1, 'max-queue': 4, 'default-max-tokens': 16, 'max-images': 2, 'body-limit-mb': 1, 'allow-remote-images': true })
  app = (await composeServer(config, { engine, logger: log.logger, prepareImage: (url, where, detail, signal) => prepareImage(url, where, images, detail, signal) })).app
})
afterAll(async () => {
  await closeApp(app)
})

describe('a remote image URL that resolves to an internal address', () => {
  it('is refused with 400 naming the URL’s host only; the resolved address goes to the info log', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://intranet.example/cat.png' } }] }] },
    })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message: 'Invalid image data in messages[0].content[0]: refusing to fetch intranet.example: image URLs must point to a public internet address',
        type: 'invalid_request_error',
        param: 'messages[0].content[0].image_url.url',
        code: 'remote_image_forbidden',
      },
    })
    expect(response.body).not.toContain('10.20.30.40')
    const logged = log.lines.find((line) => line.code === 'remote_image_forbidden')
    expect(logged).toMatchObject({ level: LogLevel.info, status: 400, detail: 'intranet.example resolves to 10.20.30.40, a private address' })
    expect(engine.requests).toHaveLength(0)
  })
})
