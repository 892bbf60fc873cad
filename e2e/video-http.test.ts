import type { FastifyInstance } from 'fastify'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testImage } from '@visto/testkit/images/test-images'
import { multipartForm } from '../test-support/requests.js'
import { ScriptedEngine } from '../test-support/scripted-engine.js'
import { ffmpegAvailable, makeClip, noFfmpegReason, videoDataUrl, withDeclaredDuration } from '../test-support/videos.js'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { closeApp } from '../test-support/close-app.js'

// The scripted engine stands in only for generation: probing, limits and decoding are the real ffmpeg.
let app: FastifyInstance
let engine: ScriptedEngine

if (!ffmpegAvailable) console.warn(`[video tests skipped] ${noFfmpegReason}`)

beforeAll(async () => {
  if (!ffmpegAvailable) return
  engine = new ScriptedEngine()
  app = (await composeServer(serveConfig({ 'max-video-mb': 2, 'max-video-seconds': 60, 'body-limit-mb': 8 }), { engine })).app
})

afterAll(async () => {
  await closeApp(app)
})

function chat(content: unknown[], target = app) {
  return target.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content }], max_tokens: 8 } })
}

const video = (url: string, extra: Record<string, unknown> = {}) => ({ type: 'video_url', video_url: { url, ...extra } })

function lastEngineContent() {
  return engine.requests
    .at(-1)!
    .messages.flatMap((m) => m.content)
    .map((p) => (p.type === 'text' ? p.text : `image ${p.image.width}x${p.image.height}`))
}

