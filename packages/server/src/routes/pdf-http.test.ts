import type { ImageDetail } from '@visto/protocol'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostilePdfs, pdfDataUrl, textPdf } from '../../../../test-support/pdfs.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { ApiError } from '../errors.js'
import { defaultImagePipelineOptions, prepareImage, prepareImageBytes } from '../images/pipeline.js'
import { Admission } from '../serving/admission.js'
import { ChatCompletionsService } from '../serving/chat-completions.js'
import { parseChatRequest } from '../serving/chat-request.js'
import { multipartForm } from '../../../../test-support/requests.js'
import { closeApp } from '../../../../test-support/close-app.js'

// The scripted engine stands in only for generation: reading, limits and rendering are real.
let app: FastifyInstance
let engine: ScriptedEngine
let threePages: Buffer

beforeAll(async () => {
  threePages = await textPdf(3)
  engine = new ScriptedEngine()
  app = (await composeServer(serveConfig({ 'max-pdf-pages': 4, 'max-pdf-tokens': 2048, 'body-limit-mb': 8 }), { engine })).app
})

afterAll(async () => {
  await closeApp(app)
})

function chat(content: unknown[]) {
  return app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content }], max_tokens: 8 } })
}

function lastEngineContent() {
  return engine.requests
    .at(-1)!
    .messages.flatMap((m) => m.content)
    .map((p) => (p.type === 'text' ? p.text : `image ${p.image.width}x${p.image.height}`))
}

describe('PDF file parts over HTTP', () => {
  it('expands a PDF into "Page N of M:" markers and page images, in place and in order', async () => {
    const response = await chat([
      { type: 'text', text: 'Summarise.' },
      { type: 'file', file: { filename: 'three.pdf', file_data: pdfDataUrl(threePages), detail: 'low' } },
      { type: 'text', text: 'Be brief.' },
    ])
    expect(response.statusCode).toBe(200)
    expect(lastEngineContent()).toEqual(['Summarise.', 'Page 1 of 3:', 'image 448x576', 'Page 2 of 3:', 'image 448x576', 'Page 3 of 3:', 'image 448x576', 'Be brief.'])
  })

  it('caches a deterministic answer by the PDF, its pages and detail: another document is never a hit', async () => {
    const ask = (data: Buffer, pages: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: { messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: pdfDataUrl(data), pages, detail: 'low' } }] }], max_tokens: 8, temperature: 0 },
      })
    const other = await textPdf(3, { text: (page) => `Other ${page}` })
    const before = engine.requests.length
    expect((await ask(threePages, '1')).statusCode).toBe(200)
    expect((await ask(threePages, '1')).statusCode).toBe(200)
    expect(engine.requests.length - before).toBe(1)
    expect((await ask(threePages, '2')).statusCode).toBe(200)
    expect((await ask(other, '1')).statusCode).toBe(200)
    expect(engine.requests.length - before).toBe(3)
  })

  it('renders only the pages asked for', async () => {
    const response = await chat([{ type: 'file', file: { file_data: threePages.toString('base64'), filename: 'three.pdf', pages: '2', detail: 'low' } }])
    expect(response.statusCode).toBe(200)
    expect(lastEngineContent()).toEqual(['Page 2 of 3:', 'image 448x576'])
  })

  it('answers the page limit with a 400 envelope naming the limit, the pages and the tokens', async () => {
    const five = await textPdf(5)
    const before = engine.requests.length
    const response = await chat([{ type: 'file', file: { file_data: pdfDataUrl(five), detail: 'low' } }])
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({
      error: {
        message:
          'Too many PDF pages: messages[0].content[0] has 5 pages; the limit is 4 pages per request (--max-pdf-pages), and the 5 pages would take 1260 image tokens. ' +
          'Choose pages with the file part\'s "pages" field, e.g. "pages": "1-4".',
        type: 'invalid_request_error',
        param: 'messages',
        code: 'too_many_pdf_pages',
      },
    })
    expect(engine.requests.length).toBe(before)
  })

  it('refuses more file parts than pages allowed before reading any of them', async () => {
    const parts = Array.from({ length: 5 }, () => ({ type: 'file', file: { file_data: 'not even base64 $$$' } }))
    const response = await chat(parts)
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toBe('Too many PDF pages: 5 file parts in this request, each with at least one page; the limit is 4 pages per request (--max-pdf-pages)')
  })

  it('answers the token budget with a 400', async () => {
    const response = await chat([{ type: 'file', file: { file_data: pdfDataUrl(threePages) } }])
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('pdf_token_budget_exceeded')
    expect(response.json().error.message).toContain('the 3 pages would take 3024 image tokens, over the limit of 2048 image tokens per request (--max-pdf-tokens)')
  })

  it.each([
    ['encrypted', hostilePdfs.encrypted, 'encrypted_pdf'],
    ['malformed', hostilePdfs.malformed, 'corrupt_pdf'],
    ['zero pages', hostilePdfs.zeroPages, 'empty_pdf'],
    ['thousands of pages', hostilePdfs.thousandsOfPages, 'too_many_pdf_pages'],
  ])('answers a %s PDF with a 400', async (_name, make, code) => {
    const response = await chat([{ type: 'file', file: { file_data: pdfDataUrl(make()) } }])
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe(code)
  })

  it('names the type of a non-PDF file', async () => {
    const response = await chat([
      { type: 'file', file: { filename: 'notes.txt', file_data: `data:text/plain;base64,${Buffer.from('just some notes, not a document format').toString('base64')}` } },
    ])
    expect(response.statusCode).toBe(400)
    expect(response.json().error).toEqual({
      message: 'Invalid file data in messages[0].content[0]: unsupported file type: plain text; file parts take PDF documents',
      type: 'invalid_request_error',
      param: 'messages[0].content[0].file.file_data',
      code: 'unsupported_file_type',
    })
  })

  it('says uploaded files are not enabled for file_id', async () => {
    const response = await chat([{ type: 'file', file: { file_id: 'file-123' } }])
    expect(response.statusCode).toBe(400)
    expect(response.json().error.code).toBe('file_uploads_disabled')
  })
})

