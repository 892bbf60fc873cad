import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { EngineUnavailableError } from '../packages/server/src/errors.js'
import { testImage } from '@visto/testkit/images/test-images'
import { endless, type ScriptedEngine, words } from '../test-support/scripted-engine.js'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { startScriptedSite, type ScriptedSite } from '../test-support/scripted-site.js'

// The page's controls (stop, settings, loading state, mid-stream errors) against a
// scripted engine, where timing and failures can be made to happen on purpose. The
// same page against the real model is in webui.test.ts.

let browser: Browser
let baseURL: string
let engine: ScriptedEngine
let context: BrowserContext
let page: Page

let site: ScriptedSite
beforeAll(async () => {
  site = await startScriptedSite({ parallel: 1, 'max-queue': 4, 'max-images': 4, 'body-limit-mb': 16 })
  ;({ engine, baseURL, browser } = site)
})

afterAll(async () => {
  await site?.close()
})

beforeEach(async () => {
  engine.script = words(['Hello', ' world'])
  engine.currentState = { status: 'ready' }
  engine.requests.length = 0
  engine.aborted = 0
  context = await browser.newContext()
  page = await context.newPage()
})

afterEach(async () => {
  await context?.close()
})

// Generous: two CI cores are shared with other test files.
const ui = { timeout: 15_000 }
const answer = (turn: number) => page.getByRole('listitem', { name: `Answer ${turn}` })

