/**
 * The tiny stand-in pair through the real engine: llama.cpp's llama-server, started
 * directly (no Visto code in between), so a failure here is about the stand-in files.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ensureTinyStandin } from '../test-support/standin.js'
import { freePort } from '../packages/server/src/engines/llama-cpp/llama-server-process.js'

const binary =
  process.env.VISTO_LLAMA_SERVER ?? join(process.env.VISTO_CACHE ?? join(homedir(), '.cache', 'visto'), 'engine', 'llama.cpp-nlc3.21.1', 'build-cpu', 'bin', 'llama-server')
const haveBinary = existsSync(binary)
if (!haveBinary) console.warn(`standin-llama-server: skipped, no llama-server at ${binary} (run \`npx visto engine build\` or set VISTO_LLAMA_SERVER)`)

let server: ChildProcess | undefined
let base = ''
let log = ''

async function png(width: number, height: number): Promise<string> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 251 // a busy pattern, not a flat colour
  const bytes = await sharp(pixels, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer()
  return `data:image/png;base64,${bytes.toString('base64')}`
}

/** The parts of llama-server's chat completion these tests read. */
interface Completion {
  choices: Array<{ message: { content: string } }>
  usage: { prompt_tokens: number; completion_tokens: number }
}

async function post<Answer>(path: string, body: unknown): Promise<{ status: number; json: Answer }> {
  const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: response.status, json: (await response.json()) as Answer }
}

function chat(image: string, extra: Record<string, unknown> = {}) {
  return {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: image } },
          { type: 'text', text: 'Describe.' },
        ],
      },
    ],
    max_tokens: 12,
    temperature: 0,
    seed: 42,
    ...extra,
  }
}

describe.skipIf(!haveBinary)('tiny stand-in on llama-server', () => {
  beforeAll(async () => {
    const { model, mmproj } = await ensureTinyStandin()
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    server = spawn(binary, ['--model', model, '--mmproj', mmproj, '--host', '127.0.0.1', '--port', String(port), '-c', '4096', '-np', '1', '-t', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server.stdout!.on('data', (d: Buffer) => (log += d.toString()))
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const deadline = Date.now() + 60_000
    for (;;) {
      if (server.exitCode !== null) throw new Error(`llama-server exited with ${server.exitCode}:\n${log.slice(-3000)}`)
      const ok = await fetch(`${base}/health`).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) break
      if (Date.now() > deadline) throw new Error(`llama-server did not become healthy:\n${log.slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  afterAll(async () => {
    if (!server || server.exitCode !== null) return
    const exited = new Promise((r) => server!.once('exit', r))
    server.kill('SIGTERM')
    const timer = setTimeout(() => server!.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  })

  /** Prompt tokens apart from the image: the rendered template without the media marker. */
  async function textTokens(request: ReturnType<typeof chat>): Promise<number> {
    const { json: props } = await fetch(`${base}/props`).then(async (r) => ({ json: await r.json() }))
    const { json: rendered } = await post<{ prompt: string }>('/apply-template', { messages: request.messages })
    expect(rendered.prompt).toContain(props.media_marker)
    const { json: tokenized } = await post<{ tokens: number[] }>('/tokenize', { content: rendered.prompt.replace(props.media_marker, '') })
    return tokenized.tokens.length
  }

  // Qwen smart-resize: sides rounded to multiples of 32 px (patch 16 × merge 2), at least
  // 8 tokens, one token per 32×32 cell; mtmd adds <|vision_start|> and <|vision_end|>.
  it.each([
    [256, 256, 64],
    [320, 192, 60],
    [64, 64, 9], // below the 8-token minimum's side: scaled up to 96×96
  ])('counts (W/32)·(H/32) image tokens for a %i×%i image', async (width, height, imageTokens) => {
    const request = chat(await png(width, height), { max_tokens: 1 })
    const { status, json } = await post<Completion>('/v1/chat/completions', request)
    expect(status, JSON.stringify(json)).toBe(200)
    expect(json.usage.prompt_tokens).toBe((await textTokens(request)) + 2 + imageTokens)
  })

  it('answers the same valid printable text twice at temperature 0 with a fixed seed', async () => {
    const request = chat(await png(96, 64), { cache_prompt: false })
    const first = await post<Completion>('/v1/chat/completions', request)
    const second = await post<Completion>('/v1/chat/completions', request)
    expect(first.status, JSON.stringify(first.json)).toBe(200)
    expect(second.status, JSON.stringify(second.json)).toBe(200)
    const text = first.json.choices[0]!.message.content
    expect(second.json.choices[0]!.message.content).toBe(text)
    expect(first.json.usage.completion_tokens).toBe(12)
    expect(text.trim().length).toBeGreaterThan(0)
    // The stand-in can only emit printable ASCII and newlines: valid UTF-8 by construction.
    expect(text).toMatch(/^[\x20-\x7e\n]+$/)
  })
})
