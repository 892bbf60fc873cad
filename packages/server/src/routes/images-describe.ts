import { createHash } from 'node:crypto'
import type { FastifyMultipartOptions } from '@fastify/multipart'
import { formatBytes, isPdf } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidRequestError, PayloadTooLargeError } from '../errors.js'
import { bodyTooLarge } from '../http-errors.js'
import type { ImageDetailLevel, ImagePipelineOptions } from '../images/pipeline.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob, ChatJobPart } from '../serving/chat-job.js'
import { maxVideoFramesPerPart, parseSampling, TextBudget } from '../serving/chat-request.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { mapMultipartError } from './multipart-errors.js'
import { sniffVideoContainer } from '../video/video-container.js'

export interface ImagesDescribeDeps {
  chat: ChatCompletionsService
  images: ImagePipelineOptions
  /** Largest PDF upload; PDFs are passed on as file parts (each page becomes an image). */
  maxPdfBytes?: number | undefined
  /** Largest video upload; videos are passed on as video parts (their frames become images). */
  maxVideoBytes?: number | undefined
}

/** Form fields that carry image files; `image` is the documented one. */
const imageFields = new Set(['image', 'image[]', 'images', 'images[]', 'file'])
const textFields = new Set(['prompt', 'max_tokens', 'temperature', 'detail', 'model', 'pages', 'fps', 'max_frames'])
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
  const maxFileBytes = Math.max(images.maxImageBytes, deps.maxPdfBytes ?? 0, deps.maxVideoBytes ?? 0)
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
      const { files, fields } = await readForm(request, images, bodyLimit, deps.maxPdfBytes, deps.maxVideoBytes)
      const detail = parseDetail(fields)
      const maxTokens = parseNumberField(fields, 'max_tokens')
      const temperature = parseNumberField(fields, 'temperature')
      if (files.length === 0) {
        throw new InvalidRequestError('No image: send one or more files in the "image" field (curl -F image=@photo.jpg)', { param: 'image', code: 'missing_image' })
      }
      const prompt = new TextBudget(deps.chat.requestLimits.maxTextChars).take(fields.get('prompt')?.trim() || defaultPrompt, 'prompt')
      // The range checks a chat body's fields of the same names get.
      const sampling = parseSampling({ ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }), ...(temperature === undefined ? {} : { temperature }) })

      // The chat service decodes each image once, after its cache lookup (a hit decodes
      // nothing). PDFs become file parts: it renders their pages under its page limits.
      // Errors name each upload as the form did: image[0], image[1] …
      const pages = fields.get('pages')?.trim() || undefined
      // The same checks a video_url part's fps and max_frames get (parseChatRequest).
      const fps = parseNumberField(fields, 'fps')
      const maxFrames = parseNumberField(fields, 'max_frames')
      if (fps !== undefined && !(fps > 0 && fps <= 60))
        throw new InvalidRequestError(`fps must be greater than 0 and at most 60 frames a second, got ${fps}`, { param: 'fps', code: 'invalid_value' })
      if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 4 && maxFrames <= maxVideoFramesPerPart)) {
        throw new InvalidRequestError(`max_frames must be a whole number from 4 to ${maxVideoFramesPerPart}, got ${maxFrames}`, { param: 'max_frames', code: 'invalid_value' })
      }
      const uploads = files.map((bytes, index): ChatJobPart => {
        const where = `image[${index}]`
        if (deps.maxPdfBytes !== undefined && isPdf(bytes)) return { type: 'file', where, filename: undefined, fileData: undefined, fileId: undefined, bytes, pages, detail }
        if (deps.maxVideoBytes !== undefined && sniffVideoContainer(bytes) !== null) {
          return { type: 'video', where, url: undefined, fileId: undefined, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), fps, maxFrames, detail }
        }
        return { type: 'image', where, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), detail }
      })
      const job: ChatJob = {
        requestId: request.id,
        model: fields.get('model'),
        messages: [{ role: 'user', parts: [{ type: 'text', text: prompt }, ...uploads] }],
        sampling,
        stream: false,
        includeUsage: false,
        admission: { class: 'interactive', reservation },
        cache: cacheDirective(request.headers['cache-control']),
      }
      const chat = await deps.chat.prepare(job, signal)
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
  maxVideoBytes: number | undefined,
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
          throw new InvalidRequestError(
            `Unknown form field "${part.fieldname}"; expected image, prompt, max_tokens, temperature, detail${maxPdfBytes === undefined ? '' : ', pages'}${maxVideoBytes === undefined ? '' : ', fps, max_frames'}`,
            {
              param: part.fieldname,
              code: 'unknown_field',
            },
          )
        }
        const value = String(part.value)
        count(Buffer.byteLength(value))
        fields.set(part.fieldname, value)
      }
    }
  } catch (error) {
    throw mapMultipartError(error, {
      fileTooLarge: () =>
        new PayloadTooLargeError(
          maxPdfBytes === undefined && maxVideoBytes === undefined
            ? `Image too large in image[${files.length}]: over the per-image limit of ${formatBytes(images.maxImageBytes)} (--max-image-mb)`
            : `File too large in image[${files.length}]: over the per-file limit of ${formatBytes(Math.max(images.maxImageBytes, maxPdfBytes ?? 0, maxVideoBytes ?? 0))} (--max-image-mb for images, --max-pdf-mb for PDFs, --max-video-mb for videos)`,
          { param: `image[${files.length}]`, code: 'image_too_large' },
        ),
      tooManyFiles: () =>
        new InvalidRequestError(`Too many images: the limit is ${images.maxImagesPerRequest} per request (--max-images)`, { param: 'image', code: 'too_many_images' }),
      tooManyFields: 'Too many form fields',
    })
  }
  return { files, fields }
}
