import { isErrorEnvelope, readSseData, type ChatCompletionChunk } from '@visto/protocol'
import { type ApiError, ContextLengthExceededError, EngineUnavailableError, InvalidRequestError, OverloadedError, UpstreamError } from '../errors.js'
import type { Engine, EngineEvent, EngineInfo, EngineRequest, EngineState } from './engine.js'
import { redactUrlCredentials, splitUrlCredentials } from '../redact.js'
import { fetchOnceMore } from './fetch-once-more.js'
import { sampleLine } from './pool/label-exposition.js'
import { qwen3VlGeometry, type VisionGeometry } from './vision-geometry.js'

export interface OpenAiUpstreamOptions {
  /**
   * e.g. http://gpu-box:8000/v1 (vLLM, SGLang, llama.cpp's server, Ollama's /v1).
   * Userinfo (http://user:pass@host/v1) is sent as Basic auth, unless apiKey is set.
   */
  baseUrl: string
  apiKey?: string | undefined
  modelAliases: string[]
  /** The upstream's model id; default: the first one its /models lists. */
  upstreamModel?: string
  contextLength: number
  /** Requests it runs at once; see readSlots. */
  parallel: number
  /**
   * Take the upstream's own slot count when it reports one (llama-server's GET /props
   * total_slots) instead of `parallel`: true unless --upstream-parallel was given.
   */
  readSlots?: boolean
  /** How the upstream's model sees images; an OpenAI API does not say, so Qwen3-VL's unless given. */
  geometry?: VisionGeometry
  fetch?: typeof fetch
}

/**
 * Fronts an existing OpenAI-compatible engine: Visto keeps its API, image pipeline,
 * admission control and errors; the upstream does the inference. Images travel as the
 * data URLs our pipeline re-encoded, so the upstream never sees hostile bytes.
 */
export class OpenAiUpstreamEngine implements Engine {
  readonly id = 'openai-upstream'
  private currentState: EngineState = { status: 'loading', progress: 0, message: 'contacting upstream' }
  private upstreamModel: string | undefined
  private readonly fetch: typeof fetch
  private readonly baseUrl: string
  private readonly authorization: string | undefined
  /** The base URL as messages and logs may show it: without credentials. */
  readonly displayUrl: string
  private parallel: number
  private slotsRead = false
  /** Its embedding cache's size, when it reports one (readImageCache). */
  private imageCacheBytes: number | undefined
  private imageCacheRead = false

  constructor(private readonly options: OpenAiUpstreamOptions) {
    this.upstreamModel = options.upstreamModel
    this.fetch = options.fetch ?? fetch
    const { url, basicAuth } = splitUrlCredentials(options.baseUrl)
    this.baseUrl = url.replace(/\/+$/, '')
    this.displayUrl = redactUrlCredentials(this.baseUrl)
    this.authorization = options.apiKey ? `Bearer ${options.apiKey}` : basicAuth
    this.parallel = options.parallel
  }

