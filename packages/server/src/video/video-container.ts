import { formatDisplayName, sniffImageFormat } from '@visto/protocol'

/** Containers we hand to ffmpeg: ISO BMFF (MP4, MOV) and Matroska (WebM, MKV). */
export type VideoContainer = 'mp4' | 'quicktime' | 'matroska'

/** Top-level QuickTime atoms an old .mov may start with instead of `ftyp`. */
const quickTimeAtoms = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot'])

/**
 * The container the bytes start with, or null. Decided from the bytes (a declared MIME
 * type is never trusted), before ffmpeg sees them: only these reach its demuxers.
 */
export function sniffVideoContainer(bytes: Uint8Array): VideoContainer | null {
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return 'matroska'
  const format = sniffImageFormat(bytes)
  if (format === 'mp4' || format === 'quicktime') return format
  if (format === 'unknown' && bytes.length >= 8 && quickTimeAtoms.has(String.fromCharCode(...bytes.subarray(4, 8)))) return 'quicktime'
  return null
}

/** What to tell a client whose video part holds something else. */
export function notAVideo(bytes: Uint8Array): string {
  const format = sniffImageFormat(bytes)
  if (format === 'gif') return 'GIF is read as an image (its first frame): send it as an image_url part, or convert the animation to MP4 or WebM'
  const named = format === 'unknown' ? (bytes.length < 16 ? `unrecognised data (only ${bytes.length} bytes)` : 'unrecognised data') : formatDisplayName[format]
  const hint = format === 'pdf' ? ' (send a PDF as a "file" part)' : format === 'riff' ? ' (AVI is not supported)' : ['jpeg', 'png', 'webp', 'tiff', 'avif', 'bmp', 'heic', 'heif'].includes(format) ? ' (send images as image_url parts)' : ''
  return `unsupported video format: ${named}${hint}; send MP4, MOV or WebM`
}
