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
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: EngineContentPart[]
  /** Assistant messages: the calls the model made earlier in the conversation. */
  toolCalls?: EngineToolCall[] | undefined
  /** Tool messages: which call this is the result of. */
  toolCallId?: string | undefined
}

/** A call, whole: `arguments` is JSON text, as the model wrote it (or the client sent it back). */
export interface EngineToolCall {
  id: string
  name: string
  arguments: string
}

/** A function the model may call. `parameters` is a JSON schema, already checked against the schema limits. */
export interface EngineFunction {
  name: string
  description?: string | undefined
  parameters?: Record<string, unknown> | undefined
}

/**
 * The functions offered and how the model must use them. `auto`: it may call any or
 * none; `required`: it must call one; `{ name }`: it must call that one. An engine
 * enforces the last two by constrained generation, so the call always parses. (A
 * client's `none` never reaches an engine: the request then carries no tools.)
 */
export interface EngineTools {
  functions: EngineFunction[]
  choice: 'auto' | 'required' | { name: string }
  /** False: at most one call per answer. */
  parallel: boolean
}

/** One generated token's log-probability, with the most likely alternatives at that step. */
export interface TokenLogprob {
  token: string
  logprob: number
  /** The token's UTF-8 bytes (a token may hold part of a character). */
  bytes: number[]
  top: Array<{ token: string; logprob: number; bytes: number[] }>
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
  /** Report each token's log-probability with this many alternatives (0 to 20); undefined: none. */
  logprobs?: number
}

export interface EngineRequest {
  /** The model id the client asked for (already checked against describe().models). */
  model: string
  messages: EngineMessage[]
  sampling: SamplingParams
  requestId: string
  /** Functions the model may call; undefined: none (it answers in text). */
  tools?: EngineTools | undefined
  /**
   * The caller shows nothing before `done` (a non-streamed answer), so an engine may
   * start the answer over after text: it yields `restart` and the text so far is void.
   * A pool retries such a request on another engine even after its first one wrote text.
   */
  restartable?: boolean
}

export type EngineEvent =
  /**
   * The engine took the prompt (llama-server or the upstream answered 200), before any
   * prompt processing. Until then a failure is an ordinary HTTP error; a streamed
   * response writes its headers only after this point.
   */
  | { type: 'accepted' }
  | { type: 'text'; text: string }
  /**
   * A tool call begins: `index` counts the calls of this answer from 0. Its arguments
   * follow as `tool_call_arguments` pieces of JSON text (an engine that learns a call
   * whole sends one piece). Every API maps these: OpenAI `tool_calls` deltas, a
   * Responses `function_call` item, an Anthropic `tool_use` block, an Ollama call.
   */
  | { type: 'tool_call'; index: number; id: string; name: string }
  | { type: 'tool_call_arguments'; index: number; text: string }
  /** Log-probabilities of the tokens generated since the last such event, in order (only when sampling.logprobs is set). */
  | { type: 'logprobs'; tokens: TokenLogprob[] }
  /** Only for a `restartable` request: forget the text so far, the answer starts again. */
  | { type: 'restart' }
  | {
      type: 'done'
      /** `tool_calls`: the answer ends with the calls it made (a cut one ends with `length`). */
      finishReason: 'stop' | 'length' | 'tool_calls'
      promptTokens: number
      completionTokens: number
      /** One of the request's `sampling.stop` strings, when it is what ended the answer (finishReason `stop`). */
      stopSequence?: string | undefined
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
  /**
   * How many bytes its image embedding cache may hold, when that is known (a supervised
   * child's --image-cache-mb; what an engine elsewhere reports): what a pool sizes its
   * mirror of that cache by.
   */
  imageCacheBytes?: number
}

export type EngineState = { status: 'loading'; progress: number; message: string } | { status: 'ready' } | { status: 'unavailable'; message: string }

/** How the engine has fared since the server started, for metrics. */
export interface EngineHistory {
  /** Restarts after the engine died unexpectedly. */
  restarts: number
  /** How long the last successful start took (model load included), in seconds. */
  lastLoadSeconds: number | undefined
}

/** One engine's figures for /metrics, /v1/health and the status view. */
export interface PoolMemberStatus {
  id: string
  model: string
  /** closed: serving; open: taken out; half-open: back on trial. */
  state: 'closed' | 'open' | 'half-open'
  engineState: EngineState['status']
  /** Why it is out, when it is. */
  reason?: string
  slots: number
  inFlight: number
  requests: number
  failures: number
  retries: number
  ejections: number
  affinityHits: number
  affinitySpills: number
  /** How many images the router takes its embedding cache to hold (its mirror's size). */
  imageCacheEntries: number
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
   * UTF-8, already cleaned of engine quirks), tool calls and logprobs, then exactly one `done`. Throws ApiErrors
   * (context exceeded → 400, engine down → 503); errors the engine finds in the prompt
   * come before `accepted`. An engine without such a point may omit it: the first
   * event of any kind counts as acceptance. Aborting the signal stops generation and
   * frees the engine slot.
   */
  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent>
  /**
   * The `promptTokens` that `generate` would report for this request, images included,
   * without running the model (Anthropic's count_tokens). Optional: for an engine
   * without it the chat service generates one token and reads the count from `done`.
   */
  countPromptTokens?(request: EngineRequest, signal: AbortSignal): Promise<number>
  /** Resolves when ready; throws EngineUnavailableError otherwise. */
  health(): Promise<void>
  /**
   * Engines whose slots change while running (a pool, as its engines come and go) call
   * `listener` with describe().parallel each time it changes; admission follows it.
   */
  watchCapacity?(listener: (parallel: number) => void): void
  /** A pool: each of its engines, for /metrics, /v1/health and the status view. */
  poolStatus?(): PoolMemberStatus[]
  /**
   * Tokens of each text alone, by the served model's tokenizer (no special tokens), for
   * costs told before a request is sent (a video's timestamps). Engines that cannot
   * tokenize leave it out, and such costs are estimated.
   */
  countTextTokens?(texts: readonly string[], signal?: AbortSignal): Promise<number[]>
}
