/**
 * How the served model sees an image: a property of the model, reported by the engine
 * (`describe().geometry`), that the image pipeline, PDF page sizing and the cost routes
 * compute from. The vision encoder cuts an image into patches and merges a square of
 * them into one token, so output sides are multiples of one token's side and an image
 * costs (width / side) · (height / side) tokens, plus the markers around it.
 */
export interface VisionGeometry {
  /** The vision encoder's patch side, in pixels (Qwen3-VL: 16; Qwen2-VL and Qwen2.5-VL: 14). */
  patchSize: number
  /** Patches merged into one image token along each side (Qwen-VL: 2). */
  spatialMerge: number
  /** The fewest tokens one image takes; smaller images are enlarged to it (Qwen-VL: 8). */
  minImageTokens: number
  /** Prompt tokens around every image: Qwen-VL's `<|vision_start|>` … `<|vision_end|>` make 2. */
  frameTokens: number
}

/**
 * Qwen3-VL's geometry (its config.json: patch 16, spatial merge 2; llama.cpp's mtmd: at
 * least 8 tokens, two frame markers). What an engine reports when its model says
 * nothing else, and what an engine that cannot read its model (an upstream) assumes.
 */
export const qwen3VlGeometry: Readonly<VisionGeometry> = Object.freeze({ patchSize: 16, spatialMerge: 2, minImageTokens: 8, frameTokens: 2 })

/** The side of the square one image token covers, in pixels: output sides are multiples of it (Qwen3-VL: 32). */
export function tokenSide(geometry: VisionGeometry): number {
  return geometry.patchSize * geometry.spatialMerge
}

/** The smallest image area the model takes, in pixels (Qwen3-VL: 8 tokens of 32×32). */
export function minImagePixels(geometry: VisionGeometry): number {
  return geometry.minImageTokens * tokenSide(geometry) ** 2
}

/** The tokens of an image already resized to multiples of `tokenSide`. */
export function imageTokensOf(width: number, height: number, geometry: VisionGeometry): number {
  const side = tokenSide(geometry)
  return (width / side) * (height / side)
}
