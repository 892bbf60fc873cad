import { readSseData } from '@visto/protocol'
import { ApiError, ContextLengthExceededError, EngineUnavailableError, InternalServerError, InvalidRequestError, UpstreamError } from '../../errors.js'
import type { Engine, EngineEvent, EngineInfo, EngineHistory, EngineRequest, EngineState, TokenLogprob } from '../engine.js'
import { fetchOnceMore } from '../fetch-once-more.js'
import { imageTokensOf, qwen3VlGeometry, type VisionGeometry } from '../vision-geometry.js'
import { ChatTemplate, CHATML_TEMPLATE } from './chat-template.js'
import { prefixLlamaCppMetrics } from './llama-cpp-metrics.js'
import { LlamaServerProcess, type LlamaServerProcessOptions } from './llama-server-process.js'
import { readMmprojGeometry } from './mmproj-geometry.js'
import { ProgressWatchdog, slotProgress } from './progress-watchdog.js'
import { SlotPicker } from './slot-picker.js'
import { FORCED_CALL_PREFIX, TOOL_CALL_CLOSE, ToolCallParser, toolCallSchema } from './tool-call-format.js'

export interface LlamaCppEngineOptions extends LlamaServerProcessOptions {
  /** Model ids clients may send; the first is what /v1/models lists first. */
  modelAliases: string[]
  /** Restart backoff after a crash: base × 2^n, capped. */
  restartBaseMs?: number
  restartMaxMs?: number
  /**
   * Seconds the engine may hold work without progress (no token, no prompt batch done,
   * /slots unanswered) before it is killed and restarted; 0 or unset: never.
   */
  stallSeconds?: number
  /** Visto's own errors about the engine (a stall), for the server log; `log` is llama-server's output. */
  reportError?: (message: string, details: { requestIds: string[] }) => void
}

/** One token's entry in llama-server's `completion_probabilities` (pre-sampling, as `logprob`). */
interface TokenProbability {
  token?: string
  logprob?: number
  bytes?: number[]
  top_logprobs?: Array<{ token?: string; logprob?: number; bytes?: number[] }>
}

interface CompletionChunk {
  content?: string
  completion_probabilities?: TokenProbability[]
  stop?: boolean
  stop_type?: 'none' | 'eos' | 'limit' | 'word'
  /** The stop string that ended generation (stop_type `word`). */
  stopping_word?: string
  tokens_predicted?: number
  tokens_evaluated?: number
  error?: { message?: string; type?: string; n_prompt_tokens?: number; n_ctx?: number }
}

/**
 * Qwen3-VL through a supervised llama-server. Prompts are rendered here with the
 * model's template and sent to the raw /completion endpoint, so the prompt is exactly
 * ours (image markers placed by us, special tokens in user text kept as text).
 * llama-server still runs its chat parser over the output, and stock builds fail on
 * output it cannot parse (invalid UTF-8): Visto's own build patches that
 * (engine-patches/), and translateEngineError explains it when a stock binary is used.
 */
export class LlamaCppEngine implements Engine {
  readonly id = 'llama.cpp'
  private process: LlamaServerProcess
  private template: ChatTemplate | undefined
  private restartAttempt = 0
  private restartTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Aborted when the current child dies, so in-flight requests fail at once. */
  private generation = new AbortController()
  private stateOverride: EngineState | undefined
  private restarts = 0
  private lastLoadSeconds: number | undefined
  /** The projector's, once start() has read it. */
  private geometry: VisionGeometry = qwen3VlGeometry
  /** Watches the current child for stalls (undefined when --engine-stall-seconds is 0). */
  private watchdog: ProgressWatchdog | undefined
  /** Why the current child was killed, when it was killed for a stall. */
  private stallReason: string | undefined
  /** Keeps busy slots together (see SlotPicker); one per engine, as the slot count outlives a restarted child. */
  private readonly slots: SlotPicker

  constructor(private readonly options: LlamaCppEngineOptions) {
    this.slots = new SlotPicker(options.parallel)
    this.process = this.createProcess()
  }

  private createProcess(): LlamaServerProcess {
    const child = new LlamaServerProcess(this.options)
    const watchdog = this.createWatchdog(child)
    child.on('exit', ({ expected }: { expected: boolean }) => {
      watchdog?.stop()
      this.generation.abort(new EngineUnavailableError('The engine (llama-server) stopped unexpectedly; it is being restarted. Retry shortly.'))
      const stallReason = this.stallReason
      this.stallReason = undefined
      if (!expected && !this.closed) this.scheduleRestart(stallReason)
    })
    this.watchdog = watchdog
    return child
  }