describe.skipIf(!ffmpegAvailable)('video_url parts over HTTP', () => {
  it("sends each pair of frames as one image after Qwen3-VL's timestamp, in place", async () => {
    const response = await chat([{ type: 'text', text: 'What happens?' }, video(videoDataUrl(await makeClip())), { type: 'text', text: 'Be brief.' }])
    expect(response.statusCode).toBe(200)
    // 3 s at 2 fps: frames at 0, 0.5 … 2.5 s; pairs stamped with their mean time.
    expect(lastEngineContent()).toEqual(['What happens?', '<0.2 seconds>', 'image 160x128', '<1.2 seconds>', 'image 160x128', '<2.2 seconds>', 'image 160x128', 'Be brief.'])
  })

  it.each([
    ['H.264 in MOV', { codec: 'h264', container: 'mov' }],
    ['VP8 in WebM', { codec: 'vp8', container: 'webm' }],
    ['VP9 in WebM', { codec: 'vp9', container: 'webm' }],
    ['H.264 in MP4, index first', { codec: 'h264', container: 'mp4', faststart: true }],
  ] as const)('reads %s', async (_name, options) => {
    const response = await chat([video(videoDataUrl(await makeClip(options), options.container))])
    expect(response.statusCode).toBe(200)
    expect(lastEngineContent().filter((part) => part.startsWith('<'))).toEqual(['<0.2 seconds>', '<1.2 seconds>', '<2.2 seconds>'])
  })

  it('finds the duration of a live-recorded WebM, whose header declares none, from its last frame', async () => {
    expect((await chat([video(videoDataUrl(await makeClip({ codec: 'vp8', container: 'webm', live: true }), 'webm'))])).statusCode).toBe(200)
    expect(lastEngineContent().filter((part) => part.startsWith('<'))).toEqual(['<0.2 seconds>', '<1.2 seconds>', '<2.2 seconds>'])
  })

  it("follows the part's fps, max_frames and detail", async () => {
    const clip = await makeClip({ seconds: 4, width: 640, height: 480 })
    expect((await chat([video(videoDataUrl(clip), { fps: 1, detail: 'low' })])).statusCode).toBe(200)
    // 4 frames at 1 fps (the minimum), 256² px at "low".
    expect(lastEngineContent()).toEqual(['<0.5 seconds>', 'image 288x192', '<2.5 seconds>', 'image 288x192'])
    expect((await chat([video(videoDataUrl(clip), { max_frames: 4, detail: 'high' })])).statusCode).toBe(200)
    expect(lastEngineContent()).toEqual(['<0.5 seconds>', 'image 640x480', '<2.5 seconds>', 'image 640x480'])
  })

  it('caches a deterministic answer by the clip and its sampling: another fps is never a hit', async () => {
    const url = videoDataUrl(await makeClip({ seconds: 2 }))
    const ask = (extra: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: [video(url, extra)] }], max_tokens: 8, temperature: 0 } })
    const before = engine.requests.length
    expect((await ask({})).headers['x-visto-cache']).toBe('miss')
    expect((await ask({})).headers['x-visto-cache']).toBe('hit')
    expect((await ask({ fps: 1 })).headers['x-visto-cache']).toBe('miss')
    expect(engine.requests.length - before).toBe(2)
  })

  it('shows a phone video upright', async () => {
    expect((await chat([video(videoDataUrl(await makeClip({ rotate: 90 })))])).statusCode).toBe(200)
    expect(lastEngineContent()[1]).toBe('image 128x160')
  })

  it('costs exactly what POST /v1/visto/image-cost predicts for its duration and size', async () => {
    const clip = await makeClip({ seconds: 5, width: 320, height: 180 })
    const response = await app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { videos: [{ duration: 5, width: 320, height: 180, detail: 'auto' }] } })
    expect(response.statusCode).toBe(200)
    const [cost] = response.json().videos
    expect((await chat([video(videoDataUrl(clip))])).statusCode).toBe(200)
    const sent = engine.requests.at(-1)!.messages[0]!.content
    const images = sent.filter((p) => p.type === 'image')
    expect(cost).toMatchObject({ object: 'video_cost', frames: 10, images: images.length, width: images[0]!.type === 'image' && images[0]!.image.width })
    expect(cost.timestamps).toEqual(sent.filter((p) => p.type === 'text').map((p) => p.type === 'text' && p.text))
    expect(cost.image_tokens).toBe(images.length * (cost.width / 32) * (cost.height / 32))
    // The scripted engine cannot tokenize: the timestamps are estimated (one token a digit, four more each).
    expect(cost.estimated).toBe(true)
    expect(cost.prompt_tokens).toBe(cost.image_tokens + 2 * cost.images + cost.timestamps.reduce((n: number, t: string) => n + t.replace(/\D/g, '').length + 4, 0))
  })

  it('answers image-cost with a refusal for a video over the limits, and 400 for bad fields', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { videos: [{ duration: 61, width: 640, height: 480 }] } })
    expect(response.json().videos[0]).toEqual({
      object: 'video_cost',
      detail: 'auto',
      duration: 61,
      source_width: 640,
      source_height: 480,
      error: 'a video of 61 s is over the limit of 60 s (--max-video-seconds)',
    })
    const bad = await app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { videos: [{ duration: 5, width: 640, height: 480, max_frames: 2 }] } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error).toEqual({
      message: 'videos[0].max_frames must be a whole number from 4 to 768, got 2',
      type: 'invalid_request_error',
      param: 'videos[0].max_frames',
      code: 'invalid_value',
    })
  })

  it('previews a clip: a thumbnail and the cost of each image, as a chat request sends them', async () => {
    const clip = await makeClip()
    const response = await app.inject({ method: 'POST', url: '/v1/visto/video-preview', payload: { video_data: videoDataUrl(clip) } })
    expect(response.statusCode).toBe(200)
    const preview = response.json()
    expect(preview).toMatchObject({ object: 'video_preview', duration: 3, source_width: 160, source_height: 120, frames: 6, width: 160, height: 128, image_tokens: 60 })
    expect(preview.images.map((image: { timestamp: string }) => image.timestamp)).toEqual(['<0.2 seconds>', '<1.2 seconds>', '<2.2 seconds>'])
    expect(preview.images.every((image: { thumbnail: string }) => image.thumbnail.startsWith('data:image/jpeg;base64,/9j/'))).toBe(true)
    expect(preview.prompt_tokens).toBe(preview.images.reduce((n: number, image: { prompt_tokens: number }) => n + image.prompt_tokens, 0))
    const cost = (await app.inject({ method: 'POST', url: '/v1/visto/image-cost', payload: { videos: [{ duration: 3, width: 160, height: 120 }] } })).json().videos[0]
    expect(preview.prompt_tokens).toBe(cost.prompt_tokens)
  })

  it('takes a clip through the multipart describe route', async () => {
    const { payload, headers } = multipartForm([
      { name: 'image', filename: 'clip.webm', data: await makeClip({ codec: 'vp9', container: 'webm' }) },
      { name: 'prompt', value: 'What happens?' },
      { name: 'fps', value: '1' },
    ])
    const response = await app.inject({ method: 'POST', url: '/v1/images/describe', headers, payload })
    expect(response.statusCode).toBe(200)
    expect(lastEngineContent()).toEqual(['What happens?', '<0.4 seconds>', 'image 160x128', '<1.9 seconds>', 'image 160x128'])
  })

  it('keeps an animated GIF an image (its first frame), and refuses one sent as a video', async () => {
    const gif = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3050d0' } })
      .gif()
      .toBuffer()
    const response = await chat([video(`data:image/gif;base64,${gif.toString('base64')}`)])
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'Invalid video data in messages[0].content[0]: GIF is read as an image (its first frame): send it as an image_url part, or convert the animation to MP4 or WebM',
      type: 'invalid_request_error',
      param: 'messages[0].content[0].video_url.url',
      code: 'unsupported_video_format',
    })
  })
})

