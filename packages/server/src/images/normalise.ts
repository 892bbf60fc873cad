import { availableParallelism } from 'node:os'
import { formatDisplayName, type DecodableFormat } from '@visto/protocol'
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp'
import { BmpDecodeError, readBmpHeader } from './bmp-decoder.js'
import { decodeBmpInWorker } from './bmp-worker.js'
import { decodeHeic } from './heic-decoder.js'
import { formatPixels, imageTooLarge, invalidImage, type ImageLocation } from './image-errors.js'
import { aspectRatioOf, maxAspectRatio, smartResize, type ResizeTarget } from './smart-resize.js'

export type OutputFormat = 'jpeg' | 'png'

export interface NormaliseSettings {
  maxPixels: number
  /** Pixel budget for this image (already picked from `detail`). */
  budget: number
  minPixels: number
  alignTo: number
  outputFormat: OutputFormat
  /** Upper bound on one decode, so a pathological file cannot hold a slot forever. */
  decodeTimeoutSeconds: number
  /** The client went away: stop decoding where the decoder can be stopped (BMP, HEIC workers). */
  signal?: AbortSignal | undefined
}

export interface NormalisedImage {
  data: Buffer
  mime: 'image/png' | 'image/jpeg'
  /** After resizing: multiples of `alignTo`. */
  width: number
  height: number
  /** The original's, after EXIF orientation. */
  sourceWidth: number
  sourceHeight: number
}

let sharpConfigured = false

/**
 * Two images decode at once (the pipeline's semaphore), so each gets half the cores.
 * libvips' operation cache only helps when the same file is processed twice; here it
 * would just hold on to memory.
 */
export function configureSharp(): void {
  if (sharpConfigured) return
  sharpConfigured = true
  sharp.concurrency(Math.max(1, Math.floor(availableParallelism() / 2)))
  sharp.cache(false)
}

const truncationPattern =
  /premature end|truncat|unexpected end|end of (file|stream|data|input)|not enough (data|image data)|short read|out of data|insufficient|read error|unable to read|incomplete/i

/** Turns a libvips error into the reason a user can act on. Only called for errors sharp threw. */
function reasonFromSharp(error: unknown, format: DecodableFormat): { reason: string; code: string } {
  const name = formatDisplayName[format]
  const message = error instanceof Error ? error.message : String(error)
  if (truncationPattern.test(message)) return { reason: `truncated ${name}`, code: 'truncated_image' }
  if (/timeout/i.test(message)) return { reason: `decoding the ${name} took too long`, code: 'invalid_image' }
  if (/no decoding plugin|compression format has not been built in|unsupported codec/i.test(message)) {
    return { reason: `${name} with this compression is not supported`, code: 'unsupported_image_format' }
  }
  if (/unsupported image format/i.test(message)) return { reason: `corrupt ${name} (unreadable header)`, code: 'corrupt_image' }
  // "Input buffer has corrupt header: VipsJpeg: Bogus marker length" -> "Bogus marker length".
  let detail = message.split('\n')[0]!.replace(/^Input buffer has corrupt header:?\s*/i, '')
  let previous: string
  do {
    previous = detail
    detail = detail.replace(/^(Vips\w*|vips\w*|\w+load(_buffer|_source)?|\w+2vips|webp|source|heif)\s*:\s*/i, '')
  } while (detail !== previous)
  detail = detail
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, 120)
  return { reason: detail ? `corrupt ${name} (${detail})` : `corrupt ${name}`, code: 'corrupt_image' }
}

function checkPixels(location: ImageLocation, width: number, height: number, maxPixels: number): void {
  const pixels = width * height
  if (pixels > maxPixels) {
    throw imageTooLarge(
      location,
      `the image is ${width}x${height} (${formatPixels(pixels)}), over the limit of ${formatPixels(maxPixels)} decoded pixels (--max-image-pixels)`,
      'image_too_many_pixels',
    )
  }
  const ratio = aspectRatioOf(width, height)
  if (ratio > maxAspectRatio) {
    throw invalidImage(location, `the image is ${width}x${height}, an aspect ratio of ${Math.round(ratio)}:1; the model accepts at most ${maxAspectRatio}:1`, {
      code: 'image_aspect_ratio',
    })
  }
}

function targetFor(width: number, height: number, settings: NormaliseSettings): ResizeTarget {
  return smartResize(width, height, { factor: settings.alignTo, minPixels: settings.minPixels, maxPixels: settings.budget })
}

/** The one encoding every image and PDF page reaches the engine in. */
export function encode(pipeline: Sharp, settings: Pick<NormaliseSettings, 'outputFormat'>): Sharp {
  const flat = pipeline.flatten({ background: '#ffffff' }).toColourspace('srgb')
  // 4:4:4 keeps small coloured text legible; llama.cpp's stb_image reads baseline JPEG.
  return settings.outputFormat === 'png' ? flat.png({ compressionLevel: 3 }) : flat.jpeg({ quality: 90, chromaSubsampling: '4:4:4', progressive: false, mozjpeg: false })
}

async function runSharp(pipeline: Sharp, location: ImageLocation, format: DecodableFormat) {
  try {
    return await pipeline.toBuffer({ resolveWithObject: true })
  } catch (error) {
    const { reason, code } = reasonFromSharp(error, format)
    throw invalidImage(location, reason, { code, cause: error })
  }
}

function finish(result: { data: Buffer; info: OutputInfo }, settings: NormaliseSettings, source: { width: number; height: number }): NormalisedImage {
  return {
    data: result.data,
    mime: settings.outputFormat === 'png' ? 'image/png' : 'image/jpeg',
    width: result.info.width,
    height: result.info.height,
    sourceWidth: source.width,
    sourceHeight: source.height,
  }
}

