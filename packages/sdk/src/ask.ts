/**
 * `ask(images, question)`: encode the images, build the request and read the answer in
 * one call, returning the answer with usage and timing. Also the engine behind Conversation and batch.
 */
import type { ChatMessage, Detection, FinishReason, ImageDetail, Usage } from '@visto/protocol'
import type { ChatCompletionCreateParams, RequestOptions, VistoClient } from './client.js'
import { detectionsFor, soleImageSize } from './detections.js'
import { userContent, type ImageInput } from './images.js'

/** 1024 tokens is enough for a detailed description; 0.3 keeps answers focused but not rigid. */
export const DEFAULT_MAX_TOKENS = 1024
export const DEFAULT_TEMPERATURE = 0.3

export interface SamplingOptions {
  model?: string
  maxTokens?: number
  temperature?: number
  topP?: number
  topK?: number
  seed?: number
  stop?: string | string[]
  /** Any other request fields, sent as-is (they override the ones above). */
  extra?: Partial<ChatCompletionCreateParams>
}

export interface AskOptions extends SamplingOptions, RequestOptions {
  /** A system message placed before the question. */
  system?: string
  detail?: ImageDetail
  /** For PDFs: which pages, 1-based, e.g. "1-3,7" (a Visto extension; default: all). */
  pages?: string
  /** For videos: frames sampled per second (a Visto extension; the server's default: 2). */
  fps?: number
  /** For videos: at most this many frames (a Visto extension). */
  maxFrames?: number
  /** Streams the answer, calling this with each piece of text as it arrives (no caching). */
  onToken?: (text: string) => void
}

export interface AskResult {
  text: string
  finishReason: FinishReason | null
  /** True when the answer was cut off by max_tokens (raise it). */
  truncated: boolean
  usage: Usage | undefined
  /** Whole call, retries included; near zero for cache hits. */
  latencyMs: number
  model: string
  id: string | undefined
  requestId: string | undefined
  attempts: number
  cached: boolean
  /**
   * Set by ask() when the answer holds Qwen3-VL boxes or points (`bbox_2d`, `point_2d`)
   * and the question was about exactly one image given as bytes, a Blob, a data URL or a
   * path: their pixel coordinates on that image, upright (EXIF orientation applied) at
   * its original size. See parseGrounding.
   */
  detections?: Detection[]
}

export function samplingParams(options: SamplingOptions): Omit<ChatCompletionCreateParams, 'messages'> {
  const params: Omit<ChatCompletionCreateParams, 'messages'> = {
    max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
    temperature: options.temperature ?? DEFAULT_TEMPERATURE,
  }
  if (options.model !== undefined) params.model = options.model
  if (options.topP !== undefined) params.top_p = options.topP
  if (options.topK !== undefined) params.top_k = options.topK
  if (options.seed !== undefined) params.seed = options.seed
  if (options.stop !== undefined) params.stop = options.stop
  return { ...params, ...options.extra }
}

function requestOptions(options: AskOptions): RequestOptions {
  const picked: RequestOptions = {}
  if (options.signal !== undefined) picked.signal = options.signal
  if (options.timeout !== undefined) picked.timeout = options.timeout
  if (options.maxRetries !== undefined) picked.maxRetries = options.maxRetries
  if (options.headers !== undefined) picked.headers = options.headers
  if (options.cache !== undefined) picked.cache = options.cache
  if (options.metrics !== undefined) picked.metrics = options.metrics
  return picked
}

/** Sends a full message list and shapes the answer as an AskResult. */
export async function complete(client: VistoClient, messages: ChatMessage[], options: AskOptions = {}): Promise<AskResult> {
  const body: ChatCompletionCreateParams = { ...samplingParams(options), messages }
  const perRequest = requestOptions(options)
  if (options.onToken) {
    const started = performance.now()
    const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, perRequest)
    let text = ''
    let finishReason: FinishReason | null = null
    let usage: Usage | undefined
    let model = body.model ?? client.model
    let id: string | undefined
    for await (const chunk of stream) {
      id ??= chunk.id
      model = chunk.model || model
      if (chunk.usage) usage = chunk.usage
      const choice = chunk.choices[0]
      if (!choice) continue
      const piece = choice.delta.content ?? ''
      if (piece) {
        text += piece
        options.onToken(piece)
      }
      if (choice.finish_reason) finishReason = choice.finish_reason
    }
    return {
      text,
      finishReason,
      truncated: finishReason === 'length',
      usage,
      latencyMs: performance.now() - started,
      model,
      id,
      requestId: stream.requestId,
      attempts: stream.attempts,
      cached: false,
    }
  }
  const result = await client.chat.completions.createWithMeta(body as ChatCompletionCreateParams & { stream?: false }, perRequest)
  const choice = result.completion.choices[0]
  const finishReason = choice?.finish_reason ?? null
  return {
    text: choice?.message.content ?? '',
    finishReason,
    truncated: finishReason === 'length',
    usage: result.completion.usage,
    latencyMs: result.latencyMs,
    model: result.completion.model,
    id: result.completion.id,
    requestId: result.requestId,
    attempts: result.attempts,
    cached: result.cached,
  }
}

export async function ask(client: VistoClient, images: ImageInput | readonly ImageInput[] | undefined, question: string, options: AskOptions = {}): Promise<AskResult> {
  const imageOptions = {
    ...(options.detail ? { detail: options.detail } : {}),
    ...(options.pages !== undefined ? { pages: options.pages } : {}),
    ...(options.fps !== undefined ? { fps: options.fps } : {}),
    ...(options.maxFrames !== undefined ? { maxFrames: options.maxFrames } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  }
  const content = await userContent(question, images, imageOptions)
  const messages: ChatMessage[] = []
  if (options.system) messages.push({ role: 'system', content: options.system })
  messages.push({ role: 'user', content })
  const result = await complete(client, messages, options)
  const detections = detectionsFor(result.text, soleImageSize(content))
  return detections ? { ...result, detections } : result
}
