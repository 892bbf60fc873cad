/**
 * `createClient()`: an OpenAI-compatible chat client for Visto (or vLLM, llama.cpp's
 * server, Ollama's /v1 …) with retries, a timeout, a cache and monitoring
 * built in. Fetch only: runs in Node 20+ and browsers.
 */
import { DEFAULT_MODEL_ID, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type ModelList } from '@visto/protocol'
import { ask, type AskOptions, type AskResult } from './ask.js'
import { batch, type BatchItem, type BatchOptions, type BatchResult } from './batch.js'
import { Conversation, type ConversationOptions } from './conversation.js'
import type { ImageInput } from './images.js'
import { resolveCache, type CacheOption, type ResultCache } from './cache.js'
import { cacheKey } from './cache-key.js'
import { AbortError, ApiError, ConnectionError, InvalidResponseError, TimeoutError, VistoError, errorFromResponse } from './errors.js'
import { MetricsRecorder, type RequestMetric } from './metrics.js'
import { isRetryableStatus, retryDelayMs, sleep, type BackoffOptions } from './retry.js'
import { ChatCompletionStream } from './stream.js'

export const DEFAULT_BASE_URL = 'http://127.0.0.1:7860'
/** The model asked for when `model` is not given: the server's default id. */
export const DEFAULT_MODEL = DEFAULT_MODEL_ID
/**
 * A 4B vision model on a CPU can take longer than the usual 30 s to write 1024 tokens,
 * so the SDK allows two minutes per attempt.
 */
export const DEFAULT_TIMEOUT_MS = 120_000
/** Two retries: three tries in all. */
export const DEFAULT_MAX_RETRIES = 2

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number
  delayMs: number
  error: Error
}

export interface ClientOptions {
  /** Server root (`http://host:7860`) or its `/v1` URL; `/v1` is added when missing. */
  baseURL?: string
  apiKey?: string
  /** Default model for requests that name none. */
  model?: string
  /** Per-attempt timeout in milliseconds. */
  timeout?: number
  maxRetries?: number
  fetch?: FetchLike
  /** Extra headers on every request. */
  headers?: Record<string, string>
  /** Result cache for non-streaming requests; see `CacheOption`. Off by default. */
  cache?: CacheOption
  /** Where request metrics go; a fresh recorder by default. */
  metrics?: MetricsRecorder
  backoff?: BackoffOptions
  /** Told about every retry before its delay (the CLI logs these). */
  onRetry?: (info: RetryInfo) => void
}

export interface RequestOptions {
  signal?: AbortSignal
  timeout?: number
  maxRetries?: number
  headers?: Record<string, string>
  /** `false` skips the cache for this call; a ResultCache replaces the client's. */
  cache?: false | ResultCache
  /** A second recorder for this call (a batch's own summary, say). */
  metrics?: MetricsRecorder
}

export type ChatCompletionCreateParams = Omit<ChatCompletionRequest, 'model'> & { model?: string }

export interface CompletionMeta {
  requestId: string | undefined
  latencyMs: number
  attempts: number
  cached: boolean
}

export interface CompletionWithMeta extends CompletionMeta {
  completion: ChatCompletion
}

function normaliseBaseUrl(baseURL: string): string {
  let parsed: URL | undefined
  try {
    parsed = new URL(baseURL)
  } catch {
    parsed = undefined
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new TypeError(`baseURL must be an absolute http(s) URL such as http://127.0.0.1:7860, got "${baseURL}"`)
  }
  const trimmed = baseURL.replace(/\/+$/, '')
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code ?? (error as { code?: string }).code
  const detail = code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
  return detail
}

function usageOf(completion: { usage?: ChatCompletion['usage'] | null }): Pick<RequestMetric, 'promptTokens' | 'completionTokens' | 'totalTokens'> {
  const usage = completion.usage
  if (!usage) return {}
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, totalTokens: usage.total_tokens }
}

interface Attempt {
  response: Response
  controller: AbortController
  /** Restarts the timeout clock (streams use it as an idle timeout). */
  touch(): void
  /** Stops the timeout and detaches from the caller's signal. */
  release(): void
  /** Turns an error thrown while reading the body into the right typed error. */
  translate(error: unknown): unknown
  attempts: number
}

export class VistoClient {
  readonly baseURL: string
  readonly model: string
  readonly timeout: number
  readonly maxRetries: number
  readonly metrics: MetricsRecorder
  private readonly apiKey: string | undefined
  private readonly headers: Record<string, string>
  private readonly fetchImpl: FetchLike | undefined
  private readonly backoff: BackoffOptions
  private readonly onRetry: ((info: RetryInfo) => void) | undefined
  private readonly cacheOption: CacheOption
  private cachePromise: Promise<ResultCache | undefined> | undefined

  readonly chat: {
    completions: {
      create(body: ChatCompletionCreateParams & { stream: true }, options?: RequestOptions): Promise<ChatCompletionStream>
      create(body: ChatCompletionCreateParams & { stream?: false | null }, options?: RequestOptions): Promise<ChatCompletion>
      create(body: ChatCompletionCreateParams, options?: RequestOptions): Promise<ChatCompletion | ChatCompletionStream>
      /** Non-streaming create that also returns request id, latency, attempts and cache hit. */
      createWithMeta(body: ChatCompletionCreateParams & { stream?: false | null }, options?: RequestOptions): Promise<CompletionWithMeta>
    }
  }

