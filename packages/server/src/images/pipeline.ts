import { formatBytes, formatDisplayName, isDecodable, sniffImageFormat, type DecodableFormat } from '@visto/protocol'
import { defaultServeConfig, MiB, type ServeConfig } from '../config.js'
import { imageTokensOf, minImagePixels, qwen3VlGeometry, tokenSide, type VisionGeometry } from '../engines/vision-geometry.js'
import { chatImageLocation, invalidImage, uploadImageLocation, type ImageLocation } from './image-errors.js'
import { parseImageSource, tooManyBytes } from './image-source.js'
import { heicDecoderPath } from './heic-decoder.js'
import { imageCost, refusalFor } from './image-cost.js'
import { normaliseImage, readHeaderSize, type NormalisedImage, type OutputFormat } from './normalise.js'
import { fetchRemoteImage, type RemoteFetchOptions } from './remote-fetch.js'
import { Semaphore } from './semaphore.js'

export type ImageDetailLevel = 'low' | 'high' | 'auto'

export interface ImagePipelineOptions {
  /** Decoded (not base64) bytes per image. */
  maxImageBytes: number
  /** The caller checks the count; exported here so every layer shares one default. */
  maxImagesPerRequest: number
  /** Decompression-bomb guard: width x height read from the header before any decoding. */
  maxPixels: number
  /** Output pixel budget per `image_url.detail`. */
  pixelBudget: { low: number; auto: number; high: number }
  /**
   * The served model's geometry, asked for each image (the engine learns it when it loads
   * the model): output sides are multiples of its token side, its fewest tokens the floor.
   */
  geometry: () => VisionGeometry
  allowRemote: boolean
  remote: RemoteFetchOptions
  /** What we hand the engine. JPEG q90 4:4:4 is small and keeps text legible; PNG is lossless. */
  outputFormat: OutputFormat
  /** Upper bound on one decode. */
  decodeTimeoutSeconds: number
  /**
   * Decoding is CPU- and memory-heavy: this many at a time (--decode-concurrency), whatever
   * the request rate, shared with PDF rendering. Waiting requests queue here instead of
   * multiplying peak memory; the queue is bounded because every decode belongs to a
   * request holding an admission place (at most --max-images each), and a request whose
   * client went away leaves it.
   */
  decodeSlots: Semaphore
}

/**
 * The pipeline's options for a server config, the model it serves and the decode slots
 * the server shares out: the one place config values become image limits.
 */
export function imagePipelineOptions(config: ServeConfig, shared: { geometry: () => VisionGeometry; decodeSlots: Semaphore }): ImagePipelineOptions {
  return Object.freeze({
    maxImageBytes: Math.round(config['max-image-mb'] * MiB),
    maxImagesPerRequest: config['max-images'],
    maxPixels: config['max-image-pixels'],
    pixelBudget: Object.freeze({ low: config['image-pixels-low'], auto: config['image-pixels'], high: config['image-pixels-high'] }),
    geometry: shared.geometry,
    allowRemote: config['allow-remote-images'],
    remote: Object.freeze({ timeoutMs: 10_000, maxBytes: 20 * MiB, maxRedirects: 3 }),
    outputFormat: 'jpeg',
    decodeTimeoutSeconds: 30,
    decodeSlots: shared.decodeSlots,
  })
}

/**
 * The options `visto serve` runs with when nothing is set, for a Qwen3-VL model, with
 * decode slots of their own (a composed server makes its own and shares them).
 */
export const defaultImagePipelineOptions: ImagePipelineOptions = imagePipelineOptions(defaultServeConfig, {
  geometry: () => qwen3VlGeometry,
  decodeSlots: new Semaphore(defaultServeConfig['decode-concurrency']),
})

/** Re-encoded by us (the engine never sees the client's bytes), sides multiples of the model's token side. */
export interface PreparedImage extends NormalisedImage {
  /** Sniffed from the bytes. */
  sourceFormat: DecodableFormat
  /** (width / token side) x (height / token side): what the image costs in the context window. */
  imageTokens: number
}

/**
 * Prepares the image of one chat part. `url` is the raw `image_url.url` (data URL, bare
 * base64, or http(s) URL); `where` names the part, e.g. "messages[0].content[1]".
 */
export async function prepareImage(url: string, where: string, options: ImagePipelineOptions, detail?: ImageDetailLevel, signal?: AbortSignal): Promise<PreparedImage> {
  const location = chatImageLocation(where)
  const bytes = await readImageSource(url, location, options, signal)
  return prepareFromBytes(bytes, location, options, detail, signal)
}

/** The bytes an `image_url.url` names: decoded base64, or fetched when remote images are allowed. */
async function readImageSource(url: string, location: ImageLocation, options: ImagePipelineOptions, signal: AbortSignal | undefined): Promise<Buffer> {
  if (typeof url !== 'string') throw invalidImage(location, 'image_url.url must be a string', { code: 'invalid_image_url' })
  const source = parseImageSource(url, location, options.maxImageBytes)
  let bytes: Buffer
  if (source.kind === 'remote') {
    if (!options.allowRemote) {
      throw invalidImage(
        location,
        'remote image URLs are disabled on this server; send the image inline as a data:image/...;base64,... URL, ' +
          'or start the server with --allow-remote-images (VISTO_ALLOW_REMOTE_IMAGES=1)',
        { code: 'remote_images_disabled' },
      )
    }
    const maxBytes = Math.min(options.remote.maxBytes, options.maxImageBytes)
    bytes = await fetchRemoteImage(source.url, location, { ...options.remote, maxBytes }, signal)
  } else {
    bytes = source.bytes
  }
  return bytes
}