describe('the web page against a scripted engine', () => {
  it('sends an image with the default question and the chosen settings, then a follow-up that carries the history', async () => {
    engine.script = words(['A red', ' square', ' on a gradient.'])
    await page.goto(baseURL)
    await expect.poll(() => page.getByLabel('Model').textContent(), ui).toContain('qwen3-vl-4b-instruct')

    await page.getByLabel('Temperature').fill('0.7')
    await page.getByLabel('Max tokens').fill('64')
    await page.getByLabel('Attach images').setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: await testImage(48, 32, 'png') })
    await page.getByRole('list', { name: 'Attached images' }).getByRole('img', { name: 'square.png' }).waitFor()
    await page.getByRole('button', { name: 'Send' }).click()

    await expect.poll(() => answer(1).locator('.text').textContent(), ui).toBe('A red square on a gradient.')
    await expect.poll(() => answer(1).getByLabel('Answer statistics').textContent(), ui).toContain('20 prompt + 3 completion = 23 tokens')
    const first = engine.requests[0]!
    expect(first.sampling).toMatchObject({ temperature: 0.7, maxTokens: 64 })
    expect(first.messages).toHaveLength(1)
    expect(first.messages[0]!.content[0]).toEqual({ type: 'text', text: 'Describe the scene in this image in detail' })
    const image = first.messages[0]!.content[1]
    expect(image).toMatchObject({ type: 'image', image: { mime: expect.stringMatching(/^image\//) } })
    // Attachments go with the question that used them.
    expect(await page.getByRole('list', { name: 'Attached images' }).getByRole('img').count()).toBe(0)

    engine.script = words(['It is', ' red.'])
    await page.getByRole('textbox', { name: 'Question' }).fill('What colour is the square?')
    await page.getByRole('textbox', { name: 'Question' }).press('Enter')
    await expect.poll(() => answer(2).locator('.text').textContent(), ui).toBe('It is red.')
    const second = engine.requests[1]!
    expect(second.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
    expect(second.messages[0]!.content[1]).toEqual(image)
    expect(second.messages[1]!.content).toEqual([{ type: 'text', text: 'A red square on a gradient.' }])
    expect(second.messages[2]!.content).toEqual([{ type: 'text', text: 'What colour is the square?' }])
  })

  it('Stop aborts the streaming request, which frees the engine, and keeps the partial answer', async () => {
    engine.script = endless(30)
    await page.goto(baseURL)
    await page.getByRole('textbox', { name: 'Question' }).fill('Count forever')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => answer(1).locator('.text').textContent(), ui).toMatch(/^x+$/)
    expect(await page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true)

    await page.getByRole('button', { name: 'Stop' }).click()
    await expect.poll(() => engine.aborted, ui).toBe(1)
    await expect.poll(() => answer(1).getByLabel('Answer statistics').textContent(), ui).toContain('stopped')
    expect(await page.getByRole('button', { name: 'Send' }).isEnabled()).toBe(true)
    expect(await page.getByRole('button', { name: 'Stop' }).isHidden()).toBe(true)
  })

  it('shows an error that arrives mid-stream and hands the question back for another try', async () => {
    engine.script = async function* () {
      yield { type: 'text', text: 'Partial' }
      throw new EngineUnavailableError('The model process crashed; it is restarting.', { code: 'engine_crashed' })
    }
    await page.goto(baseURL)
    await page.getByRole('textbox', { name: 'Question' }).fill('Describe it')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => answer(1).getByRole('alert').textContent(), ui).toBe('The model process crashed; it is restarting.')
    expect(await page.getByRole('textbox', { name: 'Question' }).inputValue()).toBe('Describe it')

    // The failed turn is not part of the history the next question sends.
    engine.script = words(['Fine', ' now.'])
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => answer(2).locator('.text').textContent(), ui).toBe('Fine now.')
    expect(engine.requests[1]!.messages.map((m) => m.role)).toEqual(['user'])
  })

  it('warns that an answer stopped at max tokens was cut short', async () => {
    engine.script = words(['Cut'], 'length')
    await page.goto(baseURL)
    await page.getByRole('textbox', { name: 'Question' }).fill('Tell me everything')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => answer(1).getByLabel('Answer statistics').textContent(), ui).toContain('cut short at the max tokens limit')
  })

  it('shows the load progress from /health while the model loads, then that it is ready', async () => {
    engine.currentState = { status: 'loading', progress: 0.42, message: 'loading model' }
    await page.goto(baseURL)
    const status = page.getByRole('status', { name: 'Server status' })
    await expect.poll(() => status.textContent(), ui).toBe('loading 42%')
    engine.currentState = { status: 'ready' }
    await expect.poll(() => status.textContent(), ui).toBe('ready')
  })

  it('attaches images dropped on the page or pasted, and refuses files that are neither images nor PDFs', async () => {
    await page.goto(baseURL)
    const png = (await testImage(24, 24, 'png')).toString('base64')
    // Real drags cannot be scripted headless; these are the events a browser fires for them.
    await page.evaluate(`(() => {
      const file = (name, type) => new File([Uint8Array.from(atob('${png}'), (c) => c.charCodeAt(0))], name, { type })
      const dropped = new DataTransfer()
      dropped.items.add(file('dropped.png', 'image/png'))
      dropped.items.add(file('notes.txt', 'text/plain'))
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }))
      const pasted = new DataTransfer()
      pasted.items.add(file('image.png', 'image/png'))
      document.querySelector('#question').dispatchEvent(new ClipboardEvent('paste', { clipboardData: pasted, bubbles: true, cancelable: true }))
    })()`)
    const attached = page.getByRole('list', { name: 'Attached images' })
    await expect.poll(() => attached.getByRole('img').evaluateAll((imgs) => imgs.map((img) => img.getAttribute('alt'))), ui).toEqual(['dropped.png', 'image.png'])
    expect(await page.getByRole('status').filter({ hasText: 'Not attached' }).textContent()).toBe('Not attached (not an image or PDF): notes.txt')

    await attached.getByRole('button', { name: 'Remove dropped.png' }).click()
    expect(await attached.getByRole('img').count()).toBe(1)
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => answer(1).locator('.text').textContent(), ui).toBe('Hello world')
    expect(engine.requests[0]!.messages[0]!.content.filter((part) => part.type === 'image')).toHaveLength(1)
  })

  it('asks for the API key when the server requires one, then uses it', async () => {
    const { app: guarded } = await composeServer(serveConfig({ parallel: 1, 'max-queue': 4, 'api-key': 'sk-visto-test' }), {
      engine,
      prepareImage: async () => ({ data: Buffer.from('png'), mime: 'image/png', width: 1, height: 1 }),
    })
    try {
      await page.goto(await guarded.listen({ port: 0, host: '127.0.0.1' }))
      await expect.poll(() => page.getByRole('status').filter({ hasText: 'API key' }).textContent(), ui).toBe('This server needs an API key: enter it under Settings.')
      await page.getByLabel('API key').fill('sk-visto-test')
      await page.getByLabel('API key').press('Tab')
      await expect.poll(() => page.getByLabel('Model').textContent(), ui).toContain('qwen3-vl-4b-instruct')
      await page.getByRole('textbox', { name: 'Question' }).fill('Hello?')
      await page.getByRole('button', { name: 'Send' }).click()
      await expect.poll(() => answer(1).locator('.text').textContent(), ui).toBe('Hello world')
    } finally {
      await guarded.close()
    }
  })

  it('serves an SDK build that works in the browser through the import map', async () => {
    engine.script = words(['From', ' the SDK'])
    await page.goto(baseURL)
    const png = (await testImage(16, 16, 'png')).toString('base64')
    // A string, so vitest leaves the dynamic import alone and the page's import map resolves it.
    const result = await page.evaluate(`(async () => {
      const sdk = await import('@visto/sdk')
      const client = sdk.createClient({ baseURL: location.origin, maxRetries: 0 })
      const bytes = Uint8Array.from(atob('${png}'), (c) => c.charCodeAt(0))
      const answer = await client.ask(bytes, 'What is this?')
      return { text: answer.text, usage: answer.usage }
    })()`)
    expect(result).toEqual({ text: 'From the SDK', usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 } })
  })
})