  private createWatchdog(child: LlamaServerProcess): ProgressWatchdog | undefined {
    const stallSeconds = this.options.stallSeconds ?? 0
    if (stallSeconds <= 0) return undefined
    return new ProgressWatchdog({
      stallMs: stallSeconds * 1000,
      readSlots: async (signal) => {
        const response = await this.call('/slots', { method: 'GET', signal })
        // A llama-server without the endpoint (--no-slots) cannot show its progress: its
        // answer counts as idle, so it is never killed on a guess (silence still counts).
        if (!response.ok) {
          await response.body?.cancel()
          return []
        }
        return slotProgress(await response.json())
      },
      onStall: (stalledMs, requestIds) => this.declareStall(child, stalledMs, requestIds),
    })
  }

  /**
   * The child holds work and has made no progress for --engine-stall-seconds: /health
   * turns unavailable at once, the requests it held fail with a 503 (a stream with its
   * error frame), and a SIGKILL hands it to the crash path, which restarts it.
   */
  private declareStall(child: LlamaServerProcess, stalledMs: number, requestIds: string[]): void {
    if (this.closed || child !== this.process || !child.isRunning()) return
    const seconds = Math.round(stalledMs / 1000)
    const held = requestIds.length > 0 ? `request${requestIds.length > 1 ? 's' : ''} ${requestIds.join(', ')}` : 'only requests whose clients had gone'
    this.stallReason = `llama-server made no progress for ${seconds} s (--engine-stall-seconds ${this.options.stallSeconds})`
    this.options.reportError?.(`${this.stallReason} while running ${held}; killing and restarting it`, { requestIds })
    this.stateOverride = { status: 'unavailable', message: `${this.stallReason}; restarting` }
    this.generation.abort(new EngineUnavailableError(`The engine (llama-server) made no progress for ${seconds} s and is being restarted. Retry shortly.`))
    child.killUnresponsive()
  }

  /** Starts llama-server and waits until it can serve. Throws with its output if it cannot start. */
  async start(): Promise<void> {
    this.generation = new AbortController()
    const started = Date.now()
    if (this.options.mmprojPath !== undefined) this.geometry = await readMmprojGeometry(this.options.mmprojPath)
    await this.process.start()
    await this.loadTemplate()
    this.lastLoadSeconds = (Date.now() - started) / 1000
    this.restartAttempt = 0
    this.stateOverride = undefined
  }

  private scheduleRestart(stallReason?: string): void {
    const base = this.options.restartBaseMs ?? 1000
    const delay = Math.min(this.options.restartMaxMs ?? 30_000, base * 2 ** this.restartAttempt)
    this.restartAttempt++
    this.restarts++
    this.stateOverride = { status: 'unavailable', message: `${stallReason ?? 'llama-server exited'}; restarting in ${Math.round(delay / 100) / 10} s` }
    this.options.log?.(`[visto] ${stallReason ? `${stallReason}, killed` : 'llama-server exited unexpectedly'}; restart #${this.restartAttempt} in ${delay} ms`)
    this.restartTimer = setTimeout(() => {
      if (this.closed) return
      this.process = this.createProcess()
      this.stateOverride = undefined
      // A child that dies while starting schedules the next try from its 'exit' handler.
      this.start().catch((error: unknown) => {
        this.options.log?.(`[visto] restart failed: ${error instanceof Error ? error.message : String(error)}`)
      })
    }, delay)
    this.restartTimer.unref()
  }

  private async loadTemplate(): Promise<void> {
    const props = (await this.call('/props', { method: 'GET' }).then((r) => r.json())) as {
      chat_template?: string
      bos_token?: string
      eos_token?: string
    }
    this.template = new ChatTemplate(props.chat_template || CHATML_TEMPLATE, { bos: props.bos_token, eos: props.eos_token })
  }

  describe(): EngineInfo {
    return {
      models: this.options.modelAliases,
      contextLength: this.options.contextLength,
      parallel: this.options.parallel,
      vision: this.options.mmprojPath !== undefined,
      geometry: this.geometry,
      kind: 'llama.cpp',
      ...(this.options.imageCacheMb !== undefined ? { imageCacheBytes: Math.floor(this.options.imageCacheMb * 1024 * 1024) } : {}),
    }
  }

