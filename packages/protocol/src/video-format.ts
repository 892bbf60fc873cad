import { sniffImageFormat } from './image-format.js'

/**
 * Identifies a video container from its first bytes, as `sniffImageFormat` does images:
 * the server decides what to hand ffmpeg with it, and the SDK and the page label data
 * URLs with it. A declared MIME type or file name is never trusted.
 */
export type VideoContainer = 'mp4' | 'quicktime' | 'matroska'

export type VideoMime = 'video/mp4' | 'video/quicktime' | 'video/webm'

/** Top-level QuickTime atoms an old .mov may start with instead of `ftyp`. */
const quickTimeAtoms = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot'])

export function sniffVideoContainer(input: Uint8Array | ArrayBuffer): VideoContainer | null {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input)
  // EBML, the header every Matroska and WebM file starts with.
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return 'matroska'
  const format = sniffImageFormat(bytes)
  if (format === 'mp4' || format === 'quicktime') return format
  if (format === 'unknown' && bytes.length >= 8 && quickTimeAtoms.has(String.fromCharCode(bytes[4]!, bytes[5]!, bytes[6]!, bytes[7]!))) return 'quicktime'
  return null
}

const mimes: Record<VideoContainer, VideoMime> = { mp4: 'video/mp4', quicktime: 'video/quicktime', matroska: 'video/webm' }

/** The video MIME type the bytes start with, or undefined when they are no video we read. */
export function sniffVideoMime(input: Uint8Array | ArrayBuffer): VideoMime | undefined {
  const container = sniffVideoContainer(input)
  return container === null ? undefined : mimes[container]
}
