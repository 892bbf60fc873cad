import { formatBytes, formatDisplayName, formatPageList, isPdf, PageSelectionError, parsePageSelection, sniffImageFormat, type ImageDetail } from '@visto/protocol'
import sharp from 'sharp'
import { MiB, type ServeConfig } from '../config.js'
import type { EngineContentPart } from '../engines/engine.js'
import { imageTokensOf, minImagePixels, qwen3VlGeometry, tokenSide, type VisionGeometry } from '../engines/vision-geometry.js'
import { InvalidFileError, InvalidRequestError, PayloadTooLargeError } from '../errors.js'
import { decodeLenientBase64 } from '../images/image-source.js'
import { configureSharp, encode, type OutputFormat } from '../images/normalise.js'
import { defaultImagePipelineOptions, type ImagePipelineOptions } from '../images/pipeline.js'
import type { Semaphore } from '../images/semaphore.js'
import { aspectRatioOf, maxAspectRatio } from '../images/smart-resize.js'
import type { ChatJobFilePart } from '../serving/chat-job.js'
import { pageRenderSize } from './page-size.js'
import { inspectPdf, renderPdfPages, type PdfFailureKind, type RendererLimits } from './pdf-renderer.js'

/** Where uploaded files come from (the Files API's store); undefined: no such file. */
export type FileLookup = (fileId: string) => Promise<Buffer | undefined>

export interface DocumentOptions {
  /** Decoded bytes per PDF. */
  maxFileBytes: number
  /** Pages rendered for one request, all documents together. */
  maxPagesPerRequest: number
  /** Image tokens all pages of one request may take together. */
  maxPageTokensPerRequest: number
  /** The same per-`detail` pixel budgets as images. */
  pixelBudget: { low: number; auto: number; high: number }
  /** The served model's geometry, asked for each document, as images ask for it. */
  geometry: () => VisionGeometry
  /** A page is never rendered finer than this, however small it is. */
  maxDpi: number
  outputFormat: OutputFormat
  /** Upper bound for reading, and again for rendering, one document. */
  timeoutSeconds: number
  /** The renderer's WebAssembly heap may not grow past this. */
  maxRendererBytes: number
  /** Uploaded files; without it a `file_id` gets a 400 saying uploads are not enabled. */
  files?: FileLookup | undefined
  /** The image pipeline's decode slots: reading and rendering a PDF takes one, as decoding an image does. */
  decodeSlots: Semaphore
}

export const defaultDocumentOptions: Readonly<DocumentOptions> = Object.freeze({
  maxFileBytes: 32 * 1024 * 1024,
  maxPagesPerRequest: 16,
  maxPageTokensPerRequest: 8192,
  pixelBudget: Object.freeze({ low: 512 * 512, auto: 1024 * 1024, high: 1536 * 1536 }),
  geometry: () => qwen3VlGeometry,
  maxDpi: 300,
  outputFormat: 'jpeg',
  timeoutSeconds: 60,
  maxRendererBytes: 512 * 1024 * 1024,
  decodeSlots: defaultImagePipelineOptions.decodeSlots,
})

/** The options `visto serve` runs with: its flags, and the image pipeline's geometry and budgets. */
export function documentOptionsFrom(config: ServeConfig, images: ImagePipelineOptions, files?: FileLookup): DocumentOptions {
  return {
    ...defaultDocumentOptions,
    maxFileBytes: Math.round(config['max-pdf-mb'] * MiB),
    maxPagesPerRequest: config['max-pdf-pages'],
    maxPageTokensPerRequest: config['max-pdf-tokens'] ?? config['ctx-size'],
    pixelBudget: images.pixelBudget,
    geometry: images.geometry,
    decodeSlots: images.decodeSlots,
    outputFormat: images.outputFormat,
    timeoutSeconds: config['pdf-timeout-seconds'],
    files,
  }
}

export interface PlannedPage {
  /** 1-based, as a reader numbers pages. */
  number: number
  width: number
  height: number
  tokens: number
}

/** A document read and measured, nothing rendered yet: what the limits are checked on. */
export interface InspectedDocument {
  where: string
  bytes: Buffer
  pageCount: number
  detail: ImageDetail
  /** Null when the client chose no pages (all of them). */
  selection: number[] | null
  /** The pages to render; empty when the document was too long to measure page by page. */
  pages: PlannedPage[]
  selectedCount: number
  /** Image tokens of every selected page; extrapolated from the first pages when `estimated`. */
  tokens: number
  estimated: boolean
  /** Prompt tokens the model wraps around each page image (its frame markers), besides the page's own. */
  frameTokensPerPage: number
}

