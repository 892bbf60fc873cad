import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startVisto, type SpawnedVisto } from '../test-support/visto-server.js'
import { launchChromium } from '../test-support/chromium.js'
import { exportedCode } from '../test-support/scripted-site.js'

// The web interface: the page on `/` of a real `visto serve` (real
// llama-server, tiny stand-in model), driven in Chromium the way a person would.
// Set VISTO_SCREENSHOT=/tmp/webui.png to keep a picture of the finished conversation.

let visto: SpawnedVisto
let browser: Browser
let page: Page

beforeAll(async () => {
  visto = await startVisto()
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1200, height: 800 }, locale: 'en-US' })
})

afterAll(async () => {
  await browser?.close()
  await visto?.stop()
})

// Generous: two CI cores are shared with other test files.
const ui = { timeout: 15_000 }
const answer = (turn: number) => page.getByRole('listitem', { name: `Answer ${turn}` })
const question = () => page.getByRole('textbox', { name: 'Question' })
const answerTimeout = { timeout: 60_000 }

/** The answer's text once it is finished (aria-busy goes false when the stream ends). */
async function finishedAnswer(turn: number): Promise<{ text: string; stats: string }> {
  await expect.poll(() => answer(turn).getAttribute('aria-busy'), answerTimeout).toBe('false')
  return { text: (await answer(turn).locator('.text').textContent()) ?? '', stats: (await answer(turn).getByLabel('Answer statistics').textContent()) ?? '' }
}

