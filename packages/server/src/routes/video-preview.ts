import type { VideoPreview } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, InvalidRequestError } from '../errors.js'
import { maxVideoFramesPerPart } from '../serving/chat-request.js'
import type { ChatJobVideoPart } from '../serving/chat-job.js'
import { isJsonObject } from '../serving/json-value.js'
import type { Videos } from '../video/videos.js'
import { clientDisconnectSignal } from './client-disconnect.js'

export interface VideoPreviewDeps {
  videos: Videos
}

/** Small enough for a row of them on a phone, large enough to tell moments apart. */
const thumbnailBox = { width: 160, height: 160 }
/** How the video is named in error messages: the body is the video. */
const where = 'the video'

/** The chat errors name the part's field as `<where>.video_url.<field>`; here the video is `video_data` at the top of the body. */
function asBodyError(error: unknown): unknown {
  if (!(error instanceof ApiError) || error.param === null || !error.param.startsWith(`${where}.video_url.`)) return error
  return new ApiError(error.status, error.type, error.code, error.message, { param: 'video_data', headers: error.headers, cause: error })
}

function optionalNumber(body: Record<string, unknown>, name: string, test: (n: number) => boolean, expected: string): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || !test(value)) {
    throw new InvalidRequestError(`${name} must be ${expected}, got ${JSON.stringify(value)?.slice(0, 40)}`, { param: name, code: 'invalid_value' })
  }
  return value
}

/**
 * `POST /v1/visto/video-preview`: a video read, probed, limited and planned exactly as
 * a chat `video_url` part is (same frames, sizes, tokens and 400s), plus a thumbnail of
 * each image the model will see, so the web page can show what a clip costs before it
 * is sent.
 */
export function videoPreviewHandler({ videos }: VideoPreviewDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<VideoPreview> => {
    const body = request.body
    if (!isJsonObject(body)) {
      throw new InvalidRequestError('The body must be a JSON object {"video_data": "data:video/mp4;base64,...", "detail", "fps", "max_frames"}', {
        param: null,
        code: 'invalid_type',
      })
    }
    const videoData = body.video_data
    if (typeof videoData !== 'string') {
      throw new InvalidRequestError('video_data is required: the video as "data:video/mp4;base64,..."', { param: 'video_data', code: 'missing_required_parameter' })
    }
    const detail = body.detail ?? 'auto'
    if (detail !== 'low' && detail !== 'auto' && detail !== 'high') {
      throw new InvalidRequestError(`detail must be "low", "auto" or "high", got ${JSON.stringify(detail)?.slice(0, 40)}`, { param: 'detail', code: 'invalid_value' })
    }
    const fps = optionalNumber(body, 'fps', (n) => n > 0 && n <= 60, 'greater than 0 and at most 60 frames a second')
    const maxFrames = optionalNumber(body, 'max_frames', (n) => Number.isInteger(n) && n >= 4 && n <= maxVideoFramesPerPart, `a whole number from 4 to ${maxVideoFramesPerPart}`)
    // Inline only: a preview never fetches a URL.
    if (/^https?:/i.test(videoData.trim())) {
      throw new InvalidRequestError('video_data must be the video inline (data:video/mp4;base64,... or bare base64), not a URL', { param: 'video_data', code: 'invalid_video_url' })
    }
    const part: ChatJobVideoPart = { type: 'video', where, url: videoData, fileId: undefined, fps, maxFrames, detail }
    const signal = clientDisconnectSignal(reply)
    try {
      const video = await videos.inspect(part, signal)
      const cost = await videos.cost(video.probed, part, signal)
      const thumbnails = await videos.thumbnails(video, thumbnailBox, signal)
      const { plan } = cost
      return {
        object: 'video_preview',
        detail,
        duration: video.probed.durationSeconds,
        source_width: video.probed.width,
        source_height: video.probed.height,
        frames: plan.frameTimes.length,
        width: plan.width,
        height: plan.height,
        images: plan.pairs.map((pair, i) => ({
          seconds: pair.seconds,
          timestamp: pair.label,
          prompt_tokens: plan.tokensPerImage + plan.markerTokens / plan.pairs.length + cost.labelTokens[i]!,
          thumbnail: `data:image/jpeg;base64,${thumbnails[i]!.toString('base64')}`,
        })),
        image_tokens: cost.imageTokens,
        prompt_tokens: cost.promptTokens,
        estimated: cost.estimated,
      }
    } catch (error) {
      throw asBodyError(error)
    }
  }
}