describe('PDFs on POST /v1/images/describe', () => {
  function upload(file: Buffer, fields: Record<string, string> = {}) {
    const parts = [...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'image', filename: 'doc.pdf', data: file, type: 'application/pdf' }]
    return app.inject({ method: 'POST', url: '/v1/images/describe', ...multipartForm(parts) })
  }

  it('accepts an uploaded PDF, with page selection', async () => {
    const response = await upload(threePages, { prompt: 'What is on these pages?', detail: 'low', pages: '1-2' })
    expect(response.statusCode).toBe(200)
    expect(lastEngineContent()).toEqual(['What is on these pages?', 'Page 1 of 3:', 'image 448x576', 'Page 2 of 3:', 'image 448x576'])
  })

  it('names the upload in PDF errors', async () => {
    const response = await upload(hostilePdfs.encrypted())
    expect(response.statusCode).toBe(400)
    expect(response.json().error.message).toBe('Invalid file data in image[0]: the PDF is encrypted (password-protected); send a copy without a password')
    expect(response.json().error.param).toBe('image[0].file.file_data')
    const badPages = await upload(threePages, { pages: '4' })
    expect(badPages.statusCode).toBe(400)
    expect(badPages.json().error.message).toMatch(/^Invalid file data in image\[0\]: pages "4"/)
    expect(badPages.json().error.param).toBe('image[0].file.pages')
  })
})

describe('a chat service built without document support', () => {
  it('answers a file part with a 400 saying documents are not read here', async () => {
    const scripted = new ScriptedEngine()
    const images = {
      fromUrl: (url: string, where: string, detail: ImageDetail, signal: AbortSignal) => prepareImage(url, where, defaultImagePipelineOptions, detail, signal),
      fromBytes: (bytes: Buffer, where: string, detail: ImageDetail, signal: AbortSignal) => prepareImageBytes(bytes, where, defaultImagePipelineOptions, detail, signal),
    }
    const chatService = new ChatCompletionsService(scripted, new Admission(1, 4), images, {
      defaultMaxTokens: 8,
      maxImagesPerRequest: 2,
    })
    const body = { messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'JVBERi0=' } }] }] }
    const job = { ...parseChatRequest(body), requestId: 'req_1', admission: { class: 'interactive' }, cache: 'use' } as const
    const error = await chatService.prepare(job, new AbortController().signal).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).toBody()).toEqual({
      message: 'This server does not read documents: messages[0].content[0] is a "file" part; send the pages as images instead',
      type: 'invalid_request_error',
      param: 'messages[0].content[0].type',
      code: 'documents_disabled',
    })
  })
})

describe('PDFs uploaded once, asked about by file_id', () => {
  it('reads a file uploaded with purpose user_data (official openai client), page for page as the inline one', async () => {
    const { default: OpenAI, toFile } = await import('openai')
    const { freshDataDir } = await import('../../../../test-support/data-dir.js')
    const scripted = new ScriptedEngine()
    const composed = await composeServer(serveConfig({ 'max-pdf-pages': 4, 'body-limit-mb': 8 }), { engine: scripted, data: { dir: freshDataDir() } })
    try {
      const baseURL = `${await composed.app.listen({ port: 0, host: '127.0.0.1' })}/v1`
      const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 })
      const uploaded = await client.files.create({ file: await toFile(threePages, 'three.pdf'), purpose: 'user_data' })
      expect(uploaded).toMatchObject({ object: 'file', purpose: 'user_data', filename: 'three.pdf', bytes: threePages.length })

      const byId = await client.chat.completions.create({
        model: 'qwen3-vl-4b-instruct',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Summarise.' },
              { type: 'file', file: { file_id: uploaded.id } },
            ],
          },
        ],
        max_tokens: 8,
      })
      expect(byId.choices[0]!.message.content).toBe('Hello world')
      const pages = (request: (typeof scripted.requests)[number]) =>
        request.messages.flatMap((m) => m.content).map((p) => (p.type === 'text' ? p.text : `${p.image.width}x${p.image.height}`))
      const fromUpload = pages(scripted.requests.at(-1)!)
      expect(fromUpload.filter((part) => part.startsWith('Page '))).toEqual(['Page 1 of 3:', 'Page 2 of 3:', 'Page 3 of 3:'])

      await client.chat.completions.create({
        model: 'qwen3-vl-4b-instruct',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Summarise.' },
              { type: 'file', file: { filename: 'three.pdf', file_data: pdfDataUrl(threePages) } },
            ],
          },
        ],
        max_tokens: 8,
      })
      expect(pages(scripted.requests.at(-1)!)).toEqual(fromUpload)

      const missing = await composed.app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-nope' } }] }], max_tokens: 8 },
      })
      expect(missing.statusCode).toBe(400)
      expect(missing.json().error).toMatchObject({ code: 'file_not_found', message: expect.stringContaining('no uploaded file has the id "file-nope"') })
    } finally {
      await closeApp(composed.app)
      composed.dataDir?.close()
    }
  })
})