  state(): EngineState {
    if (this.closed) return { status: 'unavailable', message: 'shutting down' }
    return this.stateOverride ?? this.process.state()
  }

  async health(): Promise<void> {
    const state = this.state()
    if (state.status === 'ready' && this.process.isRunning()) return
    const detail = state.status === 'loading' ? `loading (${Math.round(state.progress * 100)}%: ${state.message})` : state.status === 'unavailable' ? state.message : 'not running'
    throw new EngineUnavailableError(`The model is not ready: ${detail}.`, { code: state.status === 'loading' ? 'model_loading' : 'engine_unavailable' })
  }

  /** Texts already counted: the same timestamps recur in every video, and the tokenizer never changes while the model is loaded. */
  private readonly tokenCounts = new Map<string, number>()

  async countTextTokens(texts: readonly string[], signal?: AbortSignal): Promise<number[]> {
    await this.health()
    const counts = new Map<string, number>()
    for (const text of texts) {
      const known = this.tokenCounts.get(text)
      if (known !== undefined) counts.set(text, known)
    }
    const missing = [...new Set(texts.filter((text) => !counts.has(text)))]
    await Promise.all(
      missing.map(async (content) => {
        const response = await this.call('/tokenize', { method: 'POST', body: JSON.stringify({ content, add_special: false, parse_special: false }), signal })
        if (!response.ok) throw new EngineUnavailableError(`The engine could not tokenize (HTTP ${response.status}).`)
        const { tokens } = (await response.json()) as { tokens?: unknown[] }
        if (!Array.isArray(tokens)) throw new EngineUnavailableError('The engine gave no tokens.')
        if (this.tokenCounts.size >= 4096) this.tokenCounts.clear()
        this.tokenCounts.set(content, tokens.length)
        counts.set(content, tokens.length)
      }),
    )
    return texts.map((text) => counts.get(text)!)
  }

  /**
   * The prompt text, images as the media marker. `required` or a named function: the
   * prompt opens the call and a grammar built from the functions' schemas writes it, so
   * even a model that would not call parses.
   */
  private renderPrompt(request: EngineRequest): { prompt: string; forced: boolean } {
    if (!this.template) throw new EngineUnavailableError('The model is not loaded yet.')
    const forced = request.tools !== undefined && request.tools.choice !== 'auto'
    return { prompt: this.template.render(request.messages, this.process.mediaMarker, request.tools?.functions) + (forced ? FORCED_CALL_PREFIX : ''), forced }
  }

  /**
   * Counts as llama-server does when it takes the prompt (mtmd): each text piece between
   * images tokenized on its own with special tokens parsed, BOS/EOS as the vocabulary
   * wants them once, and each image its tokens plus the projector's frame markers. The
   * pipeline already sized every image to whole tokens, so its cost is exact.
   */
  async countPromptTokens(request: EngineRequest, signal: AbortSignal): Promise<number> {
    await this.health()
    const pieces = this.renderPrompt(request).prompt.split(this.process.mediaMarker)
    let response: Response
    try {
      response = await this.call('/tokenize', { method: 'POST', body: JSON.stringify({ content: pieces, add_special: true, parse_special: true }), signal }, request.requestId)
    } catch (error) {
      throw this.translateFailure(error, signal, this.generation.signal)
    }
    if (!response.ok) throw await this.translateHttpError(response)
    const { tokens } = (await response.json()) as { tokens: unknown[] }
    const geometry = this.geometry
    let imageTokens = 0
    for (const message of request.messages) {
      for (const part of message.content) {
        if (part.type === 'image') imageTokens += Math.round(imageTokensOf(part.image.width, part.image.height, geometry)) + geometry.frameTokens
      }
    }
    return tokens.length + imageTokens
  }

  /**
   * Every request to the child goes through here, re-sent when it got no response at all
   * (see fetchOnceMore: llama-server drops sockets it advertised as keep-alive).
   */
  private call(pathname: string, init: RequestInit, requestId = 'engine'): Promise<Response> {
    return fetchOnceMore(
      () =>
        fetch(`${this.process.baseUrl}${pathname}`, {
          ...init,
          headers: { authorization: `Bearer ${this.process.apiKey}`, 'content-type': 'application/json', ...init.headers },
        }),
      () => !init.signal?.aborted && this.process.isRunning(),
      (error) => this.options.log?.(`[visto] ${requestId}: ${pathname} got no response (${(error as Error).message}); sending again`),
    )
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    await this.health()
    const work = this.watchdog?.begin(request.requestId)
    let slot: number | undefined
    try {
      slot = await this.takeSlot(signal)
      for await (const event of this.completion(request, slot, signal)) {
        work?.progressed()
        yield event
      }
    } finally {
      work?.end()
      if (slot !== undefined) this.slots.give(slot)
    }
  }

