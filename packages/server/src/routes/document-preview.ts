import type { DocumentPreview } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { PdfDocuments } from '../documents/pdf-documents.js'
import { ApiError, InvalidRequestError } from '../errors.js'
import type { ChatJobFilePart } from '../serving/chat-job.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { isJsonObject } from '../serving/json-value.js'

export interface DocumentPreviewDeps {
  documents: PdfDocuments
}

/** Small enough for a row of them on a phone, large enough to tell pages apart. */
const thumbnailBox = { width: 160, height: 240 }
/** How a document is named in error messages: the body is the document. */
const where = 'the document'

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') {
    throw new InvalidRequestError(`${name} must be a string, got ${JSON.stringify(value)?.slice(0, 40)}`, { param: name, code: 'invalid_type' })
  }
  return value
}

/**
 * The chat errors name a part's field as `<where>.file.<field>`, and the request-wide
 * page limits `messages`; here the fields are at the top of the body, and the way past
 * a page limit is `pages`.
 */
function asBodyError(error: unknown): unknown {
  if (!(error instanceof ApiError) || error.param === null) return error
  let param: string
  if (error.param === 'messages') param = 'pages'
  else if (error.param.startsWith(`${where}.file.`)) param = error.param.slice(`${where}.file.`.length)
  else return error
  return new ApiError(error.status, error.type, error.code, error.message, { param, headers: error.headers, cause: error })
}

/**
 * `POST /v1/visto/document-preview`: a PDF read, measured and limited exactly as a chat
 * `file` part is (same pages, sizes, tokens and 400s), plus a thumbnail of each page, so
 * the web page can show what a document will cost before it is sent.
 */
export function documentPreviewHandler({ documents }: DocumentPreviewDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<DocumentPreview> => {
    const body = request.body
    if (!isJsonObject(body)) {
      throw new InvalidRequestError('The body must be a JSON object {"file_data": "data:application/pdf;base64,...", "detail", "pages"}', { param: null, code: 'invalid_type' })
    }
    const fileData = optionalString(body, 'file_data')
    if (fileData === undefined) {
      throw new InvalidRequestError('file_data is required: the PDF as "data:application/pdf;base64,..."', { param: 'file_data', code: 'missing_required_parameter' })
    }
    const detail = body.detail ?? 'auto'
    if (detail !== 'low' && detail !== 'auto' && detail !== 'high') {
      throw new InvalidRequestError(`detail must be "low", "auto" or "high", got ${JSON.stringify(detail)?.slice(0, 40)}`, { param: 'detail', code: 'invalid_value' })
    }
    const part: ChatJobFilePart = { type: 'file', where, filename: optionalString(body, 'filename'), fileData, fileId: undefined, pages: optionalString(body, 'pages'), detail }
    const signal = clientDisconnectSignal(reply)
    try {
      documents.checkParts([part])
      const document = await documents.inspect(part, signal)
      // The request's page and token limits, before any page is rendered: they also bound the thumbnails.
      documents.checkLimits([document])
      const thumbnails = await documents.thumbnails(document, thumbnailBox, signal)
      const pages = document.pages.map((page, i) => ({
        number: page.number,
        width: page.width,
        height: page.height,
        image_tokens: page.tokens,
        prompt_tokens: page.tokens + document.frameTokensPerPage,
        thumbnail: `data:image/jpeg;base64,${thumbnails[i]!.toString('base64')}`,
      }))
      return {
        object: 'document_preview',
        detail,
        page_count: document.pageCount,
        pages,
        image_tokens: pages.reduce((sum, page) => sum + page.image_tokens, 0),
        prompt_tokens: pages.reduce((sum, page) => sum + page.prompt_tokens, 0),
      }
    } catch (error) {
      throw asBodyError(error)
    }
  }
}
