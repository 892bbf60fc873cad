import { execFile } from 'node:child_process'
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { hostilePdfs, textPdf } from '../test-support/pdfs.js'
import { words } from '../test-support/scripted-engine.js'
import { scratchDirInRepo } from '../test-support/paths.js'
import { exportedCode, startScriptedSite, watchCspViolations, type ScriptedSite } from '../test-support/scripted-site.js'

// A PDF dropped on the page: its pages shown with their cost, sent as a `file` part, and
// given as code. The engine is scripted; reading, measuring and rendering the PDF are real.

const run = promisify(execFile)
const ui = { timeout: 15_000 }

let site: ScriptedSite
let context: BrowserContext
let page: Page
let cspViolations: string[] = []
let threePages: Buffer
let dir: string

beforeAll(async () => {
  site = await startScriptedSite({ parallel: 1, 'max-queue': 4, 'body-limit-mb': 32 })
  threePages = await textPdf(3)
  // Inside the repository, so the JavaScript finds the `openai` package.
  dir = scratchDirInRepo('visto-pdf-code-')
})

afterAll(async () => {
  await site?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

beforeEach(async () => {
  site.engine.script = words(['Three', ' pages.'])
  site.engine.requests.length = 0
  context = await site.browser.newContext({ locale: 'en-US' })
  cspViolations = await watchCspViolations(context)
  page = await context.newPage()
  await page.goto(site.baseURL)
})

afterEach(async () => {
  expect(cspViolations).toEqual([])
  await context?.close()
})

/** Drops a file on the page the way a browser reports a drag from the desktop (real drags cannot be scripted headless). */
async function drop(name: string, bytes: Buffer, type = 'application/pdf'): Promise<void> {
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

const attachment = (name: string) => page.locator('#attachments .attachment.document').filter({ hasText: name })
const pageCaptions = (name: string) =>
  page
    .getByRole('list', { name: `Pages of ${name}` })
    .locator('.page-cost')
    .allTextContents()

describe('a PDF on the web page', () => {
  it('shows a dropped PDF as page thumbnails with their tokens, follows the detail choice, and sends it as a file part', async () => {
    await drop('three.pdf', threePages)
    const pages = page.getByRole('list', { name: 'Pages of three.pdf' })
    // "auto": a Letter page is rendered at 896x1152, 1008 image tokens plus its 2 frame tokens.
    await expect.poll(() => pageCaptions('three.pdf'), ui).toEqual(['p. 1 · 1010', 'p. 2 · 1010', 'p. 3 · 1010'])
    expect(await pages.getByRole('img').evaluateAll((imgs) => imgs.map((img) => img.getAttribute('alt')))).toEqual(['Page 1 of 3', 'Page 2 of 3', 'Page 3 of 3'])
    // Each thumbnail is the server's small JPEG of the page, decoded by the browser.
    const sizes = await pages
      .getByRole('img')
      .evaluateAll((imgs) =>
        (imgs as HTMLImageElement[]).map((img) => ({ jpeg: img.src.startsWith('data:image/jpeg;base64,'), width: img.naturalWidth, height: img.naturalHeight })),
      )
    expect(sizes).toEqual(Array.from({ length: 3 }, () => ({ jpeg: true, width: 160, height: 206 })))
    // Each "Page N of 3:" marker is estimated at 3 tokens.
    expect(await attachment('three.pdf').locator('.cost').textContent()).toBe('3 pages · 3039 tokens')

    await attachment('three.pdf').getByRole('combobox', { name: 'Detail for three.pdf' }).selectOption('low')
    await expect.poll(() => pageCaptions('three.pdf'), ui).toEqual(['p. 1 · 254', 'p. 2 · 254', 'p. 3 · 254'])
    expect(await attachment('three.pdf').locator('.cost').textContent()).toBe('3 pages · 771 tokens')

    await page.locator('#question').fill('What is on each page?')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.getByRole('listitem', { name: 'Answer 1' }).locator('.text').textContent(), ui).toBe('Three pages.')
    const sent = site.engine.requests[0]!.messages[0]!.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height}`))
    expect(sent).toEqual(['What is on each page?', 'Page 1 of 3:', 'image 448x576', 'Page 2 of 3:', 'image 448x576', 'Page 3 of 3:', 'image 448x576'])
    // The question in the conversation shows the document by its first page.
    expect(
      await page
        .getByRole('listitem', { name: 'Question 1' })
        .getByRole('img', { name: 'three.pdf' })
        .evaluate((img) => (img as HTMLImageElement).src.startsWith('data:image/jpeg')),
    ).toBe(true)
  })

  it('accepts a PDF from the file picker, and says why a PDF would be refused', async () => {
    expect(await page.locator('#file-input').getAttribute('accept')).toBe('image/*,application/pdf,video/mp4,video/quicktime,video/webm,.mkv')
    await page.locator('#file-input').setInputFiles({ name: 'locked.pdf', mimeType: 'application/pdf', buffer: hostilePdfs.encrypted() })
    await expect
      .poll(() => attachment('locked.pdf').locator('.cost').textContent(), ui)
      .toBe('refused: Invalid file data in the document: the PDF is encrypted (password-protected); send a copy without a password')
    expect(await pageCaptions('locked.pdf')).toEqual([])
  })

  it('gives the conversation with a PDF as Python, curl and JavaScript that read the file and send the same request', async () => {
    await drop('three.pdf', threePages)
    await attachment('three.pdf').getByRole('combobox', { name: 'Detail for three.pdf' }).selectOption('low')
    await expect.poll(() => pageCaptions('three.pdf'), ui).toHaveLength(3)
    await page.locator('#question').fill('Summarise.')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.getByRole('listitem', { name: 'Answer 1' }).getAttribute('aria-busy'), ui).toBe('false')
    const seen = (request: (typeof site.engine.requests)[number]) =>
      request.messages.map((m) => [
        m.role,
        ...m.content.map((part) => (part.type === 'text' ? part.text : `image ${part.image.width}x${part.image.height} ${part.image.data.length} bytes`)),
      ])
    const pageRequest = site.engine.requests[0]!

    // With an empty composer, the code is the request that produced the last answer.
    const python = await exportedCode(page, 'Python')
    expect(python).toContain('with open("three.pdf", "rb") as pdf_file:\n    base64_pdf = base64.b64encode(pdf_file.read()).decode("utf-8")')
    expect(python).toContain('"type": "file"')
    expect(python).toContain('"file_data": f"data:application/pdf;base64,{base64_pdf}"')
    expect(python).toContain('"filename": "three.pdf"')
    expect(python).toContain('"detail": "low"')
    const curl = await exportedCode(page, 'curl')
    expect(curl).toContain("PDF_1=$(base64 < three.pdf | tr -d '\\n')")
    const javascript = await exportedCode(page, 'JavaScript')
    expect(javascript).toContain("const pdf = fs.readFileSync('three.pdf').toString('base64')")

    writeFileSync(path.join(dir, 'three.pdf'), threePages)
    writeFileSync(path.join(dir, 'ask.py'), python)
    writeFileSync(path.join(dir, 'ask.sh'), curl)
    writeFileSync(path.join(dir, 'ask.mjs'), javascript)
    for (const [command, args] of [
      ['python3', ['ask.py']],
      ['node', ['ask.mjs']],
      ['bash', ['ask.sh']],
    ] as const) {
      site.engine.script = words(['Three', ' pages.'])
      site.engine.requests.length = 0
      await run(command, [...args], { cwd: dir, timeout: 60_000 })
      expect(seen(site.engine.requests[0]!), command).toEqual(seen(pageRequest))
    }
  })
})
