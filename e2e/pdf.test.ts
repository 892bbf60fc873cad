import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'
import { hostilePdfs, pdfDataUrl, textPdf } from '../test-support/pdfs.js'
import { vistoBin } from '../test-support/paths.js'

let server: RunningServer
let threePages: Buffer
let dir: string

beforeAll(async () => {
  // ctx 2048 is also the default PDF token budget: three Letter pages fit at "low" (3 x 252), not at "auto" (3 x 1008).
  server = await startTinyServer(['--max-pdf-pages', '3'])
  threePages = await textPdf(3)
  dir = mkdtempSync(path.join(os.tmpdir(), 'visto-pdf-e2e-'))
  writeFileSync(path.join(dir, 'three.pdf'), threePages)
})
afterAll(async () => {
  await server?.shutdown()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

type Part = Record<string, unknown>

async function post(content: Part[]): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 1, temperature: 0 }),
  })
}

async function promptTokens(content: Part[]): Promise<number> {
  const response = await post(content)
  expect(response.status).toBe(200)
  return ((await response.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens
}

const pdfPart = (extra: Record<string, unknown> = {}): Part => ({ type: 'file', file: { filename: 'three.pdf', file_data: pdfDataUrl(threePages), detail: 'low', ...extra } })

describe('PDF file parts on the real engine (tiny stand-in)', () => {
  it('answers a 3-page PDF, costing exactly the three page images and their markers', async () => {
    // A Letter page at "low" renders at 448x576: (448/32)(576/32) = 252 tokens, like a 448x576 image.
    const page = { type: 'image_url', image_url: { url: dataUrl(await testImage(448, 576)), detail: 'low' } }
    const marker = (n: number): Part => ({ type: 'text', text: `Page ${n} of 3:` })
    const question: Part = { type: 'text', text: 'Read.' }
    const viaPdf = await promptTokens([question, pdfPart()])
    const viaImages = await promptTokens([question, marker(1), page, marker(2), page, marker(3), page])
    expect(viaPdf).toBe(viaImages)
    // And page by page: one more page adds its 252 image tokens, the vision start/end pair, and its marker.
    const base = await promptTokens([question])
    const markerTokens = (await promptTokens([question, marker(2)])) - base
    expect((await promptTokens([question, pdfPart({ pages: '2' })])) - base).toBe(252 + 2 + markerTokens)
  })

  it('previews a PDF at the cost a chat request with it really has', async () => {
    const response = await fetch(`${server.url}/v1/visto/document-preview`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ file_data: pdfDataUrl(threePages), detail: 'low' }),
    })
    expect(response.status).toBe(200)
    const preview = (await response.json()) as { page_count: number; pages: Array<{ number: number; prompt_tokens: number }>; prompt_tokens: number }
    expect(preview.page_count).toBe(3)
    expect(preview.pages.map((page) => page.number)).toEqual([1, 2, 3])
    // What the PDF adds to usage.prompt_tokens: the previewed page images, plus each page's text marker.
    const question: Part = { type: 'text', text: 'Read.' }
    const base = await promptTokens([question])
    const markers = (await promptTokens([question, ...[1, 2, 3].map((n): Part => ({ type: 'text', text: `Page ${n} of 3:` }))])) - base
    expect((await promptTokens([question, pdfPart()])) - base).toBe(preview.prompt_tokens + markers)
  })

  it('takes the part from the official openai client unchanged', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const completion = await client.chat.completions
      .create({
        model: 'qwen3-vl-4b-instruct',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Read.' },
              { type: 'file', file: { filename: 'three.pdf', file_data: pdfDataUrl(threePages) } },
            ],
          },
        ],
        max_tokens: 1,
        temperature: 0,
      })
      .catch((error: unknown) => error)
    // At "auto" three pages need 3024 tokens, over the 2048 budget; the Visto extension "detail" picks "low".
    expect(completion).toBeInstanceOf(OpenAI.BadRequestError)
    expect((completion as InstanceType<typeof OpenAI.BadRequestError>).message).toContain(
      'the 3 pages would take 3024 image tokens, over the limit of 2048 image tokens per request (--max-pdf-tokens)',
    )
    const low = await client.chat.completions.create({
      model: 'qwen3-vl-4b-instruct',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Read.' },
            { type: 'file', file: { filename: 'three.pdf', file_data: pdfDataUrl(threePages), detail: 'low' } as { filename: string; file_data: string } },
          ],
        },
      ],
      max_tokens: 1,
      temperature: 0,
    })
    expect(low.usage?.prompt_tokens).toBe(await promptTokens([{ type: 'text', text: 'Read.' }, pdfPart()]))
  })

  it('answers each limit with a 400 naming it', async () => {
    const four = await textPdf(4)
    const tooMany = await post([{ type: 'file', file: { file_data: pdfDataUrl(four), detail: 'low' } }])
    expect(tooMany.status).toBe(400)
    expect(((await tooMany.json()) as { error: { message: string } }).error.message).toBe(
      'Too many PDF pages: messages[0].content[0] has 4 pages; the limit is 3 pages per request (--max-pdf-pages), and the 4 pages would take 1008 image tokens. ' +
        'Choose pages with the file part\'s "pages" field, e.g. "pages": "1-3".',
    )
    const selected = await post([{ type: 'file', file: { file_data: pdfDataUrl(four), detail: 'low', pages: '2-4' } }])
    expect(selected.status).toBe(200)
  })

  it.each([
    ['encrypted', hostilePdfs.encrypted, 'Invalid file data in messages[0].content[0]: the PDF is encrypted (password-protected); send a copy without a password'],
    ['malformed', hostilePdfs.malformed, 'Invalid file data in messages[0].content[0]: corrupt or unreadable PDF (not a PDF or corrupted)'],
    ['zero-page', hostilePdfs.zeroPages, 'Invalid file data in messages[0].content[0]: the PDF has no pages'],
  ])('answers a %s PDF with a 400', async (_name, make, message) => {
    const response = await post([{ type: 'file', file: { file_data: pdfDataUrl(make()) } }])
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(message)
  })

  it('refuses a 5000-page PDF from its page count, and still answers the next request', async () => {
    const response = await post([{ type: 'file', file: { file_data: pdfDataUrl(hostilePdfs.thousandsOfPages()) } }])
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('too_many_pdf_pages')
    expect(await promptTokens([{ type: 'text', text: 'Still there?' }])).toBeGreaterThan(0)
  })

  it('visto ocr reads a PDF page by page', async () => {
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [vistoBin, 'ocr', path.join(dir, 'three.pdf'), '--json', '--max-tokens', '4', '--base-url', server.url],
        { encoding: 'utf8', timeout: 120_000 },
        (error, stdout, stderr) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      )
    })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const pages = JSON.parse(run.stdout) as Array<{ page: number; pages: number; text: string; usage: { prompt_tokens: number } }>
    expect(pages.map((p) => [p.page, p.pages, typeof p.text])).toEqual([
      [1, 3, 'string'],
      [2, 3, 'string'],
      [3, 3, 'string'],
    ])
    // Each request carries one page at "auto": 896x1152, 1008 image tokens.
    expect(pages.every((p) => p.usage.prompt_tokens > 1008)).toBe(true)
  })
})