/** Past this many pages we stop measuring each one and extrapolate: it is over any sane limit anyway. */
const maxMeasuredPages = 2000

function invalidFile(where: string, reason: string, code: string, field = 'file_data'): InvalidFileError {
  return new InvalidFileError(`Invalid file data in ${where}: ${reason}`, { param: `${where}.file.${field}`, code })
}

/**
 * PDFs in chat requests: read the bytes, measure the selected pages, check the
 * request's limits, then render each page at the size its `detail` budget gives, through
 * the same encoder as images. Each page reaches the model as "Page N of M:" and the
 * page image, in document order.
 */
export class PdfDocuments {
  constructor(private readonly options: DocumentOptions) {}

  private limits(signal: AbortSignal | undefined): RendererLimits {
    return { timeoutMs: this.options.timeoutSeconds * 1000, maxHeapBytes: this.options.maxRendererBytes, signal }
  }

  async readBytes(part: ChatJobFilePart): Promise<Buffer> {
    const { where } = part
    if (part.bytes !== undefined) return this.checkBytes(part.bytes, part)
    if (part.fileId !== undefined) {
      if (!this.options.files) {
        throw invalidFile(
          where,
          'file_id is not supported: uploaded files are not enabled on this server; send the PDF inline as "file_data": "data:application/pdf;base64,..."',
          'file_uploads_disabled',
          'file_id',
        )
      }
      const bytes = await this.options.files(part.fileId)
      if (bytes === undefined) throw invalidFile(where, `no uploaded file has the id ${JSON.stringify(part.fileId.slice(0, 80))}`, 'file_not_found', 'file_id')
      return this.checkBytes(bytes, part)
    }
    const data = part.fileData!.trim()
    if (data === '') throw invalidFile(where, 'file_data is empty (zero bytes)', 'empty_file')
    let payload = data
    if (/^data:/i.test(data)) {
      const comma = data.indexOf(',')
      if (comma < 0 || comma > 256) throw invalidFile(where, 'malformed data URL: no "," separates the header from the data', 'invalid_base64')
      const params = data
        .slice(5, comma)
        .split(';')
        .map((p) => p.trim().toLowerCase())
      if (!params.includes('base64')) throw invalidFile(where, 'the data URL must be base64 (data:application/pdf;base64,...)', 'invalid_base64')
      payload = data.slice(comma + 1)
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(data)) {
      throw invalidFile(where, 'file_data must be a data:application/pdf;base64,... URL or bare base64, not a URL to fetch', 'invalid_file_url')
    }
    const bytes = decodeLenientBase64(payload, this.options.maxFileBytes, {
      invalid: (reason) => invalidFile(where, reason, 'invalid_base64'),
      empty: () => invalidFile(where, 'file_data is empty (zero bytes)', 'empty_file'),
      tooLarge: (size) => this.tooLarge(where, size),
    })
    return this.checkBytes(bytes, part)
  }

  private tooLarge(where: string, size: number): PayloadTooLargeError {
    return new PayloadTooLargeError(
      `File too large in ${where}: the PDF is ${formatBytes(size)}, over the per-file limit of ${formatBytes(this.options.maxFileBytes)} (--max-pdf-mb)`,
      { param: `${where}.file.file_data`, code: 'file_too_large' },
    )
  }

  private checkBytes(bytes: Buffer, part: ChatJobFilePart): Buffer {
    if (bytes.length === 0) throw invalidFile(part.where, 'the file is empty (zero bytes)', 'empty_file')
    if (bytes.length > this.options.maxFileBytes) throw this.tooLarge(part.where, bytes.length)
    if (!isPdf(bytes)) {
      const format = sniffImageFormat(bytes)
      const named =
        format === 'unknown'
          ? 'unrecognised data'
          : format === 'text' || format === 'json' || format === 'html' || format === 'xml'
            ? formatDisplayName[format]
            : `${formatDisplayName[format]} data`
      const hint =
        format === 'jpeg' || format === 'png' || format === 'webp' || format === 'gif' || format === 'tiff' || format === 'avif' || format === 'bmp' || format === 'heic'
          ? ' (send images as image_url parts)'
          : ''
      throw invalidFile(part.where, `unsupported file type: ${named}; file parts take PDF documents${hint}`, 'unsupported_file_type')
    }
    return bytes
  }

