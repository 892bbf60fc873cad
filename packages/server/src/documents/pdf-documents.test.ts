import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { hostilePdfs, pdfDataUrl, textPdf } from '../../../../test-support/pdfs.js'
import { ApiError, InvalidFileError, InvalidRequestError, PayloadTooLargeError } from '../errors.js'
import type { ChatJobFilePart } from '../serving/chat-job.js'
import { defaultDocumentOptions, PdfDocuments, type DocumentOptions } from './pdf-documents.js'
import { inspectPdf, renderPdfPages } from './pdf-renderer.js'

function filePart(fileData: string | undefined, extra: Partial<ChatJobFilePart> = {}): ChatJobFilePart {
  return { type: 'file', where: 'messages[0].content[1]', filename: 'doc.pdf', fileData, fileId: undefined, pages: undefined, detail: 'auto', ...extra }
}

function documents(options: Partial<DocumentOptions> = {}): PdfDocuments {
  return new PdfDocuments({ ...defaultDocumentOptions, maxPageTokensPerRequest: 100_000, ...options })
}

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<ApiError> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError)
    return error as ApiError
  }
  throw new Error('expected a refusal')
}

let threePages: Buffer

beforeAll(async () => {
  threePages = await textPdf(3)
})

describe('PdfDocuments: reading and measuring', () => {
  it('measures every page of a 3-page Letter PDF at each detail, without rendering', async () => {
    const auto = await documents().inspect(filePart(pdfDataUrl(threePages)))
    expect(auto.pageCount).toBe(3)
    expect(auto.pages).toEqual([1, 2, 3].map((number) => ({ number, width: 896, height: 1152, tokens: 28 * 36 })))
    expect([auto.tokens, auto.estimated]).toEqual([3 * 1008, false])
    const low = await documents().inspect(filePart(pdfDataUrl(threePages), { detail: 'low' }))
    expect(low.pages.map((p) => [p.width, p.height, p.tokens])).toEqual(Array(3).fill([448, 576, 14 * 18]))
  })

  it('accepts bare base64 and a data URL with any label', async () => {
    for (const data of [threePages.toString('base64'), `data:application/octet-stream;base64,${threePages.toString('base64')}`]) {
      expect((await documents().inspect(filePart(data))).pageCount).toBe(3)
    }
  })

  it('keeps only the selected pages, in document order', async () => {
    const doc = await documents().inspect(filePart(pdfDataUrl(threePages), { pages: '3,1' }))
    expect(doc.pages.map((p) => p.number)).toEqual([1, 3])
    expect(doc.selectedCount).toBe(2)
  })

  it('names the pages past the end of the document', async () => {
    const error = await refusal(documents().inspect(filePart(pdfDataUrl(threePages), { pages: '2-5' })))
    expect(error).toBeInstanceOf(InvalidFileError)
    expect(error.message).toBe('Invalid file data in messages[0].content[1]: pages "2-5" asks for page 4-5, but the document has 3 pages')
    expect([error.param, error.code]).toEqual(['messages[0].content[1].file.pages', 'pdf_page_out_of_range'])
  })

  it('refuses a malformed page selection before reading the file', async () => {
    const error = await refusal(documents().inspect(filePart('not base64 at all!', { pages: '3-1' })))
    expect(error.message).toBe('Invalid file data in messages[0].content[1]: pages "3-1": the range "3-1" runs backwards')
  })

  it.each([
    [
      'a JPEG',
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
      'unsupported file type: JPEG data; file parts take PDF documents (send images as image_url parts)',
    ],
    ['plain text', Buffer.from('hello, this is a text file and not a PDF at all\n'), 'unsupported file type: plain text; file parts take PDF documents'],
    [
      'a ZIP archive',
      Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
      'unsupported file type: ZIP archive data; file parts take PDF documents',
    ],
  ])('refuses %s, naming the detected type', async (_name, bytes, reason) => {
    const error = await refusal(documents().inspect(filePart(`data:application/pdf;base64,${bytes.toString('base64')}`)))
    expect(error.message).toBe(`Invalid file data in messages[0].content[1]: ${reason}`)
    expect(error.code).toBe('unsupported_file_type')
  })

  it('refuses bad base64 and URLs in file_data', async () => {
    expect((await refusal(documents().inspect(filePart('data:application/pdf;base64,JVBE$$')))).message).toBe(
      'Invalid file data in messages[0].content[1]: bad base64: invalid character "$" at position 4',
    )
    expect((await refusal(documents().inspect(filePart('https://example.com/doc.pdf')))).message).toBe(
      'Invalid file data in messages[0].content[1]: file_data must be a data:application/pdf;base64,... URL or bare base64, not a URL to fetch',
    )
  })

  it('refuses a PDF over --max-pdf-mb with a 413 before decoding it', async () => {
    const error = await refusal(documents({ maxFileBytes: 1024 }).inspect(filePart(pdfDataUrl(threePages))))
    expect(error).toBeInstanceOf(PayloadTooLargeError)
    expect(error.message).toMatch(/^File too large in messages\[0\]\.content\[1\]: the PDF is [\d.]+ KiB, over the per-file limit of 1 KiB \(--max-pdf-mb\)$/)
  })

  it('says uploaded files are not enabled when no file store is given', async () => {
    const error = await refusal(documents().inspect(filePart(undefined, { fileId: 'file-abc' })))
    expect(error.message).toBe(
      'Invalid file data in messages[0].content[1]: file_id is not supported: uploaded files are not enabled on this server; send the PDF inline as "file_data": "data:application/pdf;base64,..."',
    )
    expect([error.param, error.code]).toEqual(['messages[0].content[1].file.file_id', 'file_uploads_disabled'])
  })

  it('reads uploaded files through the file store it is given', async () => {
    const store = new Map([['file-abc', threePages]])
    const docs = documents({ files: async (id) => store.get(id) })
    expect((await docs.inspect(filePart(undefined, { fileId: 'file-abc' }))).pageCount).toBe(3)
    expect((await refusal(docs.inspect(filePart(undefined, { fileId: 'file-nope' })))).message).toBe(
      'Invalid file data in messages[0].content[1]: no uploaded file has the id "file-nope"',
    )
  })
})

describe('PdfDocuments: hostile PDFs get a 400 naming the problem', () => {
  it.each([
    ['encrypted', hostilePdfs.encrypted, 'the PDF is encrypted (password-protected); send a copy without a password', 'encrypted_pdf'],
    ['malformed', hostilePdfs.malformed, 'corrupt or unreadable PDF (not a PDF or corrupted)', 'corrupt_pdf'],
    ['zero pages', hostilePdfs.zeroPages, 'the PDF has no pages', 'empty_pdf'],
    ['a 14400 x 10 pt strip', hostilePdfs.thinStrip, 'page 1 is 14400x10 pt, an aspect ratio of 1440:1; the model accepts at most 200:1', 'image_aspect_ratio'],
    ['a 3000-deep page tree', hostilePdfs.deepPageTree, 'corrupt or unreadable PDF (page 1 has no readable size)', 'corrupt_pdf'],
    ['a cyclic page tree', hostilePdfs.cyclicPageTree, 'corrupt or unreadable PDF (page 2 has no readable size)', 'corrupt_pdf'],
  ])('%s', async (_name, make, reason, code) => {
    const error = await refusal(documents().inspect(filePart(pdfDataUrl(make()))))
    expect(error).toBeInstanceOf(InvalidFileError)
    expect(error.message).toBe(`Invalid file data in messages[0].content[1]: ${reason}`)
    expect(error.code).toBe(code)
  })

  it('refuses 5000 pages from the count alone, naming the limit, the pages and the tokens', async () => {
    const docs = documents()
    const doc = await docs.inspect(filePart(pdfDataUrl(hostilePdfs.thousandsOfPages()), { detail: 'low' }))
    expect([doc.pageCount, doc.estimated, doc.tokens]).toEqual([5000, true, 5000 * 252])
    const error = await refusal(() => docs.checkLimits([doc]))
    expect(error).toBeInstanceOf(InvalidRequestError)
    expect(error.message).toBe(
      'Too many PDF pages: messages[0].content[1] has 5000 pages; the limit is 16 pages per request (--max-pdf-pages), and the 5000 pages would take about 1260000 image tokens. ' +
        'Choose pages with the file part\'s "pages" field, e.g. "pages": "1-16".',
    )
    expect(error.code).toBe('too_many_pdf_pages')
  })

  it('renders a huge page at the budget, and document JavaScript never runs', async () => {
    for (const make of [hostilePdfs.hugePage, hostilePdfs.withJavaScript, hostilePdfs.deepNesting]) {
      const docs = documents()
      const doc = await docs.inspect(filePart(pdfDataUrl(make()), { detail: 'low' }))
      const parts = await docs.render(doc)
      expect(parts.map((p) => p.type)).toEqual(['text', 'image'])
    }
  })

  it('stops a render that runs past the time limit', async () => {
    const bomb = hostilePdfs.imageBomb()
    const result = await renderPdfPages(bomb, [{ index: 0, width: 448, height: 576 }], { timeoutMs: 300, maxHeapBytes: 512 * 1024 * 1024 })
    expect(result).toEqual({ kind: 'failed', failure: 'timeout', reason: 'the renderer took longer than 300 ms' })
  })

  it('fails a render whose WebAssembly heap would grow past the memory limit', async () => {
    const inspected = await inspectPdf(threePages, null, 10, { timeoutMs: 20_000, maxHeapBytes: 64 * 1024 * 1024 })
    expect(inspected.kind).toBe('inspected')
    // A 4096 x 4096 bitmap alone is 64 MiB.
    const result = await renderPdfPages(threePages, [{ index: 0, width: 4096, height: 4096 }], { timeoutMs: 20_000, maxHeapBytes: 64 * 1024 * 1024 })
    expect(result.kind === 'failed' && result.failure).toBe('memory')
  })
})

