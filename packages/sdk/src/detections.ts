/**
 * Boxes and points in an answer, in pixels of the image the caller asked about. Only a
 * question about exactly one image whose bytes travel in the request qualifies: with
 * several images (or a PDF's pages) an answer's coordinates could belong to any of them,
 * and a remote URL's size is unknown here.
 */
import { displayedImageSize, parseGrounding, type ContentPart, type Detection, type ImageSize } from '@visto/protocol'
import { base64ToBytes } from './base64.js'

const DATA_URL = /^data:[^,]*;base64,/i

// Enough base64 for 48 KiB of header: JPEG's EXIF (at most 64 KiB) usually ends well before.
const HEAD_CHARS = 65_536

/** The displayed size of the one image in a request's content; undefined when there is not exactly one inline image. */
export function soleImageSize(content: readonly ContentPart[]): ImageSize | undefined {
  const visual = content.filter((part) => part.type !== 'text')
  const part = visual[0]
  if (visual.length !== 1 || part?.type !== 'image_url') return undefined
  const url = typeof part.image_url === 'string' ? part.image_url : part.image_url.url
  const prefix = DATA_URL.exec(url)
  if (!prefix) return undefined
  const payload = url.slice(prefix[0].length)
  // The header is all that is needed; the whole image only when a big metadata block pushes it further.
  const head = displayedImageSize(base64ToBytes(payload.slice(0, HEAD_CHARS)))
  const size = head ?? (payload.length > HEAD_CHARS ? displayedImageSize(base64ToBytes(payload)) : undefined)
  return size ? { width: size.width, height: size.height } : undefined
}

/** The detections in `text` for an image of `size`; undefined when there is no size or nothing was found. */
export function detectionsFor(text: string, size: ImageSize | undefined): Detection[] | undefined {
  if (!size) return undefined
  const found = parseGrounding(text, size)
  return found.length > 0 ? found : undefined
}
