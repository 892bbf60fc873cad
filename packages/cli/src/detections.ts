/**
 * Grounding for the CLI: Qwen3-VL's prompt for boxes and points, the displayed size of an
 * image file, and detections as `visto detect` prints them and `visto batch --detect`
 * stores them (pixels of the upright, original-size image; no answer offsets).
 */
import { open, readFile } from 'node:fs/promises'
import { displayedImageSize, groundingPrompt, isPdf, parseGrounding, type BoxDetection, type GroundingKind, type ImageSize, type PointDetection } from '@visto/sdk'
import { tryLoadSharp } from './sharp.js'

/** Boxes or points; the prompt asking for them lives in the protocol, shared with the web page. */
export type DetectionKind = GroundingKind
export { groundingPrompt }

/** A list of many boxes is long: about 25 tokens per box. */
export const DETECT_MAX_TOKENS = 2048

/** A detection as the CLI writes it. */
export type DetectionRecord = Omit<BoxDetection, 'span'> | Omit<PointDetection, 'span'>

export function detectionRecords(answer: string, size: ImageSize): DetectionRecord[] {
  return parseGrounding(answer, size).map(({ span: _span, ...rest }) => rest)
}

// Enough for the EXIF block and frame header of ordinary photos.
const HEAD_BYTES = 65_536

async function head(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const buffer = new Uint8Array(HEAD_BYTES)
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/**
 * The size an image file is shown at (EXIF orientation applied), from its header; for
 * formats whose header the protocol does not read (HEIC, AVIF), from sharp when it is
 * installed. Undefined for PDFs and for what neither can read.
 */
export async function imageFileSize(path: string): Promise<ImageSize | undefined> {
  const start = await head(path)
  if (isPdf(start)) return undefined
  const fromHead = displayedImageSize(start)
  if (fromHead) return { width: fromHead.width, height: fromHead.height }
  const bytes = await readFile(path)
  const whole = bytes.length > start.length ? displayedImageSize(bytes) : undefined
  if (whole) return { width: whole.width, height: whole.height }
  const sharp = await tryLoadSharp()
  if (!sharp) return undefined
  try {
    const { autoOrient } = await sharp(bytes).metadata()
    return autoOrient.width > 0 && autoOrient.height > 0 ? { width: autoOrient.width, height: autoOrient.height } : undefined
  } catch {
    return undefined
  }
}

/** imageFileSize for many files, a few at a time; undefined for URLs and unreadable files. */
export async function imageFileSizes(paths: readonly string[], concurrency = 8): Promise<Map<string, ImageSize | undefined>> {
  const sizes = new Map<string, ImageSize | undefined>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const path = paths[next++]!
      sizes.set(path, /^https?:/i.test(path) ? undefined : await imageFileSize(path).catch(() => undefined))
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, worker))
  return sizes
}