  private failure(where: string, failure: PdfFailureKind, reason: string): InvalidFileError {
    switch (failure) {
      case 'encrypted':
        return invalidFile(where, `the PDF is encrypted (${reason}); send a copy without a password`, 'encrypted_pdf')
      case 'timeout':
        return invalidFile(where, `the PDF took too long to read or render: over ${this.options.timeoutSeconds} s (--pdf-timeout-seconds)`, 'pdf_timeout')
      case 'memory':
        return invalidFile(where, `the PDF needs more than ${formatBytes(this.options.maxRendererBytes)} of memory to render`, 'pdf_too_complex')
      case 'aborted':
        return invalidFile(where, 'the request was cancelled while the PDF was being read', 'request_cancelled')
      case 'corrupt':
      case 'render':
        return invalidFile(where, `corrupt or unreadable PDF (${reason})`, 'corrupt_pdf')
    }
  }

  /** Reads the file and measures its selected pages; renders nothing. */
  async inspect(part: ChatJobFilePart, signal?: AbortSignal): Promise<InspectedDocument> {
    const { where } = part
    let selection: number[] | null = null
    if (part.pages !== undefined) {
      try {
        const parsed = parsePageSelection(part.pages)
        selection = parsed.kind === 'all' ? null : parsed.pages
      } catch (error) {
        if (!(error instanceof PageSelectionError)) throw error
        throw invalidFile(where, `pages ${JSON.stringify(part.pages.slice(0, 40))}: ${error.message}`, 'invalid_page_selection', 'pages')
      }
    }
    const bytes = await this.readBytes(part)
    const result = await this.options.decodeSlots.run(() => inspectPdf(bytes, selection === null ? null : selection.map((page) => page - 1), maxMeasuredPages, this.limits(signal)))
    if (result.kind === 'failed') throw this.failure(where, result.failure, result.reason)
    const { pageCount, sizes } = result
    if (pageCount <= 0) throw invalidFile(where, 'the PDF has no pages', 'empty_pdf')
    if (sizes === null) {
      const beyond = selection!.filter((page) => page > pageCount)
      throw invalidFile(
        where,
        `pages ${JSON.stringify(part.pages)} asks for page ${formatPageList(beyond)}, but the document has ${pageCount} page${pageCount === 1 ? '' : 's'}`,
        'pdf_page_out_of_range',
        'pages',
      )
    }
    const numbers = selection ?? Array.from({ length: Math.min(pageCount, maxMeasuredPages) }, (_, i) => i + 1)
    const geometry = this.options.geometry()
    const rule = { budget: this.options.pixelBudget[part.detail], minPixels: minImagePixels(geometry), alignTo: tokenSide(geometry), maxDpi: this.options.maxDpi }
    const pages = sizes.map((size, i): PlannedPage => {
      const number = numbers[i]!
      if (!(size.width > 0 && size.height > 0 && Number.isFinite(size.width) && Number.isFinite(size.height))) {
        throw invalidFile(where, `page ${number} has no usable size (${size.width}x${size.height} pt)`, 'corrupt_pdf')
      }
      const ratio = aspectRatioOf(size.width, size.height)
      if (ratio > maxAspectRatio) {
        throw invalidFile(
          where,
          `page ${number} is ${Math.round(size.width)}x${Math.round(size.height)} pt, an aspect ratio of ${Math.round(ratio)}:1; the model accepts at most ${maxAspectRatio}:1`,
          'image_aspect_ratio',
        )
      }
      const target = pageRenderSize(size.width, size.height, rule)
      return { number, width: target.width, height: target.height, tokens: imageTokensOf(target.width, target.height, geometry) }
    })
    const selectedCount = selection?.length ?? pageCount
    const measured = pages.reduce((sum, page) => sum + page.tokens, 0)
    const estimated = pages.length < selectedCount
    const tokens = estimated ? Math.round((measured / pages.length) * selectedCount) : measured
    return { where, bytes, pageCount, detail: part.detail, selection, pages: estimated ? [] : pages, selectedCount, tokens, estimated, frameTokensPerPage: geometry.frameTokens }
  }

  /** Before reading anything: every document has at least one page, so more parts than pages allowed cannot fit. */
  checkParts(parts: readonly ChatJobFilePart[]): void {
    const max = this.options.maxPagesPerRequest
    if (parts.length > max) {
      throw new InvalidRequestError(
        `Too many PDF pages: ${parts.length} file parts in this request, each with at least one page; the limit is ${max} pages per request (--max-pdf-pages)`,
        { param: 'messages', code: 'too_many_pdf_pages' },
      )
    }
  }

