import type { ImageDetail } from '@visto/protocol'
import { imageTokensOf, minImagePixels, tokenSide, type VisionGeometry } from '../engines/vision-geometry.js'
import { smartResize } from '../images/smart-resize.js'

/**
 * Which frames of a video the model sees, at what size, and what they cost: the same
 * rules as Qwen3-VL's own video processor, adapted to an engine that takes images.
 *
 * Qwen samples `fps` frames per second (2 by default), at least 4 and at most 768, and
 * shrinks them to share one pixel budget. Its vision encoder then folds each pair of
 * consecutive frames into one block of tokens (temporal patch 2) and the prompt writes
 * `<{t:.1f} seconds>` before each block, t being the mean time of the pair.
 *
 * llama.cpp's image path has no temporal patch: it feeds one image into both temporal
 * slots of the patch embedding. Sending both frames of a pair as two images would cost
 * twice the tokens and give the model two blocks per timestamp, a layout it never saw.
 * So each pair becomes one image, the average of its two frames, stamped with the pair's
 * mean time: one block per timestamp, as Qwen's processor emits, at the same token
 * cost. The patch embedding is linear, so the averaged frame gives exactly what the
 * encoder computes for a still pair and stays close for moving ones.
 */

export interface VideoSource {
  /** Seconds, from the container (or the video stream) header. */
  durationSeconds: number
  /** As displayed: rotation and pixel aspect ratio already applied. */
  width: number
  height: number
}

export interface FrameRequest {
  /** Frames sampled per second; undefined: `rules.defaultFps`. */
  fps: number | undefined
  /** At most this many frames; undefined: `rules.maxFrames`. */
  maxFrames: number | undefined
  detail: ImageDetail
}

export interface FrameRules {
  /** Qwen's processor: 2. */
  defaultFps: number
  /** Qwen's processor: 4 (two pairs). */
  minFrames: number
  /** Qwen's processor: 768; a part's `max_frames` may only lower it. */
  maxFrames: number
  /** The largest frame, in pixels, for each `detail`: a short clip is sent this sharp, no sharper. */
  framePixels: Readonly<Record<ImageDetail, number>>
  /** Frames are not shrunk below this many pixels: a long clip gets fewer frames instead. */
  minFramePixels: number
  /** Image tokens all frames of one video may take together (--max-video-tokens). */
  budgetTokens: number
}

export interface FramePair {
  /** Indices into `frameTimes` of the frames averaged into this image (equal for a last, unpaired frame). */
  first: number
  second: number
  /** The mean time of the pair, in seconds. */
  seconds: number
  /** Qwen3-VL's timestamp text, written before the pair's image: `<0.2 seconds>`. */
  label: string
}

export interface FramePlan {
  /** When each sampled frame is taken, in seconds from the start, evenly spaced. */
  frameTimes: number[]
  /** The sampling rate that spaces them: frameTimes[i] = i / sampleRate. */
  sampleRate: number
  /** The size every frame is scaled to: multiples of the model's token side. */
  width: number
  height: number
  /** One image per pair of frames. */
  pairs: FramePair[]
  /** Tokens of one pair's image. */
  tokensPerImage: number
  /** All images together. */
  imageTokens: number
  /** The begin/end markers around every image (Qwen3-VL: 2 each). */
  markerTokens: number
}

/** Why no plan fits the rules: the caller words the error. */
export class FramePlanError extends Error {
  override name = 'FramePlanError'
}

/** Frames the clip gets at `fps`, within the rules' bounds and the part's own `max_frames`. */
export function sampledFrameCount(durationSeconds: number, request: FrameRequest, rules: FrameRules): number {
  const fps = request.fps ?? rules.defaultFps
  const ceiling = Math.min(rules.maxFrames, request.maxFrames ?? rules.maxFrames)
  const wanted = Math.floor(durationSeconds * fps + 1e-9)
  return Math.max(rules.minFrames, Math.min(wanted, ceiling))
}

/**
 * Plans the frames of one video. A long clip that cannot give every pair at least
 * `minFramePixels` within the token budget gets fewer, more widely spaced frames (never
 * fewer than `minFrames`); a short one gets frames up to the `detail` size.
 */
export function planFrames(source: VideoSource, request: FrameRequest, rules: FrameRules, geometry: VisionGeometry): FramePlan {
  const { durationSeconds, width, height } = source
  if (!(durationSeconds > 0 && Number.isFinite(durationSeconds))) throw new FramePlanError(`a video needs a positive duration, got ${durationSeconds}`)
  if (!(width > 0 && height > 0)) throw new FramePlanError(`a video needs a positive size, got ${width}x${height}`)
  const side = tokenSide(geometry)
  const cap = rules.framePixels[request.detail]
  const floorTokens = Math.max(geometry.minImageTokens, Math.floor(Math.min(rules.minFramePixels, cap) / side ** 2))
  let frames = sampledFrameCount(durationSeconds, request, rules)
  // Pairs the budget can afford at the smallest frame size; never fewer than the minimum.
  const affordable = Math.max(Math.ceil(rules.minFrames / 2), Math.floor(rules.budgetTokens / floorTokens))
  if (Math.ceil(frames / 2) > affordable) frames = Math.max(rules.minFrames, affordable * 2)
  const pairCount = Math.ceil(frames / 2)
  const perImage = Math.max(geometry.minImageTokens, Math.floor(rules.budgetTokens / pairCount))
  const target = smartResize(width, height, { factor: side, minPixels: minImagePixels(geometry), maxPixels: Math.min(cap, perImage * side ** 2) })
  const sampleRate = frames / durationSeconds
  const frameTimes = Array.from({ length: frames }, (_, i) => i / sampleRate)
  const pairs = Array.from({ length: pairCount }, (_, k): FramePair => {
    const first = 2 * k
    const second = Math.min(first + 1, frames - 1)
    const seconds = (frameTimes[first]! + frameTimes[second]!) / 2
    return { first, second, seconds, label: timestampLabel(seconds) }
  })
  const tokensPerImage = imageTokensOf(target.width, target.height, geometry)
  return {
    frameTimes,
    sampleRate,
    width: target.width,
    height: target.height,
    pairs,
    tokensPerImage,
    imageTokens: tokensPerImage * pairCount,
    markerTokens: geometry.frameTokens * pairCount,
  }
}

/**
 * `<{t:.1f} seconds>` as Python formats it. Python rounds the exact binary value, half
 * to even; JavaScript's toFixed rounds ties up. Ties only happen for times that are
 * exact in binary (0.25, 1.75 …), which even spacing makes common.
 */
export function timestampLabel(seconds: number): string {
  return `<${pythonFixed1(seconds)} seconds>`
}

function pythonFixed1(value: number): string {
  const tenths = value * 10
  // An exact tie: value*4 is whole, value*2 is not, so the tenths end in exactly .5.
  if (Number.isInteger(value * 4) && !Number.isInteger(value * 2)) {
    const floor = Math.floor(tenths)
    const even = floor % 2 === 0 ? floor : floor + 1
    return (even / 10).toFixed(1)
  }
  return value.toFixed(1)
}
