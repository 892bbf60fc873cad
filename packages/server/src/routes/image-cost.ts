import type { ImageCost, ImageCostList } from '@visto/protocol'
import type { FastifyRequest } from 'fastify'
import { InvalidRequestError } from '../errors.js'
import { imageCost, refusalFor } from '../images/image-cost.js'
import type { ImageDetailLevel, ImagePipelineOptions } from '../images/pipeline.js'

export interface ImageCostDeps {
  images: ImagePipelineOptions
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
export function imageCostHandler({ images }: ImageCostDeps) {
  return async (request: FastifyRequest): Promise<ImageCostList> => {
    const body = request.body as { images?: unknown } | null
    const list = body !== null && typeof body === 'object' ? body.images : undefined
    if (!Array.isArray(list) || list.length === 0 || list.length > maxImagesPerCall) {
      throw new InvalidRequestError(`images must be an array of 1 to ${maxImagesPerCall} {"width", "height", "detail"} objects`, {
        param: 'images',
        code: 'invalid_value',
      })
    }
    return {
      object: 'list',
      data: list.map((item: unknown, index): ImageCost => {
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
      }),
    }
  }
}
