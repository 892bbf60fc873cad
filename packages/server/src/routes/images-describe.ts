import { createHash } from 'node:crypto'
import type { FastifyMultipartOptions } from '@fastify/multipart'
import { formatBytes, isPdf } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, InternalServerError, InvalidRequestError, PayloadTooLargeError } from '../errors.js'
import { bodyTooLarge } from '../http-errors.js'
import { prepareImageBytes, type ImageDetailLevel, type ImagePipelineOptions } from '../images/pipeline.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'

export interface ImagesDescribeDeps {
  chat: ChatCompletionsService
  images: ImagePipelineOptions
  /** Largest PDF upload; PDFs are passed on as file parts (each page becomes an image). */
  maxPdfBytes?: number | undefined
}

/** Form fields that carry image files; `image` is the documented one. */
const imageFields = new Set(['image', 'image[]', 'images', 'images[]', 'file'])
const textFields = new Set(['prompt', 'max_tokens', 'temperature', 'detail', 'model', 'pages'])
/** Stands for an upload already decoded by this route, in the chat request it builds. */
const UPLOAD_SCHEME = 'visto-upload:'
const defaultPrompt = 'Describe this image in detail.'

function parseNumberField(fields: Map<string, string>, name: string): number | undefined {
  const raw = fields.get(name)
  if (raw === undefined || raw.trim() === '') return undefined
  const value = Number(raw)
  if (!Number.isFinite(value)) throw new InvalidRequestError(`${name} must be a number, got ${JSON.stringify(raw.slice(0, 40))}`, { param: name, code: 'invalid_type' })
  return value
}

function parseDetail(fields: Map<string, string>): ImageDetailLevel {
  const raw = fields.get('detail')?.trim()
  if (raw === undefined || raw === '') return 'auto'
  if (raw === 'low' || raw === 'high' || raw === 'auto') return raw
  throw new InvalidRequestError(`detail must be "low", "high" or "auto", got ${JSON.stringify(raw.slice(0, 40))}`, { param: 'detail', code: 'invalid_value' })
}

/**
 * `POST /v1/images/describe`: multipart upload without base64, so
 * `curl -F image=@photo.jpg -F prompt='描述这张图片' http://localhost:7860/v1/images/describe`
 * works. The images go through the same pipeline as chat images; the answer is the
 * same chat completion object. `form` is the multipart parser's limits for this route.
 */
export function imagesDescribeRoute(deps: ImagesDescribeDeps) {
  const { images } = deps
  const maxFileBytes = Math.max(images.maxImageBytes, deps.maxPdfBytes ?? 0)
  const form: FastifyMultipartOptions = {
    throwFileSizeLimit: true,
    limits: {
      fileSize: maxFileBytes,
      files: images.maxImagesPerRequest,
      fields: 16,
      fieldSize: 1024 * 1024,
      parts: images.maxImagesPerRequest + 16,
      headerPairs: 200,
    },
  }

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.isMultipart()) {
      throw new InvalidRequestError(
        'Send multipart/form-data with one or more "image" files and a "prompt" field, e.g. curl -F image=@photo.jpg -F prompt="Describe this image" …',
        { param: 'image', code: 'invalid_content_type' },
      )
    }
    // The whole form counts against --body-limit-mb, as a JSON body does: refuse a declared
    // size at once, and count what streams in for chunked uploads.
    const bodyLimit = request.server.initialConfig.bodyLimit ?? Number.POSITIVE_INFINITY
    const declared = Number(request.headers['content-length'])
    if (Number.isFinite(declared) && declared > bodyLimit) throw bodyTooLarge(bodyLimit)
    const signal = clientDisconnectSignal(reply)
    // Hold an admission place before reading and decoding: a full server answers 503 first.
    const reservation = deps.chat.reserve()
    try {
      const { files, fields } = await readForm(request, images, bodyLimit, deps.maxPdfBytes)
      const detail = parseDetail(fields)
      const maxTokens = parseNumberField(fields, 'max_tokens')
      const temperature = parseNumberField(fields, 'temperature')
      if (files.length === 0) {
        throw new InvalidRequestError('No image: send one or more files in the "image" field (curl -F image=@photo.jpg)', { param: 'image', code: 'missing_image' })
      }
      const prompt = fields.get('prompt')?.trim() || defaultPrompt

      // Images are decoded by the chat service, once, after its cache lookup (a hit decodes
      // nothing), from bytes looked up by URL; each URL names its upload by content, so
      // nothing downstream can confuse two uploads. PDFs go on as file parts: the chat
      // service renders their pages under its page limits.
      const pages = fields.get('pages')?.trim() || undefined
      const uploads = new Map<string, { bytes: Buffer; sha256: string }>()
      const content = files.map((bytes, index) => {
        if (deps.maxPdfBytes !== undefined && isPdf(bytes)) {
          return { type: 'file', file: { filename: `image[${index}].pdf`, file_data: `data:application/pdf;base64,${bytes.toString('base64')}`, detail, ...(pages ? { pages } : {}) } }
        }
        const sha256 = createHash('sha256').update(bytes).digest('hex')
        const url = `${UPLOAD_SCHEME}${sha256}:${index}`
        uploads.set(url, { bytes, sha256 })
        return { type: 'image_url', image_url: { url, detail } }
      })
      // The prompt is content[0], so upload i is content[i + 1]; errors name it as the form did.
      const uploadNames = new Map(files.map((_, index) => [`messages[0].content[${index + 1}]`, `image[${index}]`]))
      const body = {
        ...(fields.has('model') ? { model: fields.get('model') } : {}),
        messages: [{ role: 'user', content: [{ type: 'text', text: prompt }, ...content] }],
        ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
        ...(temperature === undefined ? {} : { temperature }),
      }
      const chat = await deps.chat.prepare(body, request.id, signal, {
        reservation,
        cacheUse: cacheDirective(request.headers['cache-control']),
        partName: (where) => uploadNames.get(where),
        uploadHash: (url) => uploads.get(url)?.sha256,
        prepareImage: async (url, where, partDetail, imageSignal) => {
          const upload = uploads.get(url)
          if (upload === undefined) throw new InternalServerError(undefined, { cause: new Error(`no upload for ${url}`) })
          return prepareImageBytes(upload.bytes, where, images, partDetail, imageSignal)
        },
      })
      if (chat.cache) reply.header('x-visto-cache', chat.cache)
      return deps.chat.complete(chat, signal)
    } catch (error) {
      // Refused before the form was read to its end: close the connection rather than read on.
      if (!request.raw.readableEnded) reply.header('connection', 'close')
      throw error
    } finally {
      // A no-op once prepare turned the place into an engine slot.
      reservation.cancel()
    }
  }
  return { form, handler }
}