describe('the web page of a running server', () => {
  it('shows the served model and that it is ready', async () => {
    const models = (await (await fetch(`${visto.baseURL}/v1/models`)).json()) as { data: Array<{ id: string }> }
    await page.goto(visto.baseURL)
    await expect.poll(() => page.getByLabel('Model').textContent(), ui).toContain(models.data[0]!.id)
    await expect.poll(() => page.getByRole('status', { name: 'Server status' }).textContent(), ui).toBe('ready')
  })

  it('answers a question about an attached image, streaming, with latency and token usage', async () => {
    // Few tokens and no randomness: the stand-in's words mean nothing, only their arrival does.
    await page.getByLabel('Temperature').fill('0')
    await page.getByLabel('Max tokens').fill('12')
    await page.getByLabel('Attach images').setInputFiles({ name: 'scene.png', mimeType: 'image/png', buffer: await testImage(320, 240, 'png') })
    await page.getByRole('list', { name: 'Attached images' }).getByRole('img', { name: 'scene.png' }).waitFor()
    await question().fill('请详细描述这张图片中的场景')
    await page.getByRole('button', { name: 'Send' }).click()

    const { text, stats } = await finishedAnswer(1)
    expect(await answer(1).getByRole('alert').count()).toBe(0)
    expect(text.trim()).not.toBe('')
    expect(text).not.toBe('(empty answer)')
    const usage = /(\d+) prompt \+ (\d+) completion = (\d+) tokens/.exec(stats)
    expect(usage, stats).not.toBeNull()
    const [prompt, completion, total] = usage!.slice(1).map(Number) as [number, number, number]
    expect(completion).toBeGreaterThan(0)
    expect(completion).toBeLessThanOrEqual(12)
    expect(prompt + completion).toBe(total)
    expect(stats).toMatch(/^\d+\.\d+ s · first token \d+\.\d+ s/)
  })

  it('answers a follow-up question about the same image in the same conversation', async () => {
    await question().fill('What colour is the rectangle?')
    await question().press('Enter')
    const { text, stats } = await finishedAnswer(2)
    expect(await answer(2).getByRole('alert').count()).toBe(0)
    expect(text.trim()).not.toBe('')
    expect(text).not.toBe('(empty answer)')
    // The image and the first exchange went along again, so the prompt is longer than the first one.
    const prompt = (s: string) => Number(/(\d+) prompt/.exec(s)?.[1])
    const first = (await answer(1).getByLabel('Answer statistics').textContent()) ?? ''
    expect(prompt(stats)).toBeGreaterThan(prompt(first))
  })

  it("shows the server's own message when an attached file is not a valid image", async () => {
    await page.getByLabel('Attach images').setInputFiles({ name: 'corrupt.png', mimeType: 'image/png', buffer: Buffer.from('this is not a PNG, just text') })
    await question().fill('And this one?')
    await page.getByRole('button', { name: 'Send' }).click()
    const alert = answer(3).getByRole('alert')
    await expect.poll(() => alert.textContent(), answerTimeout).toMatch(/^Invalid image data/)
    if (process.env.VISTO_SCREENSHOT) await page.screenshot({ path: process.env.VISTO_SCREENSHOT })
  })

  it('gives the conversation as Python in the tutorial style that runs against this server and gets an answer', async () => {
    await page.getByRole('button', { name: 'New chat' }).click()
    const photo = await testImage(320, 240, 'jpeg')
    await page.getByLabel('Attach images').setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: photo })
    await page.getByRole('list', { name: 'Attached images' }).getByRole('img', { name: 'photo.jpg' }).waitFor()
    await question().fill('请详细描述这张图片中的场景')
    await question().press('Enter')
    const { stats } = await finishedAnswer(1)
    const pagePrompt = Number(/(\d+) prompt/.exec(stats)?.[1])

    const python = await exportedCode(page, 'Python')
    await page.keyboard.press('Escape')
    expect(python).toContain('with open("photo.jpg", "rb") as image_file:')
    expect(python).toContain(`api_url = "${visto.baseURL}/v1/chat/completions"`)
    expect(python).toContain('"max_tokens": 12,\n    "temperature": 0')

    const dir = mkdtempSync(path.join(tmpdir(), 'visto-python-'))
    try {
      writeFileSync(path.join(dir, 'photo.jpg'), photo)
      // Print the usage too, to show the program sent the same prompt as the page.
      writeFileSync(path.join(dir, 'ask.py'), `${python}print("usage:", json.dumps(response.json().get("usage")))\n`)
      const { stdout } = await promisify(execFile)('python3', ['ask.py'], { cwd: dir, timeout: 120_000 })
      expect(stdout).toMatch(/^模型回答: [\s\S]*\nusage: \{/)
      const usage = JSON.parse(/usage: (.*)\n$/.exec(stdout)![1]!) as { prompt_tokens: number; completion_tokens: number }
      expect(usage.prompt_tokens).toBe(pagePrompt)
      expect(usage.completion_tokens).toBeGreaterThan(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("shows for a 4000×3000 photo exactly the prompt tokens the server's usage counts for it", async () => {
    await page.getByRole('button', { name: 'New chat' }).click()
    const photo = await testImage(4000, 3000, 'jpeg')
    await page.getByLabel('Attach images').setInputFiles({ name: 'big.jpg', mimeType: 'image/jpeg', buffer: photo })
    const cost = page.getByRole('list', { name: 'Attached images' }).locator('.cost')
    await expect.poll(() => cost.textContent(), ui).toMatch(/^\d+×\d+ · \d+ tokens$/)
    const [, shownWidth, shownHeight, shownTokens] = /^(\d+)×(\d+) · (\d+) tokens$/.exec((await cost.textContent())!)!.map(Number) as [number, number, number, number]

    // The same question with and without the image: the difference is what the image costs.
    const promptTokens = async (withImage: boolean): Promise<number> => {
      const content = [{ type: 'text', text: 'Describe.' }, ...(withImage ? [{ type: 'image_url', image_url: { url: dataUrl(photo) } }] : [])]
      const response = await fetch(`${visto.baseURL}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 1 }),
      })
      expect(response.status).toBe(200)
      return ((await response.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens
    }
    const difference = (await promptTokens(true)) - (await promptTokens(false))
    expect(shownTokens).toBe(difference)
    expect([shownWidth, shownHeight]).toEqual([1152, 864])
  })
})