  private url(path: string): string {
    return `${this.baseUrl}${path}`
  }

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) }
  }

  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.probe()
        return
      } catch (error) {
        if (attempt >= 4) throw error
        await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt))
      }
    }
  }

  /**
   * Asks the upstream once whether it serves (GET /models) and notes the answer in state():
   * how start() waits for it, and how a pool checks on it and re-admits it.
   */
  async probe(): Promise<void> {
    try {
      // Re-sent when no response came at all: llama-server drops keep-alive sockets it advertised (see fetchOnceMore).
      const response = await fetchOnceMore(
        () => this.fetch(this.url('/models'), { headers: this.headers(), signal: AbortSignal.timeout(10_000) }),
        () => true,
      )
      if (!response.ok) {
        await response.body?.cancel()
        throw new Error(`GET /models answered ${response.status}`)
      }
      const list = (await response.json()) as { data?: Array<{ id: string }> }
      this.upstreamModel ??= list.data?.[0]?.id
      if (!this.upstreamModel) throw new Error('the upstream lists no models')
      if (this.options.readSlots && !this.slotsRead) await this.readSlots()
      if (!this.imageCacheRead) await this.readImageCache()
      this.currentState = { status: 'ready' }
    } catch (error) {
      // What comes back may be the engine restarted with other settings: read them again then.
      this.slotsRead = false
      this.imageCacheRead = false
      const reason = redactUrlCredentials((error as Error).message)
      this.currentState = { status: 'unavailable', message: `upstream ${this.displayUrl} unreachable: ${reason}` }
      throw new EngineUnavailableError(this.currentState.message)
    }
  }

  /** GET `path` beside /v1 (not under it), where llama-server and Visto say more about themselves; undefined unless it answers 2xx. */
  private async getBesideApi(path: string): Promise<Response | undefined> {
    const root = this.baseUrl.replace(/\/v1$/, '')
    const response = await this.fetch(`${root}${path}`, { headers: this.headers(), signal: AbortSignal.timeout(5000) })
    if (response.ok) return response
    await response.body?.cancel()
    return undefined
  }

  /** llama-server says how many slots it has at GET /props; other servers keep `parallel`. */
  private async readSlots(): Promise<void> {
    this.slotsRead = true
    try {
      const response = await this.getBesideApi('/props')
      if (!response) return
      const slots = ((await response.json()) as { total_slots?: unknown }).total_slots
      if (typeof slots === 'number' && Number.isInteger(slots) && slots > 0) this.parallel = slots
    } catch {
      // Not a llama-server: --parallel it is.
    }
  }

  /**
   * Visto's llama-server build reports its embedding cache's size at GET /metrics (when it
   * runs with --metrics), and a Visto passes on its engines'; other servers say nothing,
   * and a pool assumes a size for them.
   */
  private async readImageCache(): Promise<void> {
    this.imageCacheRead = true
    try {
      const response = await this.getBesideApi('/metrics')
      if (response) this.imageCacheBytes = reportedImageCacheBytes(await response.text())
    } catch {
      // No metrics there: the pool's assumption it is.
    }
  }

  /** The model id the upstream serves (its first in GET /models, or the one configured). */
  servedModel(): string | undefined {
    return this.upstreamModel
  }

  describe(): EngineInfo {
    return {
      models: this.options.modelAliases,
      contextLength: this.options.contextLength,
      parallel: this.parallel,
      vision: true,
      geometry: this.options.geometry ?? qwen3VlGeometry,
      kind: 'openai-upstream',
      ...(this.imageCacheBytes !== undefined ? { imageCacheBytes: this.imageCacheBytes } : {}),
    }
  }

  state(): EngineState {
    return this.currentState
  }

  async health(): Promise<void> {
    if (this.currentState.status !== 'ready') {
      throw new EngineUnavailableError(`The upstream engine is not ready: ${'message' in this.currentState ? this.currentState.message : 'starting'}`)
    }
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    await this.health()
    const s = request.sampling
    const body = {
      model: this.upstreamModel,
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: s.maxTokens,
      temperature: s.temperature,
      top_p: s.topP,
      presence_penalty: s.presencePenalty,
      frequency_penalty: s.frequencyPenalty,
      seed: s.seed,
      stop: s.stop,
      ...(s.jsonSchema ? { response_format: { type: 'json_schema', json_schema: { name: 'response', schema: s.jsonSchema } } } : {}),
      ...(s.logprobs !== undefined ? { logprobs: true, top_logprobs: s.logprobs } : {}),
      ...upstreamTools(request),
      messages: request.messages.map((m) => ({
        role: m.role,
        content: m.content.map((p) => (p.type === 'text' ? p : { type: 'image_url', image_url: { url: `data:${p.image.mime};base64,${p.image.data.toString('base64')}` } })),
        ...(m.toolCalls ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : {}),
        ...(m.toolCallId !== undefined ? { tool_call_id: m.toolCallId } : {}),
      })),
    }
    let response: Response
    try {
      response = await fetchOnceMore(
        () => this.fetch(this.url('/chat/completions'), { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal }),
        () => !signal.aborted,
      )
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw new EngineUnavailableError(`The upstream engine at ${this.displayUrl} is unreachable.`, { cause: error })
    }
    if (!response.ok || !response.body) throw await this.translate(response)
    yield { type: 'accepted' }
    let finish: 'stop' | 'length' | 'tool_calls' = 'stop'
    // The upstream's call indices, as ours: calls count from 0 in the order they began.
    const callIndex = new Map<number, number>()
    let usage = { prompt: 0, completion: 0 }
    try {
      for await (const data of readSseData(response.body)) {
        if (data.trim() === '[DONE]') break
        let chunk: ChatCompletionChunk
        try {
          chunk = JSON.parse(data) as ChatCompletionChunk
        } catch {
          continue
        }
        if (isErrorEnvelope(chunk)) throw new UpstreamError(`The upstream engine failed mid-stream: ${chunk.error.message}`)
        const choice = chunk.choices?.[0]
        const tokens = choice?.logprobs?.content
        if (s.logprobs !== undefined && tokens?.length) {
          yield {
            type: 'logprobs',
            tokens: tokens.map((t) => ({
              token: t.token,
              logprob: t.logprob,
              bytes: t.bytes ?? [...Buffer.from(t.token)],
              top: (t.top_logprobs ?? []).map((a) => ({ token: a.token, logprob: a.logprob, bytes: a.bytes ?? [...Buffer.from(a.token)] })),
            })),
          }
        }
        if (choice?.delta?.content) yield { type: 'text', text: choice.delta.content }
        for (const delta of choice?.delta?.tool_calls ?? []) {
          let index = callIndex.get(delta.index)
          if (index === undefined) {
            index = callIndex.size
            callIndex.set(delta.index, index)
            yield { type: 'tool_call', index, id: delta.id ?? `call_${requestIdSuffix(request.requestId, index)}`, name: delta.function?.name ?? '' }
          }
          if (delta.function?.arguments) yield { type: 'tool_call_arguments', index, text: delta.function.arguments }
        }
        if (choice?.finish_reason) finish = choice.finish_reason === 'length' ? 'length' : choice.finish_reason === 'tool_calls' ? 'tool_calls' : 'stop'
        if (chunk.usage) usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens }
      }
    } catch (error) {
      // A client that went away surfaces here as a bare AbortError from the body reader.
      if (signal.aborted) throw signal.reason
      throw error
    }
    yield { type: 'done', finishReason: finish, promptTokens: usage.prompt, completionTokens: usage.completion }
  }

  private async translate(response: Response): Promise<ApiError> {
    let message = `HTTP ${response.status}`
    try {
      const payload: unknown = await response.json()
      if (isErrorEnvelope(payload)) message = payload.error.message
    } catch {
      // Keep the status line.
    }
    if (response.status === 400 && /context|too long|maximum/i.test(message)) return new ContextLengthExceededError(`The upstream engine refused the prompt: ${message}`)
    if (response.status === 400 || response.status === 422) return new InvalidRequestError(`The upstream engine rejected the request: ${message}`, { code: 'upstream_rejected' })
    if (response.status === 429 || response.status === 503) {
      const retryAfter = Number(response.headers.get('retry-after') ?? 5)
      return new OverloadedError(`The upstream engine is busy: ${message}`, Number.isFinite(retryAfter) ? retryAfter : 5)
    }
    return new UpstreamError(`The upstream engine failed: ${message}`)
  }

  async close(): Promise<void> {
    this.currentState = { status: 'unavailable', message: 'shutting down' }
  }

  /** Nothing runs here to kill: the upstream is someone else's process. */
  kill(): void {
    this.currentState = { status: 'unavailable', message: 'shutting down' }
  }
}

