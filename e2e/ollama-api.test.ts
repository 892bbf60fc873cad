import { Ollama } from 'ollama'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { testImage } from '@visto/testkit/images/test-images'
import { ensureTinyStandin } from '../test-support/standin.js'
import { startTinyServer } from '../test-support/in-process-server.js'

// Ollama's API on the real engine (tiny stand-in), driven by the official `ollama` npm
// client, as an app that speaks Ollama would: pointed at Visto's port with `host`.

const KEY = 'sk-visto-ollama-e2e'
let server: RunningServer
let ollama: Ollama
let jpeg: Buffer

beforeAll(async () => {
  server = await startTinyServer(['--ctx-size', '4096', '--api-key', KEY])
  // Ollama's clients send no key of their own; with --api-key set they send it as a header.
  ollama = new Ollama({ host: server.url, headers: { authorization: `Bearer ${KEY}` } })
  jpeg = await testImage(128, 96)
})
afterAll(async () => {
  await server?.shutdown()
})

const model = 'qwen3-vl-4b-instruct:latest'
// Greedy and seeded: the stand-in answers the same to the same question, on every route.
const options = { temperature: 0, seed: 7, num_predict: 12 }
const question = 'What is in this picture?'

describe("Ollama's API with the official ollama client (real engine)", () => {
  it('chats about an image, non-streamed: the answer, its token counts and durations', async () => {
    const response = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [jpeg] }], options })
    expect(response.model).toBe(model)
    expect(response.done).toBe(true)
    expect(response.message.role).toBe('assistant')
    expect(response.message.content.length).toBeGreaterThan(0)
    // The random-weight stand-in never picks end-of-text at temperature 0: it writes exactly num_predict tokens.
    expect(response.done_reason).toBe('length')
    expect(response.eval_count).toBe(12)
    // 128×96 becomes 128×96 (multiples of 32): 4×3 image tokens plus 2 markers, and the text.
    expect(response.prompt_eval_count).toBeGreaterThan(14)
    for (const duration of [response.total_duration, response.prompt_eval_duration, response.eval_duration]) expect(duration).toBeGreaterThan(0)
    expect(response.total_duration).toBeGreaterThanOrEqual(response.prompt_eval_duration + response.eval_duration)

    // One engine path: the same question through chat completions gets the same answer and counts.
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 })
    const completion = await openai.chat.completions.create(
      {
        model: 'qwen3-vl-4b-instruct',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } },
              { type: 'text', text: question },
            ],
          },
        ],
        temperature: 0,
        seed: 7,
        max_tokens: 12,
      },
      { headers: { 'cache-control': 'no-store' } },
    )
    expect(completion.choices[0]!.message.content).toBe(response.message.content)
    expect(completion.usage).toMatchObject({ prompt_tokens: response.prompt_eval_count, completion_tokens: 12 })
  })

  it('chats about an image, streamed (an async iterator of parts ending with the statistics)', async () => {
    const whole = await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [jpeg.toString('base64')] }], options })
    const parts = []
    for await (const part of await ollama.chat({ model, messages: [{ role: 'user', content: question, images: [jpeg.toString('base64')] }], options, stream: true }))
      parts.push(part)
    expect(parts.length).toBeGreaterThan(2)
    expect(parts.slice(0, -1).every((part) => !part.done)).toBe(true)
    const last = parts.at(-1)!
    expect(last).toMatchObject({ done: true, done_reason: 'length', eval_count: 12, prompt_eval_count: whole.prompt_eval_count })
    expect(parts.map((part) => part.message.content).join('')).toBe(whole.message.content)
  })

  it('generates from a prompt with an image', async () => {
    const response = await ollama.generate({ model, prompt: question, images: [jpeg], options })
    expect(response.done).toBe(true)
    expect(typeof response.response).toBe('string')
    expect(response.response!.length).toBeGreaterThan(0)
    expect(response.eval_count).toBe(12)
    const streamed = []
    for await (const part of await ollama.generate({ model, prompt: question, images: [jpeg], options, stream: true })) streamed.push(part.response)
    expect(streamed.join('')).toBe(response.response)
  })

  it("answers format: a schema with JSON that matches it, and format: 'json' with a JSON object", async () => {
    const schema = {
      type: 'object',
      properties: { colour: { type: 'string', enum: ['red', 'green', 'blue'] }, count: { type: 'integer', minimum: 0, maximum: 9 } },
      required: ['colour', 'count'],
      additionalProperties: false,
    }
    const shaped = await ollama.chat({
      model,
      messages: [{ role: 'user', content: 'Colour and count?', images: [jpeg] }],
      format: schema,
      options: { ...options, num_predict: 200 },
    })
    expect(shaped.done_reason).toBe('stop')
    const answer = JSON.parse(shaped.message.content) as { colour: string; count: number }
    expect(Object.keys(answer).sort()).toEqual(['colour', 'count'])
    expect(['red', 'green', 'blue']).toContain(answer.colour)
    expect(Number.isInteger(answer.count)).toBe(true)

    const json = await ollama.generate({ model, prompt: 'Answer in JSON.', format: 'json', options: { ...options, num_predict: 400 } })
    // Any object will do, and the grammar lets the model close it: the stand-in closes it at once.
    expect(json.done_reason).toBe('stop')
    const parsed = JSON.parse(json.response!) as unknown
    expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true)
  })

  it('lists, shows and reports the running model and the version', async () => {
    const { models } = await ollama.list()
    const standin = await ensureTinyStandin()
    expect(models.map((m) => m.name)).toEqual([model])
    expect(models[0]!.details).toMatchObject({ format: 'gguf', family: 'qwen3vl', families: ['qwen3vl', 'clip'], quantization_level: 'F16' })
    const { statSync } = await import('node:fs')
    expect(models[0]!.size).toBe(statSync(standin.model).size + statSync(standin.mmproj).size)

    const shown = await ollama.show({ model: 'qwen3-vl-4b-instruct' })
    expect(shown.capabilities).toEqual(['completion', 'vision', 'tools'])
    expect(shown.template).toContain('<|im_start|>')
    expect(shown.parameters).toBe('num_ctx 4096')
    expect((shown.model_info as unknown as Record<string, unknown>)['general.architecture']).toBe('qwen3vl')

    const running = await ollama.ps()
    expect(running.models.map((m) => m.name)).toEqual([model])
    expect((await ollama.version()).version).toMatch(/^\d+\.\d+\.\d+/)
  })

  it("throws the client's ResponseError with Ollama's status and message", async () => {
    await expect(ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      name: 'ResponseError',
      status_code: 404,
      error: 'model "llama3.2" not found: this server serves qwen3-vl-4b-instruct:latest (Visto cannot pull models)',
    })
    await expect(ollama.chat({ model, messages: [{ role: 'user', content: 'hi', images: ['bm90IGFuIGltYWdl'] }] })).rejects.toMatchObject({
      status_code: 400,
      error: 'Invalid image data in messages[0].images[0]: unsupported image format: plain text; send JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC or BMP',
    })
    const keyless = new Ollama({ host: server.url })
    await expect(keyless.list()).rejects.toMatchObject({ status_code: 401, error: 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".' })
  })
})