  private async takeSlot(signal: AbortSignal): Promise<number> {
    const processGone = this.generation.signal
    try {
      return await this.slots.take(AbortSignal.any([signal, processGone]))
    } catch (error) {
      throw this.translateFailure(error, signal, processGone)
    }
  }

  private async *completion(request: EngineRequest, slot: number, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const tools = request.tools
    const { prompt, forced } = this.renderPrompt(request)
    const images = request.messages.flatMap((m) => m.content.flatMap((p) => (p.type === 'image' ? [p.image.data.toString('base64')] : [])))
    const s = request.sampling
    // One call at most: generation stops where the first call closes.
    const stop = tools && !tools.parallel && !forced ? [...(s.stop ?? []), TOOL_CALL_CLOSE] : s.stop
    const body: Record<string, unknown> = {
      prompt: images.length > 0 ? { prompt_string: prompt, multimodal_data: images } : prompt,
      stream: true,
      n_predict: s.maxTokens,
      cache_prompt: true,
      temperature: s.temperature,
      top_p: s.topP,
      top_k: s.topK,
      min_p: s.minP,
      repeat_penalty: s.repeatPenalty,
      presence_penalty: s.presencePenalty,
      frequency_penalty: s.frequencyPenalty,
      seed: s.seed,
      stop,
      ignore_eos: s.ignoreEos,
      json_schema: forced && tools ? toolCallSchema(tools) : s.jsonSchema,
      // Even logprobs without alternatives need one: llama-server sends a token's own only alongside them.
      n_probs: s.logprobs === undefined ? undefined : Math.max(1, s.logprobs),
      // We render the template ourselves, so special tokens in user text must stay text.
      parse_special: false,
      id_slot: slot,
    }
    const processGone = this.generation.signal
    const combined = AbortSignal.any([signal, processGone])
    let response: Response
    try {
      response = await this.call('/completion', { method: 'POST', body: JSON.stringify(body), signal: combined }, request.requestId)
    } catch (error) {
      throw this.translateFailure(error, signal, processGone)
    }
    if (!response.ok) {
      throw await this.translateHttpError(response)
    }
    if (!response.body) throw new InternalServerError()
    // llama-server sends its streaming headers once a slot has taken the prompt and
    // checked it against the context, before processing it (that can take minutes).
    yield { type: 'accepted' }
    const calls = tools ? new ToolCallParser(forced, tools.parallel ? undefined : 1) : undefined
    let finished = false
    try {
      for await (const data of readSseData(response.body)) {
        let chunk: CompletionChunk
        try {
          chunk = JSON.parse(data) as CompletionChunk
        } catch {
          continue // Not ours to surface: a malformed line is skipped, the stream goes on.
        }
        if (chunk.error) throw this.translateEngineError(chunk.error)
        if (s.logprobs !== undefined && chunk.completion_probabilities?.length) {
          yield { type: 'logprobs', tokens: chunk.completion_probabilities.map((p) => toTokenLogprob(p, s.logprobs!)) }
        }
        if (chunk.content) {
          if (calls) yield* calls.push(chunk.content)
          else yield { type: 'text', text: chunk.content }
        }
        if (chunk.stop) {
          finished = true
          if (calls) yield* calls.finish()
          // A call that parsed is whole, even when the token limit came right after it.
          const called = calls !== undefined && calls.callCount > 0
          // Only the client's own stop strings: the one-call stop (`</tool_call>`) is Visto's.
          const word = chunk.stop_type === 'word' ? chunk.stopping_word : undefined
          const stopSequence = !called && word !== undefined && s.stop?.includes(word) ? word : undefined
          yield {
            type: 'done',
            finishReason: called ? 'tool_calls' : chunk.stop_type === 'limit' ? 'length' : 'stop',
            promptTokens: chunk.tokens_evaluated ?? 0,
            completionTokens: chunk.tokens_predicted ?? 0,
            ...(stopSequence !== undefined ? { stopSequence } : {}),
          }
          return
        }
      }
    } catch (error) {
      if (error instanceof ApiError) throw error
      throw this.translateFailure(error, signal, processGone)
    }
    if (!finished) {
      throw this.translateFailure(new Error('stream ended early'), signal, processGone)
    }
  }

