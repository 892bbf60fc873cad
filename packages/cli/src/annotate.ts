/**
 * `visto detect --annotate OUT`: the image, turned upright and at its original size, with
 * each box outlined and each point marked in a colour per label, the label written beside
 * it. Drawn as an SVG overlay composited by sharp (loaded only here: see sharp.ts).
 */
import { writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { CliError, ExitCode } from './cli-error.js'
import type { DetectionRecord } from './detections.js'
import { loadSharp } from './sharp.js'

/** Saturated colours that stand out on photos and from each other; labels take them in order of first appearance. */
export const LABEL_COLOURS = ['#00e05a', '#ff2bd6', '#ffd000', '#00c8ff', '#ff6a00', '#8a5cff', '#ffffff', '#ff2020'] as const

const formats = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.webp': 'webp' } as const

export type AnnotatedFormat = (typeof formats)[keyof typeof formats]

/** The output format from OUT's extension; a usage error for any other. */
export function annotatedFormat(path: string): AnnotatedFormat {
  const format = formats[extname(path).toLowerCase() as keyof typeof formats]
  if (!format) throw new CliError(`--annotate writes .jpg, .png or .webp, got "${path}"`, ExitCode.Usage)
  return format
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}

/** One colour per distinct label. */
export function colourFor(detections: readonly DetectionRecord[]): (label: string) => string {
  const labels = [...new Set(detections.map((d) => d.label))]
  return (label) => LABEL_COLOURS[labels.indexOf(label) % LABEL_COLOURS.length]!
}

/** The overlay: an SVG of the image's size, so its coordinates are the detections' pixels. */
export function overlaySvg(detections: readonly DetectionRecord[], width: number, height: number): string {
  const colour = colourFor(detections)
  // Lines and text grow with the image, so they stay visible on a 4000 px photo and fit a 100 px one.
  const stroke = Math.max(3, Math.round(Math.min(width, height) / 200))
  const fontSize = Math.max(10, Math.round(Math.min(width, height) / 40))
  const radius = Math.max(4, stroke * 2)
  const shapes: string[] = []
  for (const detection of detections) {
    const fill = colour(detection.label)
    const [x, y] = detection.kind === 'box' ? [detection.box.x1, detection.box.y1] : [detection.point.x + radius, detection.point.y - radius]
    if (detection.kind === 'box') {
      const { x1, y1, x2, y2 } = detection.box
      shapes.push(`<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" fill="none" stroke="${fill}" stroke-width="${stroke}"/>`)
    } else {
      const { x: cx, y: cy } = detection.point
      shapes.push(`<circle cx="${cx}" cy="${cy}" r="${radius}" fill="${fill}" stroke="#000000" stroke-width="${Math.max(1, stroke / 2)}"/>`)
    }
    if (detection.label === '') continue
    // The label sits on a dark band just above the box (inside it at the top edge of the image).
    const bandHeight = Math.round(fontSize * 1.3)
    const bandWidth = Math.round(fontSize * 0.62 * detection.label.length + fontSize * 0.6)
    const top = y - bandHeight >= 0 ? y - bandHeight : y
    const left = Math.min(Math.max(0, x), Math.max(0, width - bandWidth))
    shapes.push(
      `<rect x="${left}" y="${top}" width="${bandWidth}" height="${bandHeight}" fill="#000000" fill-opacity="0.6"/>`,
      `<text x="${left + Math.round(fontSize * 0.3)}" y="${top + Math.round(fontSize * 1.02)}" font-family="sans-serif" font-size="${fontSize}" fill="${fill}">${escapeXml(detection.label)}</text>`,
    )
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${shapes.join('')}</svg>`
}

/**
 * Writes `image` upright (EXIF orientation applied, the tag dropped) at its original
 * size with the detections drawn, to `outPath` in the format its extension names; the
 * file is the user's alone (0600). Returns the size written.
 */
export async function writeAnnotated(image: Uint8Array, detections: readonly DetectionRecord[], outPath: string): Promise<{ width: number; height: number }> {
  const format = annotatedFormat(outPath)
  const sharp = await loadSharp()
  let size: { width: number; height: number }
  try {
    size = (await sharp(image).metadata()).autoOrient
  } catch (error) {
    throw new CliError(`cannot draw on the image: ${(error as Error).message}`, ExitCode.Failure)
  }
  const { width, height } = size
  const svg = Buffer.from(overlaySvg(detections, width, height))
  // sharp composites after rotating, so the overlay lands on the upright image. Full-resolution
  // chroma keeps thin coloured lines crisp in a JPEG.
  const drawn = sharp(image)
    .rotate()
    .composite([{ input: svg, left: 0, top: 0 }])
  const encoded = await (format === 'jpeg' ? drawn.jpeg({ quality: 90, chromaSubsampling: '4:4:4' }) : format === 'png' ? drawn.png() : drawn.webp({ quality: 90 })).toBuffer()
  await writeFile(outPath, encoded, { mode: 0o600 })
  return { width, height }
}