  readonly models: { list(options?: RequestOptions): Promise<ModelList> }

  constructor(options: ClientOptions = {}) {
    this.baseURL = normaliseBaseUrl(options.baseURL ?? DEFAULT_BASE_URL)
    this.model = options.model ?? DEFAULT_MODEL
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES
    this.metrics = options.metrics ?? new MetricsRecorder()
    this.apiKey = options.apiKey
    this.headers = { ...options.headers }
    this.fetchImpl = options.fetch
    this.backoff = { ...options.backoff }
    this.onRetry = options.onRetry
    this.cacheOption = options.cache

    const create = ((body: ChatCompletionCreateParams, requestOptions?: RequestOptions) =>
      body.stream ? this.createStream(body, requestOptions) : this.createWithMeta(body, requestOptions).then((r) => r.completion)) as VistoClient['chat']['completions']['create']
    this.chat = {
      completions: {
        create,
        createWithMeta: (body, requestOptions) => this.createWithMeta(body, requestOptions),
      },
    }
    this.models = {
      list: async (requestOptions = {}) => {
        const attempt = await this.send('GET', '/models', undefined, requestOptions, false)
        return (await this.readJson(attempt)) as ModelList
      },
    }
  }

  /** Asks one question about zero or more images; see AskOptions for sampling and streaming. */
  ask(images: ImageInput | readonly ImageInput[] | undefined, question: string, options?: AskOptions): Promise<AskResult> {
    return ask(this, images, question, options)
  }

  /** A multi-turn chat that remembers its history. */
  conversation(options?: ConversationOptions): Conversation {
    return new Conversation(this, options)
  }

  /** Many asks, `concurrency` at a time, results in input order, failures isolated. */
  batch(items: readonly BatchItem[], options?: BatchOptions): Promise<BatchResult[]> {
    return batch(this, items, options)
  }

  /** The client's result cache, once resolved (undefined when caching is off). */
  cache(): Promise<ResultCache | undefined> {
    this.cachePromise ??= resolveCache(this.cacheOption)
    return this.cachePromise
  }

  private buildBody(body: ChatCompletionCreateParams): ChatCompletionRequest {
    // A shallow copy with the model filled in: the caller's object is never touched.
    return { ...body, model: body.model ?? this.model }
  }

  private record(metric: RequestMetric, options: RequestOptions): void {
    this.metrics.record(metric)
    options.metrics?.record(metric)
  }

  private async createWithMeta(params: ChatCompletionCreateParams, options: RequestOptions = {}): Promise<CompletionWithMeta> {
    const body = this.buildBody(params)
    if (body.stream) {
      body.stream = false
      delete body.stream_options
    }
    const startedAt = Date.now()
    const started = performance.now()
    const cache = options.cache === false ? undefined : (options.cache ?? (await this.cache()))
    const key = cache ? await cacheKey(body) : undefined
    if (cache && key) {
      // A cache that cannot be read (permissions, a full disk) is a miss, not a failed request.
      const hit = await cache.get(key).catch(() => undefined)
      if (hit) {
        const latencyMs = performance.now() - started
        this.record({ startedAt, latencyMs, outcome: 'cached', attempts: 0, stream: false, ...usageOf(hit) }, options)
        return { completion: hit, requestId: undefined, latencyMs, attempts: 0, cached: true }
      }
    }
    let attempts = 0
    try {
      const attempt = await this.send('POST', '/chat/completions', body, options, false, (n) => (attempts = n))
      const completion = (await this.readJson(attempt)) as ChatCompletion
      if (!completion || !Array.isArray(completion.choices) || completion.choices.length === 0)
        throw new InvalidResponseError(`Response is not a chat completion: ${JSON.stringify(completion).slice(0, 200)}`)
      const latencyMs = performance.now() - started
      this.record({ startedAt, latencyMs, outcome: 'success', attempts, stream: false, status: attempt.response.status, ...usageOf(completion) }, options)
      if (cache && key) await cache.set(key, completion).catch(() => {})
      return { completion, requestId: attempt.response.headers.get('x-request-id') ?? undefined, latencyMs, attempts, cached: false }
    } catch (error) {
      this.recordFailure(error, startedAt, started, attempts, false, options)
      throw error
    }
  }

  private recordFailure(error: unknown, startedAt: number, started: number, attempts: number, stream: boolean, options: RequestOptions): void {
    const metric: RequestMetric = {
      startedAt,
      latencyMs: performance.now() - started,
      outcome: 'error',
      attempts,
      stream,
      error: error instanceof Error ? error.name : 'Error',
    }
    if (error instanceof ApiError && error.status !== undefined) metric.status = error.status
    this.record(metric, options)
  }