  /** The request-wide limits, checked on every document before any page is rendered. */
  checkLimits(documents: readonly InspectedDocument[]): void {
    if (documents.length === 0) return
    const pages = documents.reduce((sum, doc) => sum + doc.selectedCount, 0)
    const tokens = documents.reduce((sum, doc) => sum + doc.tokens, 0)
    const about = documents.some((doc) => doc.estimated) ? 'about ' : ''
    const which = documents
      .map((doc) =>
        doc.selection === null
          ? `${doc.where} has ${doc.pageCount} page${doc.pageCount === 1 ? '' : 's'}`
          : `${doc.where} selects ${doc.selectedCount} of its ${doc.pageCount} pages`,
      )
      .join(', ')
    const cost = `${pages} page${pages === 1 ? '' : 's'} would take ${about}${tokens} image tokens`
    const { maxPagesPerRequest: maxPages, maxPageTokensPerRequest: maxTokens } = this.options
    if (pages > maxPages) {
      throw new InvalidRequestError(
        `Too many PDF pages: ${which}; the limit is ${maxPages} pages per request (--max-pdf-pages), and the ${cost}. ` +
          `Choose pages with the file part's "pages" field, e.g. "pages": "1-${Math.min(maxPages, documents[0]!.pageCount)}".`,
        { param: 'messages', code: 'too_many_pdf_pages' },
      )
    }
    if (tokens > maxTokens) {
      throw new InvalidRequestError(
        `PDF pages over the token budget: ${which}; the ${cost}, over the limit of ${maxTokens} image tokens per request (--max-pdf-tokens). ` +
          'Choose fewer pages with the file part\'s "pages" field, or a smaller "detail" ("low").',
        { param: 'messages', code: 'pdf_token_budget_exceeded' },
      )
    }
  }

  imageTokens(document: InspectedDocument): number {
    return document.tokens
  }

  /**
   * Small JPEGs of the planned pages, for a client to show before sending the document:
   * rendered straight at thumbnail size through the same off-thread, time- and
   * memory-limited renderer, so a page never exists at full size here. Callers check
   * the limits first (checkLimits), which bounds how many pages this renders.
   */
  async thumbnails(document: InspectedDocument, maxSide: { width: number; height: number }, signal?: AbortSignal): Promise<Buffer[]> {
    if (document.estimated) throw new Error(`thumbnails called for ${document.where}, which checkLimits refuses`)
    const targets = document.pages.map((page) => {
      const scale = Math.min(1, maxSide.width / page.width, maxSide.height / page.height)
      return { index: page.number - 1, width: Math.max(1, Math.round(page.width * scale)), height: Math.max(1, Math.round(page.height * scale)) }
    })
    configureSharp()
    const encoded: Array<Promise<Buffer>> = []
    const result = await this.options.decodeSlots.run(() =>
      renderPdfPages(document.bytes, targets, this.limits(signal), (page) => {
        const raw = sharp(page.rgba, { raw: { width: page.width, height: page.height, channels: 4 } })
        encoded.push(raw.flatten({ background: '#ffffff' }).jpeg({ quality: 70 }).toBuffer())
      }),
    )
    const pages = await Promise.allSettled(encoded)
    if (result.kind === 'failed') throw this.failure(document.where, result.failure, result.reason)
    return pages.map((page) => {
      if (page.status === 'rejected') throw page.reason
      return page.value
    })
  }

  /** Renders the planned pages: a "Page N of M:" marker, then the page image, for each. */
  async render(document: InspectedDocument, signal?: AbortSignal): Promise<EngineContentPart[]> {
    // Documents too long to measure page by page are over every page limit (--max-pdf-pages stays below that length).
    if (document.estimated) throw new Error(`render called for ${document.where}, which checkLimits refuses`)
    const targets = document.pages.map((page) => ({ index: page.number - 1, width: page.width, height: page.height }))
    configureSharp()
    const mime = this.options.outputFormat === 'png' ? 'image/png' : 'image/jpeg'
    // Each page is encoded while the next renders; its raw pixels are dropped once encoded.
    const encoded: Array<Promise<EngineContentPart[]>> = []
    const result = await this.options.decodeSlots.run(() =>
      renderPdfPages(document.bytes, targets, this.limits(signal), (page) => {
        const raw = sharp(page.rgba, { raw: { width: page.width, height: page.height, channels: 4 } })
        encoded.push(
          encode(raw, this.options)
            .toBuffer()
            .then((data) => [
              { type: 'text', text: `Page ${page.index + 1} of ${document.pageCount}:` },
              { type: 'image', image: { data, mime, width: page.width, height: page.height } },
            ]),
        )
      }),
    )
    const pages = await Promise.allSettled(encoded)
    if (result.kind === 'failed') throw this.failure(document.where, result.failure, result.reason)
    const parts: EngineContentPart[] = []
    for (const page of pages) {
      if (page.status === 'rejected') throw page.reason
      parts.push(...page.value)
    }
    return parts
  }
}
