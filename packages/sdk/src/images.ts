/**
 * Images → `data:` URLs, and into chat content parts. PDFs (recognised from their bytes)
 * become `file` parts instead: the server renders each page; videos (MP4, MOV, WebM)
 * become `video_url` parts: the server samples their frames.
 */
import { isPdf, sniffImageMime, sniffVideoMime, type ContentPart, type FilePart, type ImageDetail, type ImageUrlPart, type VideoUrlPart } from '@visto/protocol'
import { base64ToBytes, bytesToBase64 } from './base64.js'
import { InvalidImageError } from './errors.js'
import { loadNodeHelpers } from './runtime.js'

/**
 * Anything that can become an image (or a PDF document): raw bytes, a Blob/File, a
 * `data:` URL, an `http(s)://` URL (passed through untouched; Visto itself refuses them)
 * or, in Node only, a file path.
 */
export type ImageInput = Uint8Array | ArrayBuffer | Blob | string

export interface ImageOptions {
  /** Force a MIME type instead of sniffing (for formats the sniffer does not know). */
  mime?: string
  signal?: AbortSignal
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*?);base64,/i

function isRemoteUrl(value: string): boolean {
  return /^https?:\/\//i.test(value)
}

function describeKnown(): string {
  return 'JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF or HEIC'
}

async function toBytes(input: Exclude<ImageInput, string>): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input
  if (input instanceof ArrayBuffer) return new Uint8Array(input)
  return new Uint8Array(await input.arrayBuffer())
}

/** Encodes bytes as a data URL, labelled with the MIME type the bytes actually have. */
export function bytesToDataUrl(bytes: Uint8Array, options: { mime?: string; name?: string } = {}): string {
  const mime = options.mime ?? sniffImageMime(bytes)
  if (!mime) {
    const where = options.name ? ` ${options.name}` : ''
    throw new InvalidImageError(`Not a recognised image${where}: expected ${describeKnown()} (pass { mime } to override)`)
  }
  return `data:${mime};base64,${bytesToBase64(bytes)}`
}

/**
 * Turns an image into a `data:<mime>;base64,…` URL. The MIME type always comes from the
 * bytes: a data URL with a wrong label is relabelled; a path is read (Node only).
 */
export async function imageToDataUrl(input: ImageInput, options: ImageOptions = {}): Promise<string> {
  options.signal?.throwIfAborted()
  if (typeof input !== 'string') return bytesToDataUrl(await toBytes(input), options)
  const dataUrl = DATA_URL.exec(input)
  if (dataUrl) {
    const payload = input.slice(dataUrl[0].length)
    const bytes = base64ToBytes(payload)
    const mime = options.mime ?? sniffImageMime(bytes)
    if (!mime) throw new InvalidImageError(`Not a recognised image in data URL: expected ${describeKnown()}`)
    return `data:${mime};base64,${payload.replace(/\s+/g, '')}`
  }
  if (isRemoteUrl(input)) throw new InvalidImageError('imageToDataUrl takes bytes, a Blob, a data URL or a file path, not an http(s) URL')
  const node = await loadNodeHelpers('Reading an image by path')
  const bytes = await node.readImageFile(input, options.signal)
  return bytesToDataUrl(bytes, { ...options, name: input })
}

export interface DocumentOptions {
  /** Which pages of a PDF, 1-based, e.g. "1-3,7" (a Visto extension; default: all). */
  pages?: string
  /** For videos: frames sampled per second (the server's default: 2). */
  fps?: number
  /** For videos: at most this many frames. */
  maxFrames?: number
}