  private async createStream(params: ChatCompletionCreateParams, options: RequestOptions = {}): Promise<ChatCompletionStream> {
    const body = this.buildBody(params)
    const startedAt = Date.now()
    const started = performance.now()
    let attempts = 0
    let attempt: Attempt
    try {
      attempt = await this.send('POST', '/chat/completions', body, options, true, (n) => (attempts = n))
    } catch (error) {
      this.recordFailure(error, startedAt, started, attempts, true, options)
      throw error
    }
    let firstTokenMs: number | undefined
    return new ChatCompletionStream(
      attempt.response,
      attempt.controller,
      {
        onBytes: () => attempt.touch(),
        onChunk: (chunk) => {
          if (firstTokenMs === undefined && chunk.choices.some((choice) => choice.delta.content)) firstTokenMs = performance.now() - started
        },
        translateError: (error) => attempt.translate(error),
        finish: ({ error, chunks }) => {
          attempt.release()
          if (error !== undefined) {
            this.recordFailure(error, startedAt, started, attempts, true, options)
            return
          }
          const usage = [...chunks].reverse().find((chunk) => chunk.usage)
          const metric: RequestMetric = {
            startedAt,
            latencyMs: performance.now() - started,
            outcome: 'success',
            attempts,
            stream: true,
            status: attempt.response.status,
            ...(usage ? usageOf(usage) : {}),
          }
          if (firstTokenMs !== undefined) metric.timeToFirstTokenMs = firstTokenMs
          this.record(metric, options)
        },
      },
      attempts,
    )
  }

  private async readJson(attempt: Attempt): Promise<unknown> {
    let text: string
    try {
      text = await attempt.response.text()
    } catch (error) {
      throw attempt.translate(error)
    } finally {
      attempt.release()
    }
    try {
      return JSON.parse(text)
    } catch {
      throw new InvalidResponseError(`Response is not JSON: ${text.slice(0, 200)}`)
    }
  }

  /**
   * One logical request: attempts until a 2xx, a non-retryable error, the retry budget
   * or the caller's signal. Only the response headers are awaited here; the body is
   * read by the caller under the same timeout (reset per chunk for streams).
   */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: ChatCompletionRequest | undefined,
    options: RequestOptions,
    stream: boolean,
    onAttempt?: (attempts: number) => void,
  ): Promise<Attempt> {
    const url = `${this.baseURL}${path}`
    const timeout = options.timeout ?? this.timeout
    const maxRetries = Math.max(0, options.maxRetries ?? this.maxRetries)
    const signal = options.signal
    const headers: Record<string, string> = { Accept: stream ? 'text/event-stream' : 'application/json', ...this.headers, ...options.headers }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const fetchImpl: FetchLike = this.fetchImpl ?? ((input, init) => globalThis.fetch(input, init))

    for (let attemptNumber = 1; ; attemptNumber++) {
      onAttempt?.(attemptNumber)
      if (signal?.aborted) throw new AbortError({ cause: signal.reason })
      const controller = new AbortController()
      let timedOut = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const touch = () => {
        if (timer !== undefined) clearTimeout(timer)
        timer = setTimeout(() => {
          timedOut = true
          controller.abort()
        }, timeout)
      }
      const onCallerAbort = () => controller.abort()
      signal?.addEventListener('abort', onCallerAbort, { once: true })
      const release = () => {
        if (timer !== undefined) clearTimeout(timer)
        timer = undefined
        signal?.removeEventListener('abort', onCallerAbort)
      }
      const translate = (error: unknown): unknown => {
        if (error instanceof VistoError) return error
        if (signal?.aborted) return new AbortError({ cause: signal.reason })
        if (timedOut) return new TimeoutError(timeout, url)
        // Aborted by neither the caller nor the clock: the stream's own abort().
        if (controller.signal.aborted) return new AbortError()
        const reason = describeNetworkError(error)
        return new ConnectionError(`Connection error: ${url} (${reason})`, url, { cause: error, reason })
      }
      touch()

      let failure: Error
      let retryHeaders: Headers | undefined
      try {
        const init: RequestInit = { method, headers, signal: controller.signal }
        if (payload !== undefined) init.body = payload
        const response = await fetchImpl(url, init)
        if (response.ok) return { response, controller, touch, release, translate, attempts: attemptNumber }
        let text = ''
        try {
          text = await response.text()
        } catch {
          // The status is what matters; an unreadable error body is not worth a second failure.
        }
        release()
        failure = errorFromResponse(response.status, response.headers, text)
        retryHeaders = response.headers
        if (!isRetryableStatus(response.status)) throw failure
      } catch (error) {
        release()
        if (error instanceof ApiError) throw error
        failure = translate(error) as Error
        if (failure instanceof AbortError) throw failure
      }

      if (attemptNumber > maxRetries) throw failure
      const delayMs = retryDelayMs(attemptNumber - 1, retryHeaders, this.backoff)
      this.onRetry?.({ retry: attemptNumber, delayMs, error: failure })
      try {
        await sleep(delayMs, signal)
      } catch (reason) {
        throw new AbortError({ cause: reason })
      }
    }
  }
}

export function createClient(options: ClientOptions = {}): VistoClient {
  return new VistoClient(options)
}

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest }
