import { formatDisplayName, sniffImageFormat } from '@visto/protocol'

/** The sniffer the SDK and the page share; only what it recognises reaches ffmpeg's demuxers. */
export { sniffVideoContainer, type VideoContainer } from '@visto/protocol'

/** What to tell a client whose video part holds something else. */
export function notAVideo(bytes: Uint8Array): string {
  const format = sniffImageFormat(bytes)
  if (format === 'gif') return 'GIF is read as an image (its first frame): send it as an image_url part, or convert the animation to MP4 or WebM'
  const named = format === 'unknown' ? (bytes.length < 16 ? `unrecognised data (only ${bytes.length} bytes)` : 'unrecognised data') : formatDisplayName[format]
  const hint =
    format === 'pdf'
      ? ' (send a PDF as a "file" part)'
      : format === 'riff'
        ? ' (AVI is not supported)'
        : ['jpeg', 'png', 'webp', 'tiff', 'avif', 'bmp', 'heic', 'heif'].includes(format)
          ? ' (send images as image_url parts)'
          : ''
  return `unsupported video format: ${named}${hint}; send MP4, MOV or WebM`
}