/**
 * Reads the form part by part. A file in an unknown field is refused before any of it is
 * buffered; image bytes are counted as they stream in against the body limit.
 */
async function readForm(
  request: FastifyRequest,
  images: ImagePipelineOptions,
  bodyLimit: number,
  maxPdfBytes: number | undefined,
): Promise<{ files: Buffer[]; fields: Map<string, string> }> {
  const files: Buffer[] = []
  const fields = new Map<string, string>()
  let received = 0
  const count = (bytes: number): void => {
    received += bytes
    if (received > bodyLimit) throw bodyTooLarge(bodyLimit)
  }
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (!imageFields.has(part.fieldname)) {
          throw new InvalidRequestError(`Unexpected file field "${part.fieldname}"; send images in "image" fields`, { param: part.fieldname, code: 'unknown_field' })
        }
        const chunks: Buffer[] = []
        for await (const chunk of part.file as AsyncIterable<Buffer>) {
          count(chunk.length)
          chunks.push(chunk)
        }
        if (part.file.truncated) throw Object.assign(new Error('request file too large'), { code: 'FST_REQ_FILE_TOO_LARGE' })
        files.push(Buffer.concat(chunks))
      } else {
        if (!textFields.has(part.fieldname)) {
          throw new InvalidRequestError(`Unknown form field "${part.fieldname}"; expected image, prompt, max_tokens, temperature, detail${maxPdfBytes === undefined ? '' : ', pages'}`, {
            param: part.fieldname,
            code: 'unknown_field',
          })
        }
        const value = String(part.value)
        count(Buffer.byteLength(value))
        fields.set(part.fieldname, value)
      }
    }
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new PayloadTooLargeError(
        maxPdfBytes === undefined
          ? `Image too large in image[${files.length}]: over the per-image limit of ${formatBytes(images.maxImageBytes)} (--max-image-mb)`
          : `File too large in image[${files.length}]: over the per-file limit of ${formatBytes(Math.max(images.maxImageBytes, maxPdfBytes))} (--max-image-mb for images, --max-pdf-mb for PDFs)`,
        { param: `image[${files.length}]`, code: 'image_too_large' },
      )
    }
    if (code === 'FST_FILES_LIMIT') {
      throw new InvalidRequestError(`Too many images: the limit is ${images.maxImagesPerRequest} per request (--max-images)`, { param: 'image', code: 'too_many_images' })
    }
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
      throw new InvalidRequestError('Too many form fields', { param: 'body', code: 'too_many_fields' })
    }
    // busboy reports a cut-off or garbled form with a plain Error ("Unexpected end of
    // multipart data"): the client's mistake. Our own bugs (TypeError and friends) stay 500s.
    if (error instanceof ApiError || error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) throw error
    const detail = error instanceof Error ? error.message.split('\n')[0]!.slice(0, 120) : String(error)
    throw new InvalidRequestError(`Malformed multipart/form-data body: ${detail}`, { param: 'body', code: 'invalid_multipart' })
  }
  return { files, fields }
}