/** A `video_url` part carrying an MP4, MOV or WebM inline; `fps`, `max_frames` and `detail` are Visto extensions. */
export function videoPart(bytes: Uint8Array, options: DocumentOptions & { detail?: ImageDetail; filename?: string } = {}): VideoUrlPart {
  const mime = sniffVideoMime(bytes)
  if (!mime) throw new InvalidImageError(`Not a recognised video${options.filename ? ` ${options.filename}` : ''}: expected MP4, MOV or WebM`)
  const video: Exclude<VideoUrlPart['video_url'], string> = { url: `data:${mime};base64,${bytesToBase64(bytes)}` }
  if (options.fps !== undefined) video.fps = options.fps
  if (options.maxFrames !== undefined) video.max_frames = options.maxFrames
  if (options.detail !== undefined) video.detail = options.detail
  return { type: 'video_url', video_url: video }
}

/** A `file` part carrying a PDF inline; `detail` and `pages` are Visto extensions. */
export function pdfPart(bytes: Uint8Array, options: DocumentOptions & { detail?: ImageDetail; filename?: string } = {}): FilePart {
  if (!isPdf(bytes)) throw new InvalidImageError(`Not a PDF${options.filename ? ` ${options.filename}` : ''}: the bytes do not start with %PDF-`)
  const file: FilePart['file'] = { filename: options.filename ?? 'document.pdf', file_data: `data:application/pdf;base64,${bytesToBase64(bytes)}` }
  if (options.pages !== undefined) file.pages = options.pages
  if (options.detail !== undefined) file.detail = options.detail
  return { type: 'file', file }
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || 'document.pdf'
}

/**
 * An image becomes an `image_url` part, a PDF a `file` part, a video a `video_url` part
 * (told apart by the bytes, never the name). Remote URLs are passed through as images
 * for servers that fetch them.
 */
export async function contentPart(input: ImageInput, options: ImageOptions & DocumentOptions & { detail?: ImageDetail } = {}): Promise<ImageUrlPart | FilePart | VideoUrlPart> {
  if (typeof input === 'string' && isRemoteUrl(input)) return imagePart(input, options)
  if (typeof input === 'string') {
    const dataUrl = DATA_URL.exec(input)
    if (dataUrl) {
      const bytes = base64ToBytes(input.slice(dataUrl[0].length))
      if (isPdf(bytes)) return pdfPart(bytes, options)
      if (sniffVideoMime(bytes)) return videoPart(bytes, options)
      return imagePart(input, options)
    }
    options.signal?.throwIfAborted()
    const node = await loadNodeHelpers('Reading an image by path')
    const bytes = await node.readImageFile(input, options.signal)
    if (isPdf(bytes)) return pdfPart(bytes, { ...options, filename: baseName(input) })
    if (sniffVideoMime(bytes)) return videoPart(bytes, { ...options, filename: baseName(input) })
    const url = bytesToDataUrl(bytes, { ...(options.mime ? { mime: options.mime } : {}), name: input })
    return { type: 'image_url', image_url: options.detail ? { url, detail: options.detail } : { url } }
  }
  const bytes = await toBytes(input)
  if (isPdf(bytes)) return pdfPart(bytes, options)
  if (sniffVideoMime(bytes)) return videoPart(bytes, options)
  return imagePart(bytes, options)
}

/** An `image_url` content part; remote URLs are passed through for servers that accept them. */
export async function imagePart(input: ImageInput, options: ImageOptions & { detail?: ImageDetail } = {}): Promise<ImageUrlPart> {
  const url = typeof input === 'string' && isRemoteUrl(input) ? input : await imageToDataUrl(input, options)
  return { type: 'image_url', image_url: options.detail ? { url, detail: options.detail } : { url } }
}

/** Text first then images (and PDFs), the order Qwen-VL's own examples use. */
export async function userContent(
  text: string | undefined,
  images: ImageInput | readonly ImageInput[] | undefined,
  options: ImageOptions & DocumentOptions & { detail?: ImageDetail } = {},
): Promise<ContentPart[]> {
  const list = images === undefined ? [] : Array.isArray(images) ? images : [images as ImageInput]
  const parts: ContentPart[] = []
  for (const image of list) parts.push(await contentPart(image, options))
  if (text !== undefined && text !== '') parts.unshift({ type: 'text', text })
  return parts
}
