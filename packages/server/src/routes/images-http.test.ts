import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { fuzzSeeds } from '@visto/testkit/images/fuzz-seeds'
import { createRandom, fuzzCase } from '@visto/testkit/images/image-fuzz'
import { prepareImage, prepareImageBytes, type ImagePipelineOptions } from '../images/pipeline.js'
import { writeBmp } from '@visto/testkit/images/bmp-writer'
import * as fixtures from '@visto/testkit/images/test-images'
import { describeSceneRequest, multipartForm, type FormPart } from '../../../../test-support/requests.js'
import { closeApp } from '../../../../test-support/close-app.js'

let images: ImagePipelineOptions
let app: FastifyInstance
let engine: ScriptedEngine
let jpeg: Buffer

beforeAll(async () => {
  jpeg = await fixtures.photoLikeJpeg(1600, 1200)
  engine = new ScriptedEngine()
  const composed = await composeServer(serveConfig({ 'max-image-mb': 2, 'max-images': 3, 'body-limit-mb': 8 }), { engine })
  app = composed.app
  images = composed.images
})

afterAll(async () => {
  await closeApp(app)
})

function chat(body: unknown) {
  return app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) })
}

function lastEngineImage() {
  const request = engine.requests.at(-1)!
  const part = request.messages.flatMap((message) => message.content).find((p) => p.type === 'image')
  return part?.type === 'image' ? part.image : undefined
}

