import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import * as fixtures from '@visto/testkit/images/test-images'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { ImagePreparer } from '../serving/chat-completions.js'
import { multipartForm } from '../../../../test-support/requests.js'
import { closeApp } from '../../../../test-support/close-app.js'

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(options: { bodyLimitMb?: number; parallel?: number; maxQueue?: number; preparer?: ImagePreparer } = {}) {
  const config = serveConfig({
    'body-limit-mb': options.bodyLimitMb ?? 1,
    'max-image-mb': 2,
    'max-images': 8,
    parallel: options.parallel ?? 1,
    'max-queue': options.maxQueue ?? 4,
  })
  const composed = await composeServer(config, { engine: new ScriptedEngine(), ...(options.preparer ? { prepareImage: options.preparer } : {}) })
  app = composed.app
  return { app, engine: composed.engine, admission: composed.admission }
}

const bodyTooLarge = {
  error: {
    message: 'Request body too large: the limit is 1 MiB (--body-limit-mb). Send smaller or fewer images.',
    type: 'invalid_request_error',
    param: null,
    code: 'body_too_large',
  },
}

describe('POST /v1/images/describe obeys --body-limit-mb', () => {
  it('refuses a form whose Content-Length is over the body limit with 413, though each image is under --max-image-mb', async () => {
    const { app } = await setup()
    const file = Buffer.alloc(700 * 1024, 1)
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images/describe',
      ...multipartForm([
        { name: 'image', filename: 'a.jpg', data: file },
        { name: 'image', filename: 'b.jpg', data: file },
      ]),
    })
    expect(response.statusCode).toBe(413)
    expect(response.json()).toEqual(bodyTooLarge)
  })

  it('counts a chunked upload (no Content-Length) as it streams in', async () => {
    const { app } = await setup()
    const file = Buffer.alloc(700 * 1024, 1)
    const { payload, headers } = multipartForm([
      { name: 'image', filename: 'a.jpg', data: file },
      { name: 'image', filename: 'b.jpg', data: file },
    ])
    const stream = Readable.from([payload.subarray(0, 500_000), payload.subarray(500_000)])
    const response = await app.inject({ method: 'POST', url: '/v1/images/describe', headers, payload: stream })
    expect(response.statusCode).toBe(413)
    expect(response.json()).toEqual(bodyTooLarge)
  })

  it('refuses a file in an unknown field before buffering it (so not as an oversized image)', async () => {
    const { app } = await setup({ bodyLimitMb: 8 })
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images/describe',
      ...multipartForm([{ name: 'attachment', filename: 'x.bin', data: Buffer.alloc(3 * 1024 * 1024) }]),
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'Unexpected file field "attachment"; send images in "image" fields',
      type: 'invalid_request_error',
      param: 'attachment',
      code: 'unknown_field',
    })
  })

  it('still describes an upload within the limits', async () => {
    const { app, admission } = await setup()
    const jpeg = await fixtures.jpeg(320, 240)
    const response = await app.inject({
      method: 'POST',
      url: '/v1/images/describe',
      ...multipartForm([
        { name: 'image', filename: 'a.jpg', data: jpeg },
        { name: 'prompt', value: 'hi' },
      ]),
    })
    expect(response.statusCode).toBe(200)
    expect(response.json().choices[0].message.content).toBe('Hello world')
    expect([admission.running, admission.queued, admission.reserved]).toEqual([0, 0, 0])
  })
})

describe('image decoding counts toward admission', () => {
  /** An image preparer that waits until told to finish, recording each call's signal. */
  function gatedPreparer() {
    const calls: AbortSignal[] = []
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => (open = resolve))
    const preparer: ImagePreparer = async (_url, _where, _detail, signal) => {
      calls.push(signal)
      await Promise.race([gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))])
      return { data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64 }
    }
    return { preparer, calls, open: () => open() }
  }
  const withImage = {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        ],
      },
    ],
  }

  it('answers 503 with Retry-After when requests still decoding images fill every place', async () => {
    const gated = gatedPreparer()
    const { app, admission } = await setup({ parallel: 1, maxQueue: 1, preparer: gated.preparer })
    const first = app.inject({ method: 'POST', url: '/v1/chat/completions', payload: withImage })
    const second = app.inject({ method: 'POST', url: '/v1/chat/completions', payload: withImage })
    while (gated.calls.length < 2) await new Promise((r) => setTimeout(r, 5))
    expect(admission.reserved).toBe(2)

    const refused = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: withImage })
    expect(refused.statusCode).toBe(503)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(refused.json().error).toMatchObject({ type: 'service_unavailable_error', code: 'queue_full' })
    expect(refused.json().error.message).toMatch(/^The server is at capacity \(0 running, 0 queued, 2 preparing images\)/)
    expect(gated.calls.length).toBe(2)

    gated.open()
    expect((await first).statusCode).toBe(200)
    expect((await second).statusCode).toBe(200)
    expect([admission.running, admission.queued, admission.reserved]).toEqual([0, 0, 0])
  })

  it('gives the place back when image decoding fails', async () => {
    const { app, admission } = await setup({
      preparer: async () => {
        throw new Error('decoder exploded')
      },
    })
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: withImage })
    expect(response.statusCode).toBe(500)
    expect([admission.running, admission.queued, admission.reserved]).toEqual([0, 0, 0])
  })

  it('stops decoding and frees the place when the client goes away', async () => {
    const gated = gatedPreparer()
    const { app, admission } = await setup({ preparer: gated.preparer })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const controller = new AbortController()
    const request = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(withImage),
      signal: controller.signal,
    }).catch((error: unknown) => error)
    while (gated.calls.length < 1) await new Promise((r) => setTimeout(r, 5))
    expect(admission.reserved).toBe(1)
    controller.abort()
    await request
    while (!gated.calls[0]!.aborted) await new Promise((r) => setTimeout(r, 5))
    while (admission.reserved > 0) await new Promise((r) => setTimeout(r, 5))
    expect([admission.running, admission.queued, admission.reserved]).toEqual([0, 0, 0])
  })
})
