/**
 * Qwen's `smart_resize`: pick output sides that are multiples of the vision encoder's
 * patch x merge factor (32 px for Qwen3-VL), keep the aspect ratio as close as that
 * allows, shrink to fit `maxPixels`, and grow only as far as `minPixels` requires.
 * Same arithmetic as `qwen_vl_utils.smart_resize` (round, then floor/ceil by factor).
 */
export interface SmartResizeLimits {
  factor: number
  minPixels: number
  maxPixels: number
}

/** Qwen refuses anything more extreme than this; so do we, with a 400 naming it. */
export const maxAspectRatio = 200

export interface ResizeTarget {
  width: number
  height: number
}

export function aspectRatioOf(width: number, height: number): number {
  return Math.max(width, height) / Math.min(width, height)
}

export function smartResize(width: number, height: number, limits: SmartResizeLimits): ResizeTarget {
  const { factor } = limits
  if (!(width > 0 && height > 0)) throw new RangeError(`smartResize needs positive sides, got ${width}x${height}`)
  // A budget smaller than one aligned tile cannot be honoured; one tile is the floor.
  const maxPixels = Math.max(limits.maxPixels, factor * factor)
  const minPixels = Math.min(limits.minPixels, maxPixels)

  let h = Math.max(factor, roundByFactor(height, factor))
  let w = Math.max(factor, roundByFactor(width, factor))
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels)
    h = Math.max(factor, floorByFactor(height / beta, factor))
    w = Math.max(factor, floorByFactor(width / beta, factor))
    // Clamping a thin side up to one tile can push the area back over; shave the long side.
    while (h * w > maxPixels && (h > factor || w > factor)) {
      if (w >= h) w -= factor
      else h -= factor
    }
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width))
    h = ceilByFactor(height * beta, factor)
    w = ceilByFactor(width * beta, factor)
  }
  return { width: w, height: h }
}

/** Python's round() is banker's rounding; Qwen relies on it, so we match it. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value)
  const diff = value - floor
  if (diff > 0.5) return floor + 1
  if (diff < 0.5) return floor
  return floor % 2 === 0 ? floor : floor + 1
}

function roundByFactor(value: number, factor: number): number {
  return roundHalfEven(value / factor) * factor
}

function floorByFactor(value: number, factor: number): number {
  return Math.floor(value / factor) * factor
}

function ceilByFactor(value: number, factor: number): number {
  return Math.ceil(value / factor) * factor
}