  private translateFailure(error: unknown, clientSignal: AbortSignal, processGone: AbortSignal): unknown {
    if (clientSignal.aborted) return clientSignal.reason ?? error
    if (processGone.aborted || !this.process.isRunning()) {
      return processGone.reason instanceof ApiError
        ? processGone.reason
        : new EngineUnavailableError('The engine (llama-server) is not running; it is being restarted. Retry shortly.', { cause: error })
    }
    return new EngineUnavailableError('Lost the connection to the engine (llama-server). Retry shortly.', { cause: error })
  }

  private async translateHttpError(response: Response): Promise<ApiError> {
    let payload: { error?: CompletionChunk['error'] } = {}
    try {
      payload = (await response.json()) as typeof payload
    } catch {
      // Fall through with an empty payload.
    }
    if (payload.error) return this.translateEngineError(payload.error, response.status)
    if (response.status === 503) return new EngineUnavailableError('The engine is loading. Retry shortly.', { code: 'model_loading' })
    return new InternalServerError()
  }

  private translateEngineError(error: NonNullable<CompletionChunk['error']>, status = 500): ApiError {
    if (error.type === 'exceed_context_size_error') {
      const prompt = error.n_prompt_tokens
      const context = error.n_ctx ?? this.options.contextLength
      return new ContextLengthExceededError(
        `This model's maximum context length is ${context} tokens, but the request needs ${prompt ?? 'more'} tokens (images included). ` +
          'Shorten the conversation, send fewer or smaller images (image_url.detail "low"), or start the server with a larger --ctx-size.',
      )
    }
    if (status === 400 || error.type === 'invalid_request_error') {
      return new InvalidRequestError(`The engine rejected the request: ${error.message ?? 'invalid request'}`, { code: 'engine_rejected' })
    }
    if (error.message?.includes('does not match the expected')) {
      // Stock llama-server builds refuse output their chat parser cannot read (invalid
      // UTF-8); Visto's own build carries a patch for exactly this (engine-patches/).
      return new UpstreamError(
        'The engine refused the model’s output (invalid UTF-8, a known llama-server quirk). Visto’s own engine build tolerates it: run `npx visto engine build` and start without --llama-server.',
        { cause: error },
      )
    }
    if (status === 503 || error.type === 'unavailable_error') {
      return new EngineUnavailableError(`The engine is not available: ${error.message ?? 'unavailable'}`)
    }
    this.options.log?.(`[visto] engine error: ${JSON.stringify(error)}`)
    return new InternalServerError()
  }

  async close(): Promise<void> {
    this.closed = true
    this.watchdog?.stop()
    if (this.restartTimer) clearTimeout(this.restartTimer)
    await this.process.stop()
  }

  /** For process 'exit' handlers: never leave an orphaned llama-server behind. */
  kill(): void {
    this.closed = true
    this.watchdog?.stop()
    this.process.killNow()
  }

  history(): EngineHistory {
    return { restarts: this.restarts, lastLoadSeconds: this.lastLoadSeconds }
  }

  /** llama-server's own /metrics (it runs with --metrics), renamed under visto_engine_llamacpp_. */
  async prometheusMetrics(): Promise<string | undefined> {
    if (this.state().status !== 'ready' || !this.process.isRunning()) return undefined
    try {
      const response = await this.call('/metrics', { method: 'GET', signal: AbortSignal.timeout(2000) })
      if (!response.ok) {
        await response.body?.cancel()
        return undefined
      }
      return prefixLlamaCppMetrics(await response.text())
    } catch {
      return undefined
    }
  }
}

/** llama-server's entry as ours, with `top` alternatives (it sends at least one). */
function toTokenLogprob(p: TokenProbability, top: number): TokenLogprob {
  return {
    token: p.token ?? '',
    logprob: p.logprob ?? 0,
    bytes: p.bytes ?? [...Buffer.from(p.token ?? '')],
    top: (p.top_logprobs ?? []).slice(0, top).map((t) => ({ token: t.token ?? '', logprob: t.logprob ?? 0, bytes: t.bytes ?? [...Buffer.from(t.token ?? '')] })),
  }
}