async function normaliseBmp(bytes: Buffer, location: ImageLocation, settings: NormaliseSettings): Promise<NormalisedImage> {
  try {
    const header = readBmpHeader(bytes)
    checkPixels(location, header.width, header.height, settings.maxPixels)
    const target = targetFor(header.width, header.height, settings)
    // Average whole blocks while decoding, keeping at least twice the target size for the final Lanczos pass.
    const reduce = Math.max(1, Math.floor(Math.min(header.width / target.width, header.height / target.height) / 2))
    const raster = await decodeBmpInWorker(bytes, reduce, settings.decodeTimeoutSeconds * 1000, settings.signal)
    const pipeline = sharp(raster.data, { raw: { width: raster.width, height: raster.height, channels: raster.channels } })
      .timeout({ seconds: settings.decodeTimeoutSeconds })
      .resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' })
    return finish(await runSharp(encode(pipeline, settings), location, 'bmp'), settings, header)
  } catch (error) {
    if (error instanceof BmpDecodeError) {
      throw invalidImage(location, error.message, {
        code: error.kind === 'truncated' ? 'truncated_image' : error.kind === 'unsupported' ? 'unsupported_image_format' : 'corrupt_image',
      })
    }
    throw error
  }
}

async function normaliseWithSharp(bytes: Buffer, format: DecodableFormat, location: ImageLocation, settings: NormaliseSettings): Promise<NormalisedImage> {
  let metadata: Metadata
  try {
    // Header only: nothing is decoded yet, so a lying header costs nothing.
    metadata = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata()
  } catch (error) {
    const { reason, code } = reasonFromSharp(error, format)
    throw invalidImage(location, reason, { code, cause: error })
  }
  const width = metadata.width
  const height = metadata.pageHeight ?? metadata.height
  if (!(width > 0 && height > 0)) throw invalidImage(location, `corrupt ${formatDisplayName[format]} (no dimensions in the header)`, { code: 'corrupt_image' })
  checkPixels(location, width, height, settings.maxPixels)
  const swapsSides = (metadata.orientation ?? 1) >= 5
  const oriented = swapsSides ? { width: height, height: width } : { width, height }
  const target = targetFor(oriented.width, oriented.height, settings)

  const pipeline = sharp(bytes, {
    // 'truncated' refuses cut-off files but tolerates the minor warnings real phones produce.
    failOn: 'truncated',
    limitInputPixels: settings.maxPixels,
    sequentialRead: true,
    pages: 1,
    page: 0,
  })
    .timeout({ seconds: settings.decodeTimeoutSeconds })
    .autoOrient()
    // Resizing in the same pipeline lets libjpeg shrink-on-load (DCT scaling) a 12 MP photo.
    .resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: true })
  return finish(await runSharp(encode(pipeline, settings), location, format), settings, oriented)
}

async function normaliseHeic(bytes: Buffer, location: ImageLocation, settings: NormaliseSettings): Promise<NormalisedImage> {
  const result = await decodeHeic(bytes, settings.maxPixels, settings.decodeTimeoutSeconds * 1000, settings.signal)
  if (result.kind === 'failed') {
    // libheif cannot tell a cut-off file from a damaged one; say both when the container itself is unreadable.
    const reason = result.reason.trim()
    const containerUnreadable = /too small|meta box|end of data|truncat|not enough/i.test(reason)
    throw invalidImage(location, `${containerUnreadable ? 'truncated or corrupt' : 'corrupt'} HEIC (${reason})`, {
      code: containerUnreadable ? 'truncated_image' : 'corrupt_image',
    })
  }
  checkPixels(location, result.width, result.height, settings.maxPixels)
  if (result.kind !== 'decoded') throw new Error('HEIC decoder refused a size the pixel check accepted')
  // libheif has already applied the container's rotation and mirroring.
  const target = targetFor(result.width, result.height, settings)
  const pipeline = sharp(result.rgba, { raw: { width: result.width, height: result.height, channels: 4 } })
    .timeout({ seconds: settings.decodeTimeoutSeconds })
    .resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' })
  return finish(await runSharp(encode(pipeline, settings), location, 'heic'), settings, result)
}

export async function normaliseImage(bytes: Buffer, format: DecodableFormat, location: ImageLocation, settings: NormaliseSettings): Promise<NormalisedImage> {
  configureSharp()
  if (format === 'bmp') return normaliseBmp(bytes, location, settings)
  if (format === 'heic') return normaliseHeic(bytes, location, settings)
  return normaliseWithSharp(bytes, format, location, settings)
}

/**
 * The EXIF-oriented size an image's header declares, read without decoding a pixel, or
 * undefined where only decoding tells (HEIC, or a header this cannot read: decoding then
 * reports why). What a request's images cost is known from this before any is decoded.
 */
export async function readHeaderSize(bytes: Buffer, format: DecodableFormat): Promise<{ width: number; height: number } | undefined> {
  try {
    if (format === 'heic') return undefined
    if (format === 'bmp') {
      const header = readBmpHeader(bytes)
      return { width: header.width, height: header.height }
    }
    configureSharp()
    const metadata = await sharp(bytes, { limitInputPixels: false, failOn: 'none' }).metadata()
    const width = metadata.width
    const height = metadata.pageHeight ?? metadata.height
    if (!(width > 0 && height > 0)) return undefined
    return (metadata.orientation ?? 1) >= 5 ? { width: height, height: width } : { width, height }
  } catch {
    return undefined
  }
}