describe('images over HTTP: POST /v1/chat/completions', () => {
  it('decodes a base64 JPEG and hands the engine an aligned re-encoded image', async () => {
    const response = await chat(describeSceneRequest(fixtures.dataUrl(jpeg)))
    expect(response.statusCode).toBe(200)
    expect(response.json().choices[0].message.content).toBe('Hello world')
    const image = lastEngineImage()!
    expect([image.mime, image.width, image.height]).toEqual(['image/jpeg', 1152, 864])
    expect(image.data.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]))
  })

  it('answers a truncated JPEG with "Invalid image data" in the OpenAI envelope', async () => {
    const response = await chat(describeSceneRequest(fixtures.dataUrl(jpeg.subarray(0, jpeg.length >> 1))))
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message: 'Invalid image data in messages[0].content[1]: truncated JPEG',
        type: 'invalid_request_error',
        param: 'messages[0].content[1].image_url.url',
        code: 'truncated_image',
      },
    })
  })

  it('refuses a remote URL by default, saying how to enable it', async () => {
    const response = await chat(describeSceneRequest('http://169.254.169.254/latest/meta-data/'))
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toMatch(/--allow-remote-images \(VISTO_ALLOW_REMOTE_IMAGES=1\)$/)
  })

  it('answers 413 for an image over the byte limit', async () => {
    const big = Buffer.concat([jpeg, Buffer.alloc(3 * 1024 * 1024)])
    const response = await chat(describeSceneRequest(fixtures.dataUrl(big)))
    expect(response.statusCode).toBe(413)
    expect(response.json().error.message).toMatch(/^Image too large in messages\[0\]\.content\[1\]: the image is [\d.]+ MiB, over the per-image limit of 2 MiB \(--max-image-mb\)$/)
  })

  it('survives hostile images and malformed JSON shapes with zero 5xx, and still answers afterwards', async () => {
    const seeds = await fuzzSeeds()
    const random = createRandom(4242)
    const junk = (): unknown => {
      const options: Array<() => unknown> = [
        () => null,
        () => 42,
        () => 'x'.repeat(Math.floor(random() * 50)),
        () => [],
        () => ({}),
        () => [{ type: 'image_url' }],
        () => ({ url: 12 }),
        () => [{ type: 'image_url', image_url: { url: ['a'] } }],
        () => [{ type: 'image_url', image_url: 'data:image/png;base64,AAAA' }],
        () => [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'ultra' } }],
        () => [{ type: 'input_image', image_url: { url: 'x' } }],
        () => [{ type: 'text' }],
        () => [{ type: 'text', text: { nested: true } }],
        () => true,
      ]
      return options[Math.floor(random() * options.length)]!()
    }
    const statuses = new Map<number, number>()
    const serverErrors: string[] = []
    for (let i = 0; i < 300; i++) {
      let response: Awaited<ReturnType<typeof chat>>
      const kind = i % 3
      if (kind === 0) {
        const testCase = fuzzCase(seeds, i, 99)
        response = await chat(describeSceneRequest(testCase.url))
      } else if (kind === 1) {
        response = await chat({ model: 'qwen3-vl-4b-instruct', messages: [{ role: random() < 0.8 ? 'user' : junk(), content: junk() }], max_tokens: random() < 0.8 ? 16 : junk() })
      } else {
        const text = JSON.stringify(describeSceneRequest(fixtures.dataUrl(seeds[0]!.bytes)))
        const cut = text.slice(0, Math.floor(random() * text.length))
        response = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, payload: cut })
      }
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      if (response.statusCode >= 500) serverErrors.push(`case ${i}: ${response.statusCode} ${response.body}`)
      else if (response.statusCode !== 200) expect(response.json()).toMatchObject({ error: { message: expect.any(String), type: 'invalid_request_error' } })
    }
    expect(serverErrors).toEqual([])
    expect(statuses.get(400)).toBeGreaterThan(100)
    expect((await chat(describeSceneRequest(fixtures.dataUrl(jpeg)))).statusCode).toBe(200)
  }, 60_000)

  it('survives malformed tools, tool_choice, tool calls and tool messages with zero 5xx, each refusal an OpenAI error', async () => {
    const random = createRandom(2020)
    const pick = <T>(options: T[]): T => options[Math.floor(random() * options.length)]!
    const valid = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }
    const junkTool = (): unknown =>
      pick<() => unknown>([
        () => valid,
        () => null,
        () => 'f',
        () => ({ type: 'function' }),
        () => ({ type: 'function', function: { name: pick(['', 'a b', 'x'.repeat(65), 7, null]) } }),
        () => ({
          type: 'function',
          function: { name: 'g', parameters: pick([[], 'x', { type: 'string', pattern: '(*x)' }, { $ref: 'http://x' }, { minLength: -1 }, { a: { a: { a: {} } } }]) },
        }),
        () => ({ type: pick(['retrieval', 1, null]), function: valid.function }),
      ])()
    const junkChoice = (): unknown =>
      pick<unknown>([undefined, 'auto', 'none', 'required', 'sometimes', 3, [], {}, { type: 'function' }, { type: 'function', function: { name: pick(['f', 'nope', 5]) } }])
    const junkCall = (): unknown =>
      pick<unknown>([
        { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
        { id: 1 },
        { id: 'c1', function: { name: 'f', arguments: {} } },
        'call',
        null,
        { id: 'c1', type: 'x', function: {} },
      ])
    const junkMessages = (): unknown[] => {
      const history: unknown[] = [{ role: 'user', content: 'hi' }]
      if (random() < 0.6) history.push({ role: 'assistant', content: pick([null, '', 'ok', 5]), tool_calls: pick([[junkCall()], junkCall(), [], undefined]) })
      if (random() < 0.6) {
        history.push({
          role: 'tool',
          tool_call_id: pick(['c1', 'c2', 4, undefined]),
          content: pick([
            'result',
            null,
            [{ type: 'text', text: 'r' }],
            [{ type: 'image_url', image_url: { url: fixtures.dataUrl(jpeg) } }],
            [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }],
            [{ type: 'file', file: {} }],
          ]),
        })
      }
      return history
    }
    const serverErrors: string[] = []
    let refused = 0
    for (let i = 0; i < 150; i++) {
      const body = {
        messages: junkMessages(),
        tools: pick([undefined, [junkTool()], [junkTool(), junkTool()], junkTool(), []]),
        tool_choice: junkChoice(),
        parallel_tool_calls: pick([undefined, true, 'no']),
        logprobs: pick([undefined, true, 1]),
        top_logprobs: pick([undefined, 2, 25, -1]),
        n: pick([undefined, 1, 2, 9, 0.5]),
        max_tokens: 4,
      }
      const response = await chat(body)
      if (response.statusCode >= 500) serverErrors.push(`case ${i}: ${response.statusCode} ${response.body} for ${JSON.stringify(body).slice(0, 400)}`)
      else if (response.statusCode !== 200) {
        refused++
        expect(response.json()).toMatchObject({ error: { message: expect.any(String), type: 'invalid_request_error', param: expect.any(String) } })
      }
    }
    expect(serverErrors).toEqual([])
    expect(refused).toBeGreaterThan(75)
  }, 60_000)
})