describe('PdfDocuments: request limits', () => {
  it('counts the pages of every document in the request against --max-pdf-pages', async () => {
    const docs = documents({ maxPagesPerRequest: 4 })
    const a = await docs.inspect(filePart(pdfDataUrl(threePages), { detail: 'low' }))
    const b = await docs.inspect(filePart(pdfDataUrl(threePages), { where: 'messages[0].content[2]', pages: '1-2', detail: 'low' }))
    expect(() => docs.checkLimits([a])).not.toThrow()
    const error = await refusal(() => docs.checkLimits([a, b]))
    expect(error.message).toBe(
      'Too many PDF pages: messages[0].content[1] has 3 pages, messages[0].content[2] selects 2 of its 3 pages; the limit is 4 pages per request (--max-pdf-pages), and the 5 pages would take 1260 image tokens. ' +
        'Choose pages with the file part\'s "pages" field, e.g. "pages": "1-3".',
    )
  })

  it('refuses pages over the token budget, with what they would take', async () => {
    const docs = documents({ maxPageTokensPerRequest: 2048 })
    const doc = await docs.inspect(filePart(pdfDataUrl(threePages)))
    const error = await refusal(() => docs.checkLimits([doc]))
    expect(error.message).toBe(
      'PDF pages over the token budget: messages[0].content[1] has 3 pages; the 3 pages would take 3024 image tokens, over the limit of 2048 image tokens per request (--max-pdf-tokens). ' +
        'Choose fewer pages with the file part\'s "pages" field, or a smaller "detail" ("low").',
    )
    expect([error.status, error.code]).toEqual([400, 'pdf_token_budget_exceeded'])
  })
})

describe('PdfDocuments: rendering', () => {
  it('gives each page a "Page N of M:" marker and a JPEG of the planned size with the text on it', async () => {
    const docs = documents()
    const doc = await docs.inspect(filePart(pdfDataUrl(threePages), { pages: '1,3', detail: 'low' }))
    const parts = await docs.render(doc)
    expect(parts.filter((p) => p.type === 'text')).toEqual([
      { type: 'text', text: 'Page 1 of 3:' },
      { type: 'text', text: 'Page 3 of 3:' },
    ])
    const images = parts.flatMap((p) => (p.type === 'image' ? [p.image] : []))
    expect(images.map((i) => [i.mime, i.width, i.height])).toEqual([
      ['image/jpeg', 448, 576],
      ['image/jpeg', 448, 576],
    ])
    const { data, info } = await sharp(images[0]!.data).greyscale().raw().toBuffer({ resolveWithObject: true })
    expect([info.width, info.height]).toEqual([448, 576])
    // White paper with black text: mostly light pixels, and some dark ones.
    const dark = data.filter((v) => v < 96).length
    expect(dark).toBeGreaterThan(500)
    expect(dark).toBeLessThan(data.length / 4)
  })
})

describe('PdfDocuments: cancellation', () => {
  it('stops the renderer at once when the request is cancelled', async () => {
    const controller = new AbortController()
    const rendering = renderPdfPages(hostilePdfs.imageBomb(), [{ index: 0, width: 448, height: 576 }], {
      timeoutMs: 60_000,
      maxHeapBytes: 512 * 1024 * 1024,
      signal: controller.signal,
    })
    setTimeout(() => controller.abort(), 200)
    // The bomb takes seconds to render: had cancelling waited for it, the result would be 'rendered'.
    expect(await rendering).toEqual({ kind: 'failed', failure: 'aborted', reason: 'the request was cancelled' })
  })
})
