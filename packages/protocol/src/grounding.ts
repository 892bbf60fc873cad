/**
 * Qwen3-VL's grounding answers, turned into pixels. Asked to locate things, the model
 * answers JSON such as `[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]` or
 * `{"point_2d": [x, y], "label": "cup"}`, sometimes with more keys ("color", "type"),
 * in a ```json fence or bare, with coordinates relative to the image on a 0–1000 scale
 * whatever its size (Qwen's cookbooks convert with `x / 1000 * width`). parseGrounding
 * finds those objects and maps them onto the image the user sees: upright after EXIF
 * orientation and at its original size (the model saw Visto's resized copy, but relative
 * coordinates do not care). Qwen2.5-VL answered in absolute pixels of its resized input;
 * this is for Qwen3-VL.
 */
import type { ImageSize } from './image-size.js'
import { findJsonObjects } from './lenient-json.js'

/** The scale of Qwen3-VL's coordinates: 0 is the image's left or top edge, 1000 its right or bottom edge. */
export const GROUNDING_SCALE = 1000

/** A box in pixels of the image as displayed: (x1, y1) its top-left corner, (x2, y2) its bottom-right. */
export interface PixelBox {
  x1: number
  y1: number
  x2: number
  y2: number
}

export interface PixelPoint {
  x: number
  y: number
}

interface DetectionCommon {
  /** The object's "label" (else its "text_content", as in text spotting); '' when it has neither. */
  label: string
  /** The object's other keys as the model wrote them ("color", "type", …); absent when there are none. */
  attributes?: Record<string, unknown>
  /** Where the object sits in the answer, as character offsets (`end` exclusive). */
  span: { start: number; end: number }
}

export interface BoxDetection extends DetectionCommon {
  kind: 'box'
  box: PixelBox
}

export interface PointDetection extends DetectionCommon {
  kind: 'point'
  point: PixelPoint
}

export type Detection = BoxDetection | PointDetection

/** What a grounding prompt asks for: boxes (`bbox_2d`) or points (`point_2d`). */
export type GroundingKind = 'box' | 'point'

/**
 * Qwen3-VL's grounding prompt, in the wording of its 2D grounding cookbook ("Locate every
 * instance that belongs to the following categories: … Report bbox coordinates in JSON
 * format."), which the model answers with `bbox_2d` (or `point_2d`) objects on its 0–1000
 * scale. `target` names the categories ("cat, cup"); blank, it asks for every object.
 * The CLI (`visto detect`, `visto batch --detect`) and the web page's Find ask with it.
 */
export function groundingPrompt(target: string, kind: GroundingKind = 'box'): string {
  const what = kind === 'box' ? 'bbox' : 'point'
  const categories = target.trim()
  if (!categories) return `Locate every object in the image. Report ${what} coordinates in JSON format.`
  return `Locate every instance that belongs to the following categories: "${categories}". Report ${what} coordinates in JSON format.`
}

const BOX_KEY = 'bbox_2d'
const POINT_KEY = 'point_2d'
const LABEL_KEYS = ['label', 'text_content'] as const

function isGroundingObject(value: Record<string, unknown>): boolean {
  return Object.hasOwn(value, BOX_KEY) || Object.hasOwn(value, POINT_KEY)
}

/** A coordinate as a number; models sometimes quote them. */
function coordinate(value: unknown): number | undefined {
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN
  return Number.isFinite(number) ? number : undefined
}

/**
 * `[a, b, …]` with `count` coordinates, or a list of them (several under one label). A
 * box written as its two corners, `[[x1, y1], [x2, y2]]`, is read as one box.
 */
function coordinateLists(value: unknown, count: number): number[][] {
  if (!Array.isArray(value)) return []
  if (value.length > 0 && value.every(Array.isArray)) {
    const corners = count === 4 && value.length === 2 && value.every((inner: unknown[]) => inner.length === 2)
    return corners ? coordinateLists(value.flat(), count) : value.flatMap((inner) => coordinateLists(inner, count))
  }
  if (value.length !== count) return []
  const numbers = value.map(coordinate)
  return numbers.every((n) => n !== undefined) ? [numbers as number[]] : []
}

function toPixels(value: number, side: number): number {
  return Math.min(side, Math.max(0, Math.round((value / GROUNDING_SCALE) * side)))
}

function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]))
  return value
}

function labelOf(object: Record<string, unknown>): string {
  for (const key of LABEL_KEYS) {
    const value = object[key]
    if (typeof value === 'string') return value
    if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  }
  return ''
}

function attributesOf(object: Record<string, unknown>): Record<string, unknown> | undefined {
  const entries = Object.entries(object).filter(([key]) => key !== BOX_KEY && key !== POINT_KEY && key !== 'label')
  return entries.length === 0 ? undefined : (plain(Object.fromEntries(entries)) as Record<string, unknown>)
}

function checkSize(size: ImageSize): void {
  const ok = (n: number) => typeof n === 'number' && Number.isFinite(n) && n > 0
  if (!size || !ok(size.width) || !ok(size.height)) {
    throw new TypeError(`parseGrounding needs the image's width and height in pixels, got ${JSON.stringify(size)}`)
  }
}

/**
 * The boxes and points in a Qwen3-VL answer, in pixels of an image of `size` (the size it
 * is displayed at: see displayedImageSize), in the order the answer gives them. Finds
 * them in fences or bare, single objects or lists, nested in other JSON too; forgives
 * small JSON slips and keeps what came before a cut-off; ignores everything else, so any
 * text gives a (possibly empty) list and never an error. Coordinates are clamped to the
 * image and rounded to whole pixels; a box's corners come out ordered (x1 ≤ x2, y1 ≤ y2).
 */
export function parseGrounding(text: string, size: ImageSize): Detection[] {
  checkSize(size)
  if (typeof text !== 'string' || text === '') return []
  const { width, height } = size
  const detections: Detection[] = []
  for (const { value, start, end } of findJsonObjects(text, isGroundingObject)) {
    const label = labelOf(value)
    const attributes = attributesOf(value)
    const rest = { ...(attributes ? { attributes } : {}), span: { start, end } }
    for (const [a, b, c, d] of coordinateLists(value[BOX_KEY], 4)) {
      const [x1, x2] = [toPixels(a!, width), toPixels(c!, width)].sort((p, q) => p - q) as [number, number]
      const [y1, y2] = [toPixels(b!, height), toPixels(d!, height)].sort((p, q) => p - q) as [number, number]
      detections.push({ label, kind: 'box', box: { x1, y1, x2, y2 }, ...rest })
    }
    for (const [x, y] of coordinateLists(value[POINT_KEY], 2)) {
      detections.push({ label, kind: 'point', point: { x: toPixels(x!, width), y: toPixels(y!, height) }, ...rest })
    }
  }
  return detections
}
