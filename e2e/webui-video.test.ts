import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { words } from '../test-support/scripted-engine.js'
import { exportedCode, startScriptedSite, watchCspViolations, type ScriptedSite } from '../test-support/scripted-site.js'
import { ffmpegAvailable, makeClip, noFfmpegReason } from '../test-support/videos.js'

// A clip dropped on the page: the images the model will see shown with their timestamps
// and cost before sending, sent as a `video_url` part, and given as code. The engine is
// scripted; probing, sampling and decoding the clip are the real ffmpeg.

const ui = { timeout: 15_000 }

let site: ScriptedSite
let context: BrowserContext
let page: Page
let cspViolations: string[] = []

if (!ffmpegAvailable) console.warn(`[video page test skipped] ${noFfmpegReason}`)

beforeAll(async () => {
  if (!ffmpegAvailable) return
  site = await startScriptedSite({ parallel: 1, 'max-queue': 4, 'body-limit-mb': 32, 'max-video-seconds': 60 })
})

afterAll(async () => {
  await site?.close()
})

beforeEach(async () => {
  if (!ffmpegAvailable) return
  site.engine.script = words(['A', ' counter.'])
  site.engine.requests.length = 0
  context = await site.browser.newContext({ locale: 'en-US' })
  cspViolations = await watchCspViolations(context)
  page = await context.newPage()
  await page.goto(site.baseURL)
})

afterEach(async () => {
  if (!ffmpegAvailable) return
  expect(cspViolations).toEqual([])
  await context?.close()
})

/** Drops a file on the page the way a browser reports a drag from the desktop (real drags cannot be scripted headless). */
async function drop(name: string, bytes: Buffer, type: string): Promise<void> {
  await page.evaluate(
    ([name, base64, type]) => {
      const file = new File([Uint8Array.from(atob(base64!), (c) => c.charCodeAt(0))], name!, { type })
      const dropped = new DataTransfer()
      dropped.items.add(file)
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }))
    },
    [name, bytes.toString('base64'), type],
  )
}

const attachment = (name: string) => page.locator('#attachments .attachment.video').filter({ hasText: name })
const frameCaptions = (name: string) =>
  page
    .getByRole('list', { name: `Frames of ${name}` })
    .locator('.page-cost')
    .allTextContents()

describe.skipIf(!ffmpegAvailable)('a video on the web page', () => {
  it('shows a dropped clip as frame thumbnails with their timestamps and tokens, follows the detail choice, and sends it as a video_url part', async () => {
    // 3 s of 640x480 in WebM (VP9): the browser never decodes it, the server does.
    await drop('clip.webm', await makeClip({ width: 640, height: 480, codec: 'vp9', container: 'webm' }), 'video/webm')
    // "auto": 3 images of 448² px at most: 512x384, 192 tokens, plus 2 markers and the timestamp (estimated: 6).
    await expect.poll(() => frameCaptions('clip.webm'), ui).toEqual(['0.2 s · 200', '1.2 s · 200', '2.2 s · 200'])
    const frames = page.getByRole('list', { name: 'Frames of clip.webm' })
    expect(await frames.getByRole('img').evaluateAll((imgs) => imgs.map((img) => img.getAttribute('alt')))).toEqual(['Frames at 0.2 s', 'Frames at 1.2 s', 'Frames at 2.2 s'])
    // Each thumbnail is the server's small JPEG of what the model sees.
    const sizes = await frames
      .getByRole('img')
      .evaluateAll((imgs) =>
        (imgs as HTMLImageElement[]).map((img) => ({ jpeg: img.src.startsWith('data:image/jpeg;base64,'), width: img.naturalWidth, height: img.naturalHeight })),
      )
    expect(sizes).toEqual(Array.from({ length: 3 }, () => ({ jpeg: true, width: 160, height: 120 })))
    expect(await attachment('clip.webm').locator('.cost').textContent()).toBe('3 images · 600 tokens')
    expect(await attachment('clip.webm').locator('.cost').getAttribute('title')).toBe(
      '3 s of video: 6 frames sampled, each pair sent as one 512×384 image after its timestamp: 600 prompt tokens in all',
    )

    await attachment('clip.webm').getByRole('combobox', { name: 'Detail for clip.webm' }).selectOption('low')
    // "low": 256² px at most: 288x192, 54 tokens.
    await expect.poll(() => frameCaptions('clip.webm'), ui).toEqual(['0.2 s · 62', '1.2 s · 62', '2.2 s · 62'])
    expect(await attachment('clip.webm').locator('.cost').textContent()).toBe('3 images · 186 tokens')

    await page.locator('#question').fill('What happens?')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.getByRole('listitem', { name: 'Answer 1' }).locator('.text').textContent(), ui).toBe('A counter.')
    const sent = site.engine.requests[0]!.messages[0]!.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height}`))
    expect(sent).toEqual(['What happens?', '<0.2 seconds>', 'image 288x192', '<1.2 seconds>', 'image 288x192', '<2.2 seconds>', 'image 288x192'])
    // The question in the conversation shows the clip by its first image.
    expect(
      await page
        .getByRole('listitem', { name: 'Question 1' })
        .getByRole('img', { name: 'clip.webm' })
        .evaluate((img) => (img as HTMLImageElement).src.startsWith('data:image/jpeg')),
    ).toBe(true)

    const python = await exportedCode(page, 'Python')
    expect(python).toContain('with open("clip.webm", "rb") as video_file:\n    base64_video = base64.b64encode(video_file.read()).decode("utf-8")')
    expect(python).toContain('"type": "video_url"')
    expect(python).toContain('"url": f"data:video/webm;base64,{base64_video}"')
  })

  it('says why a clip would be refused, before sending', async () => {
    const clip = await makeClip({ width: 640, height: 480 })
    await drop('cut.mp4', clip.subarray(0, 500), 'video/mp4')
    await expect.poll(() => attachment('cut.mp4').locator('.cost').textContent(), ui).toMatch(/^refused: Invalid video data in the video: corrupt or unreadable video/)
    expect(await frameCaptions('cut.mp4')).toEqual([])
  })

  it('shows the clip at phone width, its frames in one scrolling row', async () => {
    await page.setViewportSize({ width: 390, height: 800 })
    await drop('clip.mp4', await makeClip({ seconds: 8, width: 320, height: 240 }), 'video/mp4')
    await expect.poll(() => frameCaptions('clip.mp4'), ui).toHaveLength(8)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    expect(overflow).toBeLessThanOrEqual(0)
  })
})
