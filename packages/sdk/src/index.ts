/**
 * @visto/sdk — browser-safe entry. Node-only parts (reading paths, the disk cache) load
 * lazily when used from Node, or come from `@visto/sdk/node`.
 */
export {
  createClient,
  VistoClient,
  DEFAULT_BASE_URL,
  DEFAULT_MODEL,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_MAX_RETRIES,
  type ClientOptions,
  type RequestOptions,
  type ChatCompletionCreateParams,
  type CompletionMeta,
  type CompletionWithMeta,
  type FetchLike,
  type RetryInfo,
} from './client.js'
export { ask, complete, samplingParams, DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, type AskOptions, type AskResult, type SamplingOptions } from './ask.js'
export { Conversation, type ConversationOptions, type SendOptions } from './conversation.js'
export { batch, type BatchItem, type BatchOptions, type BatchProgress, type BatchResult } from './batch.js'
export { mapSettled, type Settled } from './pool.js'
export { MemoryCache, resolveCache, type CacheOption, type ResultCache } from './cache.js'
export { cacheKey, normaliseForCache, stableStringify } from './cache-key.js'
export { ChatCompletionStream } from './stream.js'
export { parseSse, readSseData, SseLineDecoder, type SseEvent } from '@visto/protocol'
export { imageToDataUrl, imagePart, pdfPart, videoPart, contentPart, userContent, bytesToDataUrl, type DocumentOptions, type ImageInput, type ImageOptions } from './images.js'
export { formatDuration, isPdf, percentile, sniffImageMime, sniffVideoMime, type ImageMime, type VideoMime } from '@visto/protocol'
export {
  parseGrounding,
  groundingPrompt,
  displayedImageSize,
  GROUNDING_SCALE,
  type Detection,
  type GroundingKind,
  type BoxDetection,
  type PointDetection,
  type PixelBox,
  type PixelPoint,
  type ImageSize,
  type DisplayedImageSize,
  type ExifOrientation,
} from '@visto/protocol'
export { bytesToBase64, base64ToBytes } from './base64.js'
export { isRetryableStatus, retryAfterMs, retryDelayMs, sleep, DEFAULT_BACKOFF, type BackoffOptions } from './retry.js'
export {
  MetricsRecorder,
  summarize,
  formatSummary,
  type MetricsSummary,
  type RequestMetric,
  type LatencyStats,
  type Outcome,
} from './metrics.js'
export {
  VistoError,
  ApiError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  PayloadTooLargeError,
  UnprocessableEntityError,
  RateLimitError,
  ServerError,
  OverloadedError,
  ConnectionError,
  TimeoutError,
  AbortError,
  InvalidResponseError,
  InvalidImageError,
  errorFromResponse,
  errorFromStreamEvent,
  type ApiErrorInit,
} from './errors.js'
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  ErrorBody,
  FilePart,
  ErrorEnvelope,
  FinishReason,
  Usage,
} from '@visto/protocol'
