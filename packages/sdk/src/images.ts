/**
 * Images → `data:` URLs, and into chat content parts.
 */
import { sniffImageMime, type ContentPart, type ImageDetail, type ImageUrlPart } from '@visto/protocol'
import { base64ToBytes, bytesToBase64 } from './base64.js'
import { InvalidImageError } from './errors.js'
import { loadNodeHelpers } from './runtime.js'

/**
 * Anything that can become an image: raw bytes, a Blob/File, a `data:` URL, an
 * `http(s)://` URL (passed through untouched; Visto itself refuses them) or, in Node
 * only, a file path.
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

/** An `image_url` content part; remote URLs are passed through for servers that accept them. */
export async function imagePart(input: ImageInput, options: ImageOptions & { detail?: ImageDetail } = {}): Promise<ImageUrlPart> {
  const url = typeof input === 'string' && isRemoteUrl(input) ? input : await imageToDataUrl(input, options)
  return { type: 'image_url', image_url: options.detail ? { url, detail: options.detail } : { url } }
}

/** Text first then images, the order Qwen-VL's own examples use. */
export async function userContent(
  text: string | undefined,
  images: ImageInput | readonly ImageInput[] | undefined,
  options: ImageOptions & { detail?: ImageDetail } = {},
): Promise<ContentPart[]> {
  const list = images === undefined ? [] : Array.isArray(images) ? images : [images as ImageInput]
  const parts: ContentPart[] = []
  for (const image of list) parts.push(await imagePart(image, options))
  if (text !== undefined && text !== '') parts.unshift({ type: 'text', text })
  return parts
}