describe.skipIf(!ffmpegAvailable)('hostile and refused videos over HTTP: 400 or 413, never a hang', () => {
  const refusal = async (content: unknown[], target = app) => {
    const response = await chat(content, target)
    return { status: response.statusCode, ...response.json().error }
  }

  it('refuses a clip cut short, whose index is gone', async () => {
    const clip = await makeClip()
    expect(await refusal([video(videoDataUrl(clip.subarray(0, Math.floor(clip.length / 2))))])).toMatchObject({
      status: 400,
      code: 'corrupt_video',
      message: expect.stringMatching(/^Invalid video data in messages\[0\]\.content\[0\]: corrupt or unreadable video \(.+\)$/),
    })
  })

  it('refuses a clip cut short after its index, once too few of its frames decode', async () => {
    const clip = await makeClip({ seconds: 8, faststart: true, source: 'testsrc2' })
    const cut = await refusal([video(videoDataUrl(clip.subarray(0, Math.floor(clip.length * 0.3))))])
    expect(cut).toMatchObject({ status: 400, code: 'truncated_video', param: 'messages[0].content[0].video_url.url' })
    expect(cut.message).toMatch(/^Invalid video data in messages\[0\]\.content\[0\]: truncated or corrupt video: \d+ of the 16 frames sampled over its 8 s could be decoded$/)
  })

  it('refuses mislabelled data: an image, text, random bytes behind an MP4 header', async () => {
    const jpeg = (await testImage(32, 32)).toString('base64')
    expect(await refusal([video(`data:video/mp4;base64,${jpeg}`)])).toMatchObject({
      status: 400,
      code: 'unsupported_video_format',
      message: 'Invalid video data in messages[0].content[0]: unsupported video format: JPEG (send images as image_url parts); send MP4, MOV or WebM',
    })
    const junk = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\0\0isomiso2'), Buffer.alloc(4000, 0x5a)])
    expect(await refusal([video(videoDataUrl(junk))])).toMatchObject({ status: 400, code: 'corrupt_video' })
    // A WebM labelled MP4 is read as the WebM it is.
    expect((await chat([video(`data:video/mp4;base64,${(await makeClip({ codec: 'vp8', container: 'webm' })).toString('base64')}`)])).statusCode).toBe(200)
  })

  it('refuses frames too large before decoding one', async () => {
    // 4608x4608: a few KiB of file, 21 MP a frame once decoded.
    const bomb = await makeClip({ seconds: 0.4, width: 4608, height: 4608, rate: 5, source: 'color=c=blue' })
    expect(await refusal([video(videoDataUrl(bomb))])).toEqual({
      status: 413,
      type: 'invalid_request_error',
      param: 'messages[0].content[0].video_url.url',
      code: 'video_too_many_pixels',
      message: 'Video too large in messages[0].content[0]: its frames are 4608x4608 (21.2 MP), over the limit of 16.8 MP a frame',
    })
  })

  it('refuses a header that declares hours, before decoding', async () => {
    const lying = withDeclaredDuration(await makeClip(), 10 * 3600)
    expect(await refusal([video(videoDataUrl(lying))])).toEqual({
      status: 413,
      type: 'invalid_request_error',
      param: 'messages[0].content[0].video_url.url',
      code: 'video_too_long',
      message: 'Video too large in messages[0].content[0]: the video lasts 10 h 0 min, over the limit of 60 s (--max-video-seconds)',
    })
  })

  it('refuses a video over --max-video-mb, empty data and a URL it may not fetch', async () => {
    const big = Buffer.concat([await makeClip(), Buffer.alloc(2 * 1024 * 1024)])
    expect(await refusal([video(videoDataUrl(big))])).toMatchObject({
      status: 413,
      code: 'video_too_large',
      message: expect.stringMatching(/over the per-video limit of 2 MiB \(--max-video-mb\)$/),
    })
    expect(await refusal([video('data:video/mp4;base64,')])).toMatchObject({ status: 400, code: 'empty_video' })
    expect(await refusal([video('https://example.com/clip.mp4')])).toMatchObject({ status: 400, code: 'remote_videos_disabled', param: 'messages[0].content[0].video_url.url' })
    expect(await refusal([{ type: 'video_url', video_url: { file_id: 'file-abc' } }])).toMatchObject({
      status: 400,
      code: 'file_uploads_disabled',
      param: 'messages[0].content[0].video_url.file_id',
    })
  })

  it('refuses more videos than --max-videos before reading any', async () => {
    const part = video('data:video/mp4;base64,AAAA')
    expect(await refusal([part, part, part])).toEqual({
      status: 400,
      type: 'invalid_request_error',
      param: 'messages',
      code: 'too_many_videos',
      message: 'Too many videos: 3 in this request, the limit is 2 (--max-videos)',
    })
  })

  it('says "install ffmpeg" when the server has none', async () => {
    const bare = (await composeServer(serveConfig({ ffmpeg: '/nonexistent/bin/ffmpeg' }), { engine: new ScriptedEngine() })).app
    try {
      expect(await refusal([video(videoDataUrl(await makeClip()))], bare)).toEqual({
        status: 400,
        type: 'invalid_request_error',
        param: 'messages[0].content[0].video_url.url',
        code: 'video_unavailable',
        message: 'This server cannot read video: install ffmpeg (e.g. apt-get install ffmpeg, brew install ffmpeg) or point --ffmpeg at it, then restart Visto',
      })
    } finally {
      await bare.close()
    }
  })

  it('kills a decoder that hangs at --video-timeout-seconds', async () => {
    // The real ffprobe reads the headers; the "ffmpeg" next to it never finishes, as a decoder stuck on a hostile stream.
    const bin = mkdtempSync(join(tmpdir(), 'visto-hung-ffmpeg-'))
    writeFileSync(join(bin, 'ffmpeg'), '#!/bin/sh\nexec sleep 60\n')
    writeFileSync(join(bin, 'ffprobe'), '#!/bin/sh\nexec ffprobe "$@"\n')
    chmodSync(join(bin, 'ffmpeg'), 0o755)
    chmodSync(join(bin, 'ffprobe'), 0o755)
    const hung = (await composeServer(serveConfig({ 'video-timeout-seconds': 1, ffmpeg: join(bin, 'ffmpeg') }), { engine: new ScriptedEngine() })).app
    try {
      const started = Date.now()
      expect(await refusal([video(videoDataUrl(await makeClip()))], hung)).toMatchObject({
        status: 400,
        code: 'video_timeout',
        message: 'Invalid video data in messages[0].content[0]: the video took too long to decode: over 1 s (--video-timeout-seconds)',
      })
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      await hung.close()
      rmSync(bin, { recursive: true, force: true })
    }
  })

  it('stays healthy after all of them', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200)
    expect((await chat([video(videoDataUrl(await makeClip()))])).statusCode).toBe(200)
  })
})

