import type { ImageCost, ImageCostList, VideoCost } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { InvalidRequestError } from '../errors.js'
import { imageCost, refusalFor } from '../images/image-cost.js'
import type { ImageDetailLevel, ImagePipelineOptions } from '../images/pipeline.js'
import { aspectRatioOf, maxAspectRatio } from '../images/smart-resize.js'
import { maxVideoFramesPerPart } from '../serving/chat-request.js'
import type { Videos } from '../video/videos.js'
import { clientDisconnectSignal } from './client-disconnect.js'

export interface ImageCostDeps {
  images: ImagePipelineOptions
  videos: Videos
}

/** More than any request may carry, few enough that a single call stays trivially cheap. */
const maxImagesPerCall = 64
const details = new Set<string>(['low', 'auto', 'high'])

function positiveSide(value: unknown, param: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new InvalidRequestError(`${param} must be a whole number of pixels from 1 to 1000000, got ${JSON.stringify(value)?.slice(0, 40)}`, {
      param,
      code: 'invalid_value',
    })
  }
  return value
}

/**
 * `POST /v1/visto/image-cost`: what images of the given sizes become after the server's
 * resize and what they add to the prompt, so a client can show the cost before sending
 * megabytes of image. Sizes are the EXIF-oriented ones a browser reports.
 */
export function imageCostHandler({ images, videos }: ImageCostDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<ImageCostList> => {
    const body = request.body as { images?: unknown; videos?: unknown } | null
    const videoList = body !== null && typeof body === 'object' ? body.videos : undefined
    const list = body !== null && typeof body === 'object' ? (body.images ?? (videoList === undefined ? undefined : [])) : undefined
    if (videoList !== undefined && (!Array.isArray(videoList) || videoList.length === 0 || videoList.length > maxVideosPerCall)) {
      throw new InvalidRequestError(`videos must be an array of 1 to ${maxVideosPerCall} {"duration", "width", "height", "detail", "fps", "max_frames"} objects`, {
        param: 'videos',
        code: 'invalid_value',
      })
    }
    if (!Array.isArray(list) || (list.length === 0 && videoList === undefined) || list.length > maxImagesPerCall) {
      throw new InvalidRequestError(`images must be an array of 1 to ${maxImagesPerCall} {"width", "height", "detail"} objects`, {
        param: 'images',
        code: 'invalid_value',
      })
    }
    const data = list.map((item: unknown, index): ImageCost => {
      const where = `images[${index}]`
      if (item === null || typeof item !== 'object') throw new InvalidRequestError(`${where} must be an object`, { param: where, code: 'invalid_type' })
      const { width, height, detail: requested = 'auto' } = item as { width?: unknown; height?: unknown; detail?: unknown }
      if (typeof requested !== 'string' || !details.has(requested)) {
        throw new InvalidRequestError(`${where}.detail must be "low", "auto" or "high", got ${JSON.stringify(requested)?.slice(0, 40)}`, {
          param: `${where}.detail`,
          code: 'invalid_value',
        })
      }
      const detail = requested as ImageDetailLevel
      const w = positiveSide(width, `${where}.width`)
      const h = positiveSide(height, `${where}.height`)
      const refusal = refusalFor(w, h, images)
      if (refusal) return { object: 'image_cost', detail, source_width: w, source_height: h, error: refusal.message }
      const cost = imageCost(w, h, detail, images)
      return {
        object: 'image_cost',
        detail,
        source_width: w,
        source_height: h,
        width: cost.width,
        height: cost.height,
        image_tokens: cost.imageTokens,
        prompt_tokens: cost.promptTokens,
      }
    })
    if (videoList === undefined) return { object: 'list', data }
    const signal = clientDisconnectSignal(reply)
    const costs: VideoCost[] = []
    for (const [index, item] of (videoList as unknown[]).entries()) costs.push(await videoCost(item, `videos[${index}]`, videos, signal))
    return { object: 'list', data, videos: costs }
  }
}

const maxVideosPerCall = 16

function videoNumber(value: unknown, param: string, test: (n: number) => boolean, expected: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !test(value)) {
    throw new InvalidRequestError(`${param} must be ${expected}, got ${JSON.stringify(value)?.slice(0, 40)}`, { param, code: 'invalid_value' })
  }
  return value
}

/** What a `video_url` part of this duration and displayed size costs: the same plan a chat request makes. */
async function videoCost(item: unknown, where: string, videos: Videos, signal: AbortSignal): Promise<VideoCost> {
  if (item === null || typeof item !== 'object') throw new InvalidRequestError(`${where} must be an object`, { param: where, code: 'invalid_type' })
  const spec = item as Record<string, unknown>
  const requested = spec.detail ?? 'auto'
  if (typeof requested !== 'string' || !details.has(requested)) {
    throw new InvalidRequestError(`${where}.detail must be "low", "auto" or "high", got ${JSON.stringify(requested)?.slice(0, 40)}`, {
      param: `${where}.detail`,
      code: 'invalid_value',
    })
  }
  const detail = requested as ImageDetailLevel
  const duration = videoNumber(spec.duration, `${where}.duration`, (n) => n > 0 && n <= 86_400, 'a number of seconds above 0 and at most 86400')
  const width = positiveSide(spec.width, `${where}.width`)
  const height = positiveSide(spec.height, `${where}.height`)
  const fps = spec.fps === undefined ? undefined : videoNumber(spec.fps, `${where}.fps`, (n) => n > 0 && n <= 60, 'greater than 0 and at most 60 frames a second')
  const maxFrames =
    spec.max_frames === undefined
      ? undefined
      : videoNumber(spec.max_frames, `${where}.max_frames`, (n) => Number.isInteger(n) && n >= 4 && n <= maxVideoFramesPerPart, `a whole number from 4 to ${maxVideoFramesPerPart}`)
  const base = { object: 'video_cost' as const, detail, duration, source_width: width, source_height: height }
  const { maxSeconds, maxFramePixels } = videos.options
  if (duration > maxSeconds) return { ...base, error: `a video of ${duration} s is over the limit of ${maxSeconds} s (--max-video-seconds)` }
  if (width * height > maxFramePixels) return { ...base, error: `${width}x${height} frames are over the limit of ${maxFramePixels} pixels a frame` }
  const ratio = aspectRatioOf(width, height)
  if (ratio > maxAspectRatio) return { ...base, error: `${width}x${height} has an aspect ratio of ${Math.round(ratio)}:1; the model accepts at most ${maxAspectRatio}:1` }
  const cost = await videos.cost({ durationSeconds: duration, width, height }, { fps, maxFrames, detail }, signal)
  return {
    ...base,
    frames: cost.plan.frameTimes.length,
    width: cost.plan.width,
    height: cost.plan.height,
    images: cost.plan.pairs.length,
    timestamps: cost.plan.pairs.map((pair) => pair.label),
    image_tokens: cost.imageTokens,
    prompt_tokens: cost.promptTokens,
    estimated: cost.estimated,
  }
}
