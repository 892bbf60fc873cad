import { smartResize, type ResizeTarget } from '../images/smart-resize.js'

/**
 * The size a PDF page is rendered at. A page has no pixels of its own, so instead of
 * shrinking a bitmap to the `detail` budget we scale the page so it fills the budget,
 * then apply the same smart-resize rule as images: sides multiples of the model's token
 * side (`alignTo`, 32 px for Qwen3-VL), aspect ratio kept as closely as that allows.
 * Rendering straight at that size means a page costs (W/32)·(H/32) tokens, like an image
 * of W×H.
 *
 * Small pages (receipts, cards) are not blown up past `maxDpi`: more pixels than the
 * print would have add tokens without adding legibility.
 */
export interface PageSizeRule {
  budget: number
  minPixels: number
  alignTo: number
  maxDpi: number
}

export const pointsPerInch = 72

export function pageRenderSize(widthPt: number, heightPt: number, rule: PageSizeRule): ResizeTarget {
  const fill = Math.sqrt(rule.budget / (widthPt * heightPt))
  const scale = Math.min(fill, rule.maxDpi / pointsPerInch)
  return smartResize(widthPt * scale, heightPt * scale, { factor: rule.alignTo, minPixels: rule.minPixels, maxPixels: rule.budget })
}