function describeImages(parts: FormPart[]) {
  return app.inject({ method: 'POST', url: '/v1/images/describe', ...multipartForm(parts) })
}

describe('images over HTTP: POST /v1/images/describe (multipart upload)', () => {
  it('answers a curl -F upload with the same chat completion object', async () => {
    const response = await describeImages([
      { name: 'image', filename: 'photo.jpg', data: jpeg, type: 'image/jpeg' },
      { name: 'prompt', value: '描述这张图片' },
      { name: 'max_tokens', value: '64' },
      { name: 'temperature', value: '0.2' },
    ])
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'qwen3-vl-4b-instruct',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: expect.objectContaining({ total_tokens: expect.any(Number) }),
    })
    const request = engine.requests.at(-1)!
    expect(request.sampling).toMatchObject({ maxTokens: 64, temperature: 0.2 })
    expect(request.messages[0]!.content[0]).toEqual({ type: 'text', text: '描述这张图片' })
    expect([lastEngineImage()!.width, lastEngineImage()!.height]).toEqual([1152, 864])
  })

  it('hands the engine the image exactly as the pipeline prepared it: decoded once, encoded once', async () => {
    const response = await describeImages([{ name: 'image', filename: 'photo.jpg', data: jpeg }])
    expect(response.statusCode).toBe(200)
    const once = await prepareImageBytes(jpeg, 'image[0]', images, 'auto')
    expect(lastEngineImage()!.data.equals(once.data)).toBe(true)
    // A second decode and JPEG pass would change the bytes.
    const twice = await prepareImage(`data:${once.mime};base64,${once.data.toString('base64')}`, 'messages[0].content[1]', images, 'auto')
    expect(twice.data.equals(once.data)).toBe(false)
  })

  it('takes several images, a BMP among them, and honours detail=low', async () => {
    const bmp = writeBmp({ width: 300, height: 200, bitsPerPixel: 24, pixel: () => [1, 2, 3, 255] })
    const response = await describeImages([
      { name: 'image', filename: 'a.jpg', data: jpeg },
      { name: 'image', filename: 'scan.bmp', data: bmp },
      { name: 'prompt', value: 'compare' },
      { name: 'detail', value: 'low' },
    ])
    expect(response.statusCode).toBe(200)
    const parts = engine.requests.at(-1)!.messages[0]!.content
    const sizes = parts.flatMap((part) => (part.type === 'image' ? [[part.image.width, part.image.height]] : []))
    expect(sizes).toEqual([
      [576, 416],
      [288, 192],
    ])
  })

  it('names the upload in image errors', async () => {
    const response = await describeImages([
      { name: 'image', filename: 'ok.jpg', data: jpeg },
      { name: 'image', filename: 'bad.jpg', data: jpeg.subarray(0, 500) },
      { name: 'prompt', value: 'x' },
    ])
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({ message: 'Invalid image data in image[1]: truncated JPEG', type: 'invalid_request_error', param: 'image[1]', code: 'truncated_image' })
  })

  it.each([
    ['no image', [{ name: 'prompt', value: 'x' }], 400, /^No image: send one or more files in the "image" field/],
    [
      'an unknown field',
      [
        { name: 'image', filename: 'a.jpg', data: Buffer.from([0xff, 0xd8, 0xff]) },
        { name: 'promt', value: 'x' },
      ],
      400,
      /^Unknown form field "promt"/,
    ],
    ['a bad max_tokens', [{ name: 'max_tokens', value: 'lots' }], 400, /^max_tokens must be a number, got "lots"$/],
    ['a bad detail', [{ name: 'detail', value: 'ultra' }], 400, /^detail must be "low", "high" or "auto", got "ultra"$/],
  ] as const)('refuses %s with a 400', async (_name, parts, status, message) => {
    const response = await describeImages([...parts])
    expect(response.statusCode).toBe(status)
    expect(response.json().error.message).toMatch(message)
  })

  it.each([
    ['max_tokens', '0', 'max_tokens must be at least 1, got 0'],
    ['max_tokens', '2.5', 'max_tokens must be a whole number, got 2.5'],
    ['temperature', '3', 'temperature must be at most 2, got 3'],
  ])("checks %s=%s as a chat body's field of that name is checked", async (name, value, message) => {
    const response = await describeImages([
      { name: 'image', filename: 'a.jpg', data: jpeg },
      { name, value },
    ])
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({ message, type: 'invalid_request_error', param: name, code: 'invalid_value' })
  })

  it('refuses more images than the limit', async () => {
    const file = { name: 'image', filename: 'a.jpg', data: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) }
    const response = await describeImages([file, file, file, file, { name: 'prompt', value: 'x' }])
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toBe('Too many images: the limit is 3 per request (--max-images)')
  })

  it('answers 413 for an upload over the byte limit', async () => {
    const response = await describeImages([{ name: 'image', filename: 'big.jpg', data: Buffer.concat([jpeg, Buffer.alloc(3 * 1024 * 1024)]) }])
    expect(response.statusCode).toBe(413)
    // Uploads may be as large as a PDF (--max-pdf-mb); an image over its own limit is refused by the pipeline, naming its size.
    expect(response.json().error.message).toMatch(/^Image too large in image\[0\]: the image is [\d.]+ MiB, over the per-image limit of 2 MiB \(--max-image-mb\)$/)
  })

  it('answers a cut-off or garbled form with a 400, never a 500', async () => {
    const { payload, headers } = multipartForm([
      { name: 'image', filename: 'photo.jpg', data: jpeg.subarray(0, 2000) },
      { name: 'prompt', value: 'x' },
    ])
    const statuses = new Set<number>()
    for (const cut of [5, 40, 120, 500, 1500, payload.length - 3]) {
      const response = await app.inject({ method: 'POST', url: '/v1/images/describe', headers, payload: payload.subarray(0, cut) })
      statuses.add(response.statusCode)
      expect(response.json().error.type).toBe('invalid_request_error')
    }
    expect([...statuses]).toEqual([400])
    const cut = await app.inject({ method: 'POST', url: '/v1/images/describe', headers, payload: payload.subarray(0, 120) })
    expect(cut.json().error).toEqual({
      message: 'Malformed multipart/form-data body: Unexpected end of multipart data',
      type: 'invalid_request_error',
      param: 'body',
      code: 'invalid_multipart',
    })
    const noBoundary = await app.inject({ method: 'POST', url: '/v1/images/describe', headers: { 'content-type': 'multipart/form-data' }, payload: 'x' })
    expect(noBoundary.statusCode).toBe(400)
  })

  it('explains the form when the body is not multipart', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/images/describe', headers: { 'content-type': 'application/json' }, payload: '{}' })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toMatch(/^Send multipart\/form-data with one or more "image" files/)
  })
})
