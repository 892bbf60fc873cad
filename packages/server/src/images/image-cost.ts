import { imageTokensOf, minImagePixels, tokenSide } from '../engines/vision-geometry.js'
import { budgetFor, type ImageDetailLevel, type ImagePipelineOptions } from './pipeline.js'
import { aspectRatioOf, maxAspectRatio, smartResize } from './smart-resize.js'

export interface ImageCost {
  /** What the pipeline will resize the image to. */
  width: number
  height: number
  /** Tokens of the image itself. */
  imageTokens: number
  /** What the image adds to `usage.prompt_tokens`: image tokens plus the model's frame markers (Qwen3-VL: 2). */
  promptTokens: number
}

export type ImageCostRefusal = { reason: 'too_many_pixels' | 'aspect_ratio'; message: string }

/** Why the pipeline would refuse an image of this size, or null if it accepts it. */
export function refusalFor(width: number, height: number, options: ImagePipelineOptions): ImageCostRefusal | null {
  if (width * height > options.maxPixels) {
    return { reason: 'too_many_pixels', message: `${width}x${height} is over the limit of ${options.maxPixels} decoded pixels (--max-image-pixels)` }
  }
  const ratio = aspectRatioOf(width, height)
  if (ratio > maxAspectRatio) {
    return { reason: 'aspect_ratio', message: `${width}x${height} has an aspect ratio of ${Math.round(ratio)}:1; the model accepts at most ${maxAspectRatio}:1` }
  }
  return null
}

/** The same resize the pipeline applies (sides already EXIF-oriented), and what it costs the model served now. */
export function imageCost(width: number, height: number, detail: ImageDetailLevel | undefined, options: ImagePipelineOptions): ImageCost {
  const geometry = options.geometry()
  const target = smartResize(width, height, { factor: tokenSide(geometry), minPixels: minImagePixels(geometry), maxPixels: budgetFor(options, detail) })
  const imageTokens = imageTokensOf(target.width, target.height, geometry)
  return { width: target.width, height: target.height, imageTokens, promptTokens: imageTokens + geometry.frameTokens }
}