/** The request's tools in OpenAI's shape: the upstream enforces the choice itself. */
function upstreamTools(request: EngineRequest): Record<string, unknown> {
  const tools = request.tools
  if (!tools) return {}
  return {
    tools: tools.functions.map((f) => ({ type: 'function', function: f })),
    tool_choice: typeof tools.choice === 'object' ? { type: 'function', function: { name: tools.choice.name } } : tools.choice,
    parallel_tool_calls: tools.parallel,
  }
}

/** An id for a call the upstream sent none for, unique within the request. */
function requestIdSuffix(requestId: string, index: number): string {
  return `${requestId.replace(/[^A-Za-z0-9]/g, '').slice(-16)}${index}`
}

/**
 * The embedding cache capacity a Prometheus text reports, in bytes: llama-server's own
 * gauge (Visto's build), else the sum of a Visto's per-engine ones; undefined when neither
 * is there.
 */
export function reportedImageCacheBytes(text: string): number | undefined {
  for (const name of ['llamacpp:image_cache_capacity_bytes', 'visto_engine_llamacpp_image_cache_capacity_bytes']) {
    let total: number | undefined
    for (const line of text.split('\n')) {
      const sample = sampleLine(line)
      if (sample?.name !== name) continue
      const value = Number(sample.rest.split(/\s+/)[0])
      if (Number.isFinite(value) && value >= 0) total = (total ?? 0) + value
    }
    if (total !== undefined) return total
  }
  return undefined
}