/** Same, from raw bytes (multipart uploads); `where` is the form field, e.g. "image[0]". */
export async function prepareImageBytes(bytes: Buffer, where: string, options: ImagePipelineOptions, detail?: ImageDetailLevel, signal?: AbortSignal): Promise<PreparedImage> {
  return prepareFromBytes(bytes, uploadImageLocation(where), options, detail, signal)
}

/**
 * An image read as far as its header: what it will cost in the prompt, known before any
 * pixel is decoded, and the decode still to do. A request whose images cannot fit the
 * context is refused here, instead of after seconds of decoding (eight 100 MP photos: 17 s).
 */
export interface MeasuredImage {
  /** Tokens it adds to the prompt (frame markers included); 0 where the header does not tell. */
  promptTokens: number
  decode(signal?: AbortSignal): Promise<PreparedImage>
}

/** `prepareImage` in two steps: the source read and the header measured, then the decode on demand. */
export async function measureImage(url: string, where: string, options: ImagePipelineOptions, detail?: ImageDetailLevel, signal?: AbortSignal): Promise<MeasuredImage> {
  const location = chatImageLocation(where)
  const bytes = await readImageSource(url, location, options, signal)
  return measureFromBytes(bytes, location, options, detail)
}

/** `prepareImageBytes` in two steps (see measureImage). */
export async function measureImageBytes(bytes: Buffer, where: string, options: ImagePipelineOptions, detail?: ImageDetailLevel): Promise<MeasuredImage> {
  return measureFromBytes(bytes, uploadImageLocation(where), options, detail)
}

async function measureFromBytes(bytes: Buffer, location: ImageLocation, options: ImagePipelineOptions, detail: ImageDetailLevel | undefined): Promise<MeasuredImage> {
  const format = checkSource(bytes, location, options)
  const size = await readHeaderSize(bytes, format)
  // A size the pipeline refuses is left to the decode step, which says why.
  const promptTokens = size && !refusalFor(size.width, size.height, options) ? imageCost(size.width, size.height, detail, options).promptTokens : 0
  return { promptTokens, decode: (signal) => decodeChecked(bytes, format, location, options, detail, signal) }
}

/** The output pixel budget that `image_url.detail` selects. */
export function budgetFor(options: ImagePipelineOptions, detail: ImageDetailLevel | undefined): number {
  if (detail === 'low') return options.pixelBudget.low
  if (detail === 'high') return options.pixelBudget.high
  return options.pixelBudget.auto
}

async function prepareFromBytes(
  bytes: Buffer,
  location: ImageLocation,
  options: ImagePipelineOptions,
  detail: ImageDetailLevel | undefined,
  signal: AbortSignal | undefined,
): Promise<PreparedImage> {
  return decodeChecked(bytes, checkSource(bytes, location, options), location, options, detail, signal)
}

/** The checks on the bytes themselves (size, format) before anything reads them as an image; returns the format. */
function checkSource(bytes: Buffer, location: ImageLocation, options: ImagePipelineOptions): DecodableFormat {
  if (bytes.length === 0) throw invalidImage(location, 'the image is empty (zero bytes)', { code: 'empty_image' })
  if (bytes.length > options.maxImageBytes) throw tooManyBytes(location, bytes.length, options.maxImageBytes)
  const format = sniffImageFormat(bytes)
  if (format === 'heic' && heicDecoderPath() === null) {
    throw invalidImage(location, 'HEIC is not supported by this server (no HEVC decoder is available); convert the photo to JPEG or PNG first', {
      code: 'unsupported_image_format',
    })
  }
  if (!isDecodable(format)) {
    const tooShort = format === 'unknown' && bytes.length < 16 ? ` (only ${formatBytes(bytes.length)})` : ''
    throw invalidImage(
      location,
      `unsupported image format: ${formatDisplayName[format]}${tooShort}; send JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC or BMP` +
        (format === 'pdf' ? ' (send a PDF as a "file" part: {"type": "file", "file": {"file_data": "data:application/pdf;base64,..."}})' : ''),
      { code: 'unsupported_image_format' },
    )
  }
  return format
}

async function decodeChecked(
  bytes: Buffer,
  format: DecodableFormat,
  location: ImageLocation,
  options: ImagePipelineOptions,
  detail: ImageDetailLevel | undefined,
  signal: AbortSignal | undefined,
): Promise<PreparedImage> {
  const geometry = options.geometry()
  const normalised = await options.decodeSlots.run(
    () =>
      normaliseImage(bytes, format, location, {
        maxPixels: options.maxPixels,
        budget: budgetFor(options, detail),
        minPixels: minImagePixels(geometry),
        alignTo: tokenSide(geometry),
        outputFormat: options.outputFormat,
        decodeTimeoutSeconds: options.decodeTimeoutSeconds,
        signal,
      }),
    signal,
  )
  return {
    ...normalised,
    sourceFormat: format,
    imageTokens: imageTokensOf(normalised.width, normalised.height, geometry),
  }
}
