import type { FastifyInstance } from 'fastify'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostilePdfs, pdfDataUrl, textPdf } from '../../../../test-support/pdfs.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { VisionGeometry } from '../engines/vision-geometry.js'
import { closeApp } from '../../../../test-support/close-app.js'

// The scripted engine stands in only for generation: reading, limits and rendering are real.
let app: FastifyInstance
let keyed: FastifyInstance
let engine: ScriptedEngine
let threePages: Buffer

beforeAll(async () => {
  threePages = await textPdf(3)
  engine = new ScriptedEngine()
  const config = { 'max-pdf-pages': 4, 'max-pdf-tokens': 2048, 'body-limit-mb': 8 } as const
  app = (await composeServer(serveConfig(config), { engine })).app
  keyed = (await composeServer(serveConfig({ ...config, 'api-key': 'secret' }), { engine: new ScriptedEngine() })).app
})

afterAll(async () => {
  await closeApp(app)
  await keyed.close()
})

function preview(payload: unknown, target = app, headers: Record<string, string> = {}) {
  return target.inject({ method: 'POST', url: '/v1/visto/document-preview', payload: payload as Record<string, unknown>, headers })
}

describe('POST /v1/visto/document-preview', () => {
  it('gives each page the size and tokens a chat request with the same PDF uses', async () => {
    for (const [detail, pages] of [
      ['low', undefined],
      ['auto', '2'],
      ['low', '1,3'],
    ] as const) {
      const file = { filename: 'three.pdf', file_data: pdfDataUrl(threePages), detail, ...(pages ? { pages } : {}) }
      const response = await preview(file)
      expect(response.statusCode).toBe(200)
      const body = response.json()
      const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: [{ type: 'file', file }] }], max_tokens: 4 } })
      expect(chat.statusCode).toBe(200)
      const sent = engine.requests.at(-1)!.messages.flatMap((m) => m.content)
      const markers = sent.flatMap((p) => (p.type === 'text' ? [p.text] : []))
      const images = sent.flatMap((p) => (p.type === 'image' ? [{ width: p.image.width, height: p.image.height, image_tokens: (p.image.width / 32) * (p.image.height / 32) }] : []))
      expect(body.object).toBe('document_preview')
      expect(body.detail).toBe(detail)
      expect(body.page_count).toBe(3)
      expect(body.pages.map((p: { number: number }) => `Page ${p.number} of 3:`)).toEqual(markers)
      expect(body.pages.map(({ width, height, image_tokens }: Record<string, number>) => ({ width, height, image_tokens }))).toEqual(images)
      const imageTokens = images.reduce((sum, image) => sum + image.image_tokens, 0)
      expect(body.image_tokens).toBe(imageTokens)
      // Each page image also carries its two frame tokens.
      expect(body.prompt_tokens).toBe(imageTokens + 2 * images.length)
    }
  })

  it('sends a small JPEG thumbnail of each page, drawn from the page itself', async () => {
    const response = await preview({ file_data: pdfDataUrl(threePages), detail: 'low' })
    const pages = response.json().pages as Array<{ thumbnail: string; width: number; height: number }>
    expect(pages).toHaveLength(3)
    for (const page of pages) {
      expect(page.thumbnail).toMatch(/^data:image\/jpeg;base64,/)
      const jpeg = Buffer.from(page.thumbnail.slice(page.thumbnail.indexOf(',') + 1), 'base64')
      const { width, height, format } = await sharp(jpeg).metadata()
      expect(format).toBe('jpeg')
      // US Letter: 160 wide, page-shaped.
      expect([width, height]).toEqual([160, Math.round((160 * page.height) / page.width)])
      // Not a blank page: the text is drawn.
      const { channels } = await sharp(jpeg).stats()
      expect(channels[0]!.min).toBeLessThan(128)
      expect(jpeg.length).toBeLessThan(20_000)
    }
  })

  it('takes bare base64 and a page selection, like a file part', async () => {
    const response = await preview({ file_data: threePages.toString('base64'), detail: 'low', pages: '3' })
    expect(response.statusCode).toBe(200)
    expect(response.json().pages.map((p: { number: number }) => p.number)).toEqual([3])
  })

  it("answers the page limit with the chat route's 400, before rendering anything", async () => {
    const response = await preview({ file_data: pdfDataUrl(await textPdf(5)), detail: 'low' })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message:
          'Too many PDF pages: the document has 5 pages; the limit is 4 pages per request (--max-pdf-pages), and the 5 pages would take 1260 image tokens. ' +
          'Choose pages with the file part\'s "pages" field, e.g. "pages": "1-4".',
        type: 'invalid_request_error',
        param: 'pages',
        code: 'too_many_pdf_pages',
      },
    })
  })

  it('renders at most --max-pdf-pages thumbnails: 16 pages by default, and a 17th is refused', async () => {
    const defaults = (await composeServer(serveConfig({ 'body-limit-mb': 8 }), { engine: new ScriptedEngine() })).app
    try {
      const sixteen = await preview({ file_data: pdfDataUrl(await textPdf(16)), detail: 'low' }, defaults)
      expect(sixteen.statusCode).toBe(200)
      expect(sixteen.json().pages.map((p: { number: number }) => p.number)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1))
      const seventeen = await preview({ file_data: pdfDataUrl(await textPdf(17)), detail: 'low' }, defaults)
      expect(seventeen.statusCode).toBe(400)
      expect(seventeen.json().error.message).toMatch(/^Too many PDF pages: the document has 17 pages; the limit is 16 pages per request \(--max-pdf-pages\)/)
      // A selection within the limit previews part of a long document.
      const part = await preview({ file_data: pdfDataUrl(await textPdf(17)), detail: 'low', pages: '15-17' }, defaults)
      expect(part.json().pages.map((p: { number: number }) => p.number)).toEqual([15, 16, 17])
      expect(part.json().page_count).toBe(17)
    } finally {
      await defaults.close()
    }
  })

  it('refuses a 5000-page PDF from its page count', async () => {
    const response = await preview({ file_data: pdfDataUrl(hostilePdfs.thousandsOfPages()) })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('too_many_pdf_pages')
  })

  it('answers the token budget with a 400 naming --max-pdf-tokens', async () => {
    const response = await preview({ file_data: pdfDataUrl(threePages), detail: 'auto' })
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('pdf_token_budget_exceeded')
    expect(response.json().error.message).toContain('the 3 pages would take 3024 image tokens, over the limit of 2048 image tokens per request (--max-pdf-tokens)')
  })

  it.each([
    ['encrypted', hostilePdfs.encrypted, 'the PDF is encrypted (password-protected); send a copy without a password', 'encrypted_pdf'],
    ['malformed', hostilePdfs.malformed, 'corrupt or unreadable PDF (not a PDF or corrupted)', 'corrupt_pdf'],
    ['zero-page', hostilePdfs.zeroPages, 'the PDF has no pages', 'empty_pdf'],
  ])('answers a %s PDF with a 400 "Invalid file data"', async (_name, make, reason, code) => {
    const response = await preview({ file_data: pdfDataUrl(make()) })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ error: { message: `Invalid file data in the document: ${reason}`, type: 'invalid_request_error', param: 'file_data', code } })
  })

  it('names the type of a file that is not a PDF', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
      .png()
      .toBuffer()
    const response = await preview({ file_data: `data:image/png;base64,${png.toString('base64')}` })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message: 'Invalid file data in the document: unsupported file type: PNG data; file parts take PDF documents (send images as image_url parts)',
        type: 'invalid_request_error',
        param: 'file_data',
        code: 'unsupported_file_type',
      },
    })
  })

  it('answers a malformed body with a 400 naming the field', async () => {
    for (const [payload, param, message] of [
      [{}, 'file_data', 'file_data is required: the PDF as "data:application/pdf;base64,..."'],
      [{ file_data: 7 }, 'file_data', 'file_data must be a string, got 7'],
      [{ file_data: pdfDataUrl(threePages), detail: 'max' }, 'detail', 'detail must be "low", "auto" or "high", got "max"'],
      [
        { file_data: 'https://example.com/x.pdf' },
        'file_data',
        'Invalid file data in the document: file_data must be a data:application/pdf;base64,... URL or bare base64, not a URL to fetch',
      ],
      [{ file_data: pdfDataUrl(threePages), pages: '0' }, 'pages', expect.stringMatching(/^Invalid file data in the document: pages "0": /)],
    ] as const) {
      const response = await preview(payload)
      expect(response.statusCode).toBe(400)
      expect(response.json()).toEqual({ error: { message, type: 'invalid_request_error', param, code: expect.any(String) } })
    }
  })

  it('needs the API key when one is set', async () => {
    const body = { file_data: pdfDataUrl(threePages), detail: 'low', pages: '1' }
    expect((await preview(body, keyed)).statusCode).toBe(401)
    expect((await preview(body, keyed, { authorization: 'Bearer secret' })).statusCode).toBe(200)
  })

  it("sizes and counts pages with the engine's geometry", async () => {
    const qwen25: VisionGeometry = { patchSize: 14, spatialMerge: 2, minImageTokens: 8, frameTokens: 3 }
    const target = (await composeServer(serveConfig(), { engine: new ScriptedEngine(undefined, { geometry: qwen25 }) })).app
    try {
      const response = await preview({ file_data: pdfDataUrl(threePages), pages: '1' }, target)
      expect(response.statusCode).toBe(200)
      const [page] = response.json().pages
      // Letter at 1024² px is 900×1165: 32×41 tiles of 28 px (Qwen3-VL: 896×1152, 28×36 of 32 px).
      expect([page.width, page.height, page.image_tokens, page.prompt_tokens]).toEqual([896, 1148, 32 * 41, 32 * 41 + 3])
      expect(response.json().prompt_tokens).toBe(32 * 41 + 3)
    } finally {
      await target.close()
    }
  })
})
