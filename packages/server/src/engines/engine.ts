import type { VisionGeometry } from './vision-geometry.js'

/**
 * The boundary between serving (OpenAI protocol, images, queueing) and whatever
 * actually runs the model: the embedded llama-server, or an upstream OpenAI-compatible
 * engine. Images arrive already decoded, normalised and re-encoded by the pipeline.
 */

export interface EngineImage {
  data: Buffer
  mime: string
  width: number
  height: number
}

export type EngineContentPart = { type: 'text'; text: string } | { type: 'image'; image: EngineImage }

export interface EngineMessage {
  role: 'system' | 'user' | 'assistant'
  content: EngineContentPart[]
}

export interface SamplingParams {
  maxTokens: number
  temperature?: number
  topP?: number
  topK?: number
  minP?: number
  repeatPenalty?: number
  presencePenalty?: number
  frequencyPenalty?: number
  seed?: number
  stop?: string[]
  ignoreEos?: boolean
  /** A JSON schema to constrain output; `{}` or `{type:'object'}` for plain JSON objects. */
  jsonSchema?: Record<string, unknown>
}

export interface EngineRequest {
  /** The model id the client asked for (already checked against describe().models). */
  model: string
  messages: EngineMessage[]
  sampling: SamplingParams
  requestId: string
}

export type EngineEvent =
  /**
   * The engine took the prompt (llama-server or the upstream answered 200), before any
   * prompt processing. Until then a failure is an ordinary HTTP error; a streamed
   * response writes its headers only after this point.
   */
  | { type: 'accepted' }
  | { type: 'text'; text: string }
  | {
      type: 'done'
      finishReason: 'stop' | 'length'
      promptTokens: number
      completionTokens: number
    }

export interface EngineInfo {
  /** Model ids this engine answers to; the first is the default. */
  models: string[]
  contextLength: number
  /** How many requests it runs at once. */
  parallel: number
  vision: boolean
  /**
   * How the model sees images: the side image sizes are multiples of, the fewest tokens
   * per image, the markers around each. Read it per request, not once: an engine learns
   * it when it loads its model, after the server is composed (until then, Qwen3-VL's).
   */
  geometry: VisionGeometry
  kind: string
}

export type EngineState =
  | { status: 'loading'; progress: number; message: string }
  | { status: 'ready' }
  | { status: 'unavailable'; message: string }

/** How the engine has fared since the server started, for metrics. */
export interface EngineHistory {
  /** Restarts after the engine died unexpectedly. */
  restarts: number
  /** How long the last successful start took (model load included), in seconds. */
  lastLoadSeconds: number | undefined
}

/**
 * Start, stop (graceful) and kill (immediate, synchronous: for process 'exit' handlers,
 * so no engine child outlives Visto). What the composed server drives.
 */
export interface Lifecycle {
  start(): Promise<void>
  close(): Promise<void>
  kill(): void
}

export interface Engine extends Lifecycle {
  readonly id: string
  describe(): EngineInfo
  state(): EngineState
  history?(): EngineHistory
  /** The engine's own Prometheus metrics, renamed under a Visto prefix; undefined when it has none or cannot say now. */
  prometheusMetrics?(): Promise<string | undefined>
  /**
   * Yields `accepted` once the engine has taken the prompt, then text deltas (valid
   * UTF-8, already cleaned of engine quirks), then exactly one `done`. Throws ApiErrors
   * (context exceeded → 400, engine down → 503); errors the engine finds in the prompt
   * come before `accepted`. An engine without such a point may omit it: the first
   * event of any kind counts as acceptance. Aborting the signal stops generation and
   * frees the engine slot.
   */
  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent>
  /** Resolves when ready; throws EngineUnavailableError otherwise. */
  health(): Promise<void>
  /**
   * Tokens of each text alone, by the served model's tokenizer (no special tokens), for
   * costs told before a request is sent (a video's timestamps). Engines that cannot
   * tokenize leave it out, and such costs are estimated.
   */
  countTextTokens?(texts: readonly string[], signal?: AbortSignal): Promise<number[]>
}
