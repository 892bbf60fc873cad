import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { startTinyServer } from '../test-support/in-process-server.js'
import { vistoBin } from '../test-support/paths.js'
import { ffmpegAvailable, makeClip, noFfmpegReason, videoDataUrl } from '../test-support/videos.js'

let server: RunningServer
let dir: string
let clip: Buffer

if (!ffmpegAvailable) console.warn(`[video e2e skipped] ${noFfmpegReason}`)

beforeAll(async () => {
  if (!ffmpegAvailable) return
  server = await startTinyServer()
  clip = await makeClip({ seconds: 4, width: 320, height: 240 })
  dir = mkdtempSync(path.join(os.tmpdir(), 'visto-video-e2e-'))
  writeFileSync(path.join(dir, 'clip.mp4'), clip)
})
afterAll(async () => {
  await server?.shutdown()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

type Part = Record<string, unknown>

async function promptTokens(content: Part[]): Promise<number> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 1, temperature: 0 }),
  })
  expect(response.status).toBe(200)
  return ((await response.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens
}

describe.skipIf(!ffmpegAvailable)('video on the real engine (tiny stand-in)', () => {
  it('answers a clip, its prompt costing exactly what POST /v1/visto/image-cost predicts from its duration and size', async () => {
    const response = await fetch(`${server.url}/v1/visto/image-cost`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ videos: [{ duration: 4, width: 320, height: 240 }] }),
    })
    expect(response.status).toBe(200)
    const [cost] = ((await response.json()) as { videos: Array<{ frames: number; images: number; image_tokens: number; prompt_tokens: number; estimated: boolean }> }).videos
    // 8 frames at 2 fps, 4 images of 320x256 (80 tokens each); the engine counted the timestamp texts.
    expect(cost).toMatchObject({ frames: 8, images: 4, image_tokens: 320, estimated: false })
    const question: Part = { type: 'text', text: 'What happens?' }
    // The clip first, as Qwen's own video examples put it: its first timestamp follows the role line.
    const withVideo = await promptTokens([{ type: 'video_url', video_url: { url: videoDataUrl(clip) } }, question])
    expect(withVideo - (await promptTokens([question]))).toBe(cost!.prompt_tokens)
  })

  it('previews the clip at the same cost', async () => {
    const response = await fetch(`${server.url}/v1/visto/video-preview`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ video_data: videoDataUrl(clip) }),
    })
    expect(response.status).toBe(200)
    const preview = (await response.json()) as { images: unknown[]; prompt_tokens: number; estimated: boolean }
    expect(preview.images).toHaveLength(4)
    expect(preview.estimated).toBe(false)
    const question: Part = { type: 'text', text: 'What happens?' }
    expect((await promptTokens([{ type: 'video_url', video_url: { url: videoDataUrl(clip) } }, question])) - (await promptTokens([question]))).toBe(preview.prompt_tokens)
  })

  it('takes the part from the official openai client, and refuses a broken clip with BadRequestError', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    // vLLM's part shape, which the openai types do not know.
    const content = [
      { type: 'video_url', video_url: { url: videoDataUrl(clip) } },
      { type: 'text', text: 'What happens?' },
    ] as unknown as OpenAI.ChatCompletionContentPart[]
    const completion = await client.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content }], max_tokens: 2, temperature: 0 })
    expect(completion.choices[0]?.finish_reason).toBeDefined()
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(320)
    const broken = [{ type: 'video_url', video_url: { url: videoDataUrl(clip.subarray(0, 600)) } }] as unknown as OpenAI.ChatCompletionContentPart[]
    const error = await client.chat.completions.create({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: broken }], max_tokens: 2 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('Invalid video data in messages[0].content[0]: corrupt or unreadable video')
  })

  it('visto ask clip.mp4 answers about the clip', async () => {
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [vistoBin, 'ask', path.join(dir, 'clip.mp4'), '-q', 'What happens?', '--json', '--max-tokens', '4', '--base-url', server.url],
        { encoding: 'utf8', timeout: 120_000 },
        (error, stdout, stderr) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      )
    })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const answer = JSON.parse(run.stdout) as { text: string; usage: { prompt_tokens: number } }
    expect(typeof answer.text).toBe('string')
    // The question comes first from the CLI; the four frame images are in the prompt either way.
    expect(answer.usage.prompt_tokens).toBeGreaterThan(320 + 8)
  })
})