describe.skipIf(!ffmpegAvailable)('videos uploaded once, asked about by file_id', () => {
  it('reads a clip uploaded with purpose user_data as the inline one, and names an unknown id', async () => {
    const { default: OpenAI, toFile } = await import('openai')
    const { freshDataDir } = await import('../test-support/data-dir.js')
    const scripted = new ScriptedEngine()
    const composed = await composeServer(serveConfig({ 'body-limit-mb': 8 }), { engine: scripted, data: { dir: freshDataDir() } })
    try {
      const baseURL = `${await composed.app.listen({ port: 0, host: '127.0.0.1' })}/v1`
      const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 })
      const clip = await makeClip()
      const uploaded = await client.files.create({ file: await toFile(clip, 'clip.mp4'), purpose: 'user_data' })
      const ask = (part: unknown) => composed.app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: [part] }], max_tokens: 8 } })
      const content = () =>
        scripted.requests
          .at(-1)!
          .messages.flatMap((m) => m.content)
          .map((p) => (p.type === 'text' ? p.text : `${p.image.width}x${p.image.height} ${p.image.data.length}`))
      expect((await ask({ type: 'video_url', video_url: { file_id: uploaded.id } })).statusCode).toBe(200)
      const fromUpload = content()
      expect(fromUpload.filter((part) => part.startsWith('<'))).toEqual(['<0.2 seconds>', '<1.2 seconds>', '<2.2 seconds>'])
      expect((await ask(video(videoDataUrl(clip)))).statusCode).toBe(200)
      expect(content()).toEqual(fromUpload)
      const missing = await ask({ type: 'video_url', video_url: { file_id: 'file-nope' } })
      expect(missing.statusCode).toBe(400)
      expect(missing.json().error).toEqual({
        message: 'Invalid video data in messages[0].content[0]: no uploaded file has the id "file-nope"',
        type: 'invalid_request_error',
        param: 'messages[0].content[0].video_url.file_id',
        code: 'file_not_found',
      })
    } finally {
      await closeApp(composed.app)
      await composed.dataDir?.close()
    }
  })
})
