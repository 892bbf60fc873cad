import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { ChatCompletion, ChatCompletionChunk, ChoiceLogprobs, FinishReason, ImageDetail, ToolCall, Usage } from '@visto/protocol'
import type { Engine, EngineContentPart, EngineImage, EngineMessage, EngineRequest, EngineToolCall, EngineTools, TokenLogprob } from '../engines/engine.js'
import { ApiError, ContextLengthExceededError, InternalServerError, InvalidRequestError, NotFoundError } from '../errors.js'
import type { Admission, Release, Reservation } from './admission.js'
import type { ChatJob, ChatJobFilePart, ChatJobImagePart, ChatJobVideoPart } from './chat-job.js'
import type { ChatObserver } from './chat-observer.js'
import { ChoiceAssembler, type ChoiceEvent, type JobResult, type JobUsage } from './choice-events.js'
import { defaultChatRequestLimits, type ChatRequestLimits } from './request-limits.js'
import type { CachedResponse, ResponseCache } from './response-cache.js'

/** A prepared image; `imageTokens`: what it costs in the prompt, and `sourceFormat`: the format read from its bytes, when the preparer knows them (for metrics). */
export type ServedImage = EngineImage & { imageTokens?: number; sourceFormat?: string }

/** Reads an image part's URL (data URL, bare base64, http(s)); `where` names the part for errors. */
export type ImagePreparer = (url: string, where: string, detail: ImageDetail, signal: AbortSignal) => Promise<ServedImage>

/** Prepares bytes an entry point already read (uploads); `where` names the part for errors. */
export type ImageBytesPreparer = (bytes: Buffer, where: string, detail: ImageDetail, signal: AbortSignal) => Promise<ServedImage>

/** An image part read as far as its header: what it costs in the prompt, and its decode, not yet done. */
export interface MeasuredServedImage {
  /** Tokens it adds to the prompt; 0 where the header does not tell. */
  promptTokens: number
  decode(signal: AbortSignal): Promise<ServedImage>
}

/** How the service turns each kind of image part into an engine image. */
export interface ImagePreparers {
  fromUrl: ImagePreparer
  fromBytes: ImageBytesPreparer
  /**
   * Reads a part's image up to its header (the real pipeline does): with `contextTokens`,
   * a request whose images cannot fit the context is refused before any is decoded.
   * Without it, images are decoded straight away.
   */
  measure?: (part: ChatJobImagePart, signal: AbortSignal) => Promise<MeasuredServedImage>
}

/**
 * A lower bound of what text costs in the prompt: one token per 32 characters. Real
 * tokenizers take 3 to 5 characters per token of prose and rarely more than 16 of
 * anything, so a request refused on this estimate is one the engine would refuse too.
 */
export function textTokensAtLeast(characters: number): number {
  return Math.floor(characters / 32)
}

/**
 * Documents (PDF `file` parts): measured first, so the request-wide limits are checked
 * before any page is rendered, then rendered into marker + image parts.
 */
export interface DocumentPreparer<Inspected = unknown> {
  /** Cheap checks on the parts alone, before any file is read. */
  checkParts(parts: readonly ChatJobFilePart[]): void
  inspect(part: ChatJobFilePart, signal: AbortSignal): Promise<Inspected>
  checkLimits(documents: readonly Inspected[]): void
  render(document: Inspected, signal: AbortSignal): Promise<EngineContentPart[]>
  /** What the rendered pages cost in the prompt. */
  imageTokens(document: Inspected): number
}

/**
 * Videos (`video_url` parts): their headers read and checked first, then the planned
 * frames decoded into timestamp text + image parts.
 */
export interface VideoPreparer<Inspected = unknown> {
  /** Cheap checks on the parts alone, before any video is read. */
  checkParts(parts: readonly ChatJobVideoPart[]): void
  inspect(part: ChatJobVideoPart, signal: AbortSignal): Promise<Inspected>
  render(video: Inspected, signal: AbortSignal): Promise<EngineContentPart[]>
  /** What the frames cost in the prompt, as images. */
  imageTokens(video: Inspected): number
}

export interface ChatServiceOptions {
  defaultMaxTokens: number
  maxImagesPerRequest: number
  /** Most choices (`n`) per job (--max-n); 1 when omitted. */
  maxChoices?: number | undefined
  /** Defaults apply when omitted. */
  limits?: ChatRequestLimits
  /** Without it, a `file` part gets a 400 saying documents are not enabled. */
  documents?: DocumentPreparer | undefined
  /** Without it, a `video_url` part gets a 400 saying videos are not enabled. */
  videos?: VideoPreparer | undefined
  responseCache?: ResponseCache | undefined
  observer?: ChatObserver | undefined
  /**
   * The context the engine enforces per request, when it is known exactly (the local
   * llama-server's --ctx-size): a request whose images' headers and text already need
   * more is refused with the engine's own 400 before any image is decoded.
   */
  contextTokens?: (() => number) | undefined
}

/** A request ready to run: validated, images decoded, an engine slot held. */
export interface PreparedChat {
  id: string
  created: number
  model: string
  job: ChatJob
  engineRequest: EngineRequest
  release: Release
  /** performance.now() when the service received the request. */
  startedAt: number
  imageTokens: number
  /** Set when the response cache was consulted: `hit` answers from `cached`, without the engine. */
  cache?: 'hit' | 'miss'
  cached?: CachedResponse
  /** Where a complete answer is stored (absent when the request may not be cached). */
  cacheKey?: string
}

/**
 * Protocol ↔ engine. Everything that can fail with a 4xx or a 503 happens in
 * `prepare`, before a streaming response has written its headers.
 */
export class ChatCompletionsService {
  constructor(
    private readonly engine: Engine,
    private readonly admission: Admission,
    private readonly images: ImagePreparers,
    private readonly options: ChatServiceOptions,
  ) {}

  /** The caps entry points check while they build a job (parseChatRequest takes them). */
  get requestLimits(): ChatRequestLimits {
    return this.options.limits ?? defaultChatRequestLimits
  }

  resolveModel(requested: string | undefined): string {
    const models = this.engine.describe().models
    if (requested === undefined || requested === '') return models[0]!
    if (models.includes(requested)) return requested
    throw new NotFoundError(`The model "${requested}" does not exist. Available models: ${models.join(', ')}`, {
      param: 'model',
      code: 'model_not_found',
    })
  }

  /** A place in admission for an entry point that reads its input before `prepare` (uploads): an interactive job hands it back. */
  reserve(): Reservation {
    return this.admission.reserve()
  }

  /**
   * Checks a job against the server, answers it from the response cache when it can,
   * decodes its images and waits for an engine slot. An interactive job holds an
   * admission place from before its images decode, so a full server answers 503 before
   * any decoding, and decoding cannot queue without bound.
   *
   * `count`: the job is only measured (countPromptTokens), never answered: no response
   * cache, and no engine slot when the engine counts without generating; its admission
   * place is held until `release`.
   */
  async prepare(job: ChatJob, signal: AbortSignal, purpose: 'answer' | 'count' = 'answer'): Promise<PreparedChat> {
    const startedAt = performance.now()
    const { admission } = job
    let place = admission.class === 'interactive' ? admission.reservation : undefined
    // When one image fails, the others stop decoding too: nobody will use them.
    const imagesNeeded = new AbortController()
    const imageSignal = AbortSignal.any([signal, imagesNeeded.signal])
    try {
      const model = this.resolveModel(job.model)
      const maxChoices = this.options.maxChoices ?? 1
      if ((job.n ?? 1) > maxChoices) {
        throw new InvalidRequestError(`n is ${job.n}, the limit is ${maxChoices} choices per request (--max-n); send several requests instead`, {
          param: 'n',
          code: 'too_many_choices',
        })
      }
      const imageCount = job.messages.reduce((n, m) => n + m.parts.filter((p) => p.type === 'image').length, 0)
      if (imageCount > this.options.maxImagesPerRequest) {
        throw new InvalidRequestError(`Too many images: ${imageCount} in this request, the limit is ${this.options.maxImagesPerRequest} (--max-images)`, {
          param: 'messages',
          code: 'too_many_images',
        })
      }
      if (imageCount > 0 && !this.engine.describe().vision) {
        throw new InvalidRequestError(`The model "${model}" has no vision projector loaded, so it cannot read images`, { param: 'messages', code: 'vision_unavailable' })
      }
      const fileParts = job.messages.flatMap((m) => m.parts.filter((p): p is ChatJobFilePart => p.type === 'file'))
      const documents = this.options.documents
      if (fileParts.length > 0 && !documents) {
        throw new InvalidRequestError(`This server does not read documents: ${fileParts[0]!.where} is a "file" part; send the pages as images instead`, {
          param: `${fileParts[0]!.where}.type`,
          code: 'documents_disabled',
        })
      }
      if (fileParts.length > 0 && imageCount === 0 && !this.engine.describe().vision) {
        throw new InvalidRequestError(`The model "${model}" has no vision projector loaded, so it cannot read PDF pages`, { param: 'messages', code: 'vision_unavailable' })
      }
      documents?.checkParts(fileParts)
      const videoParts = job.messages.flatMap((m) => m.parts.filter((p): p is ChatJobVideoPart => p.type === 'video'))
      const videos = this.options.videos
      if (videoParts.length > 0 && !videos) {
        throw new InvalidRequestError(`This server does not read video: ${videoParts[0]!.where} is a "video_url" part; send frames as images instead`, {
          param: `${videoParts[0]!.where}.type`,
          code: 'videos_disabled',
        })
      }
      if (videoParts.length > 0 && !this.engine.describe().vision) {
        throw new InvalidRequestError(`The model "${model}" has no vision projector loaded, so it cannot read video`, { param: 'messages', code: 'vision_unavailable' })
      }
      videos?.checkParts(videoParts)
      const sampling = { ...job.sampling, maxTokens: job.sampling.maxTokens ?? this.options.defaultMaxTokens }
      const { requestId } = job
      const identity = { id: `chatcmpl-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model, job, startedAt }

      // Before admission and image decoding: a hit costs neither a slot nor a decode, and is
      // answered even while the engine restarts.
      const cache = purpose === 'answer' ? this.options.responseCache : undefined
      const cacheKey = cache?.keyFor(model, job, sampling)
      let cacheState: Pick<PreparedChat, 'cache' | 'cacheKey'> = cache?.enabled ? { cache: 'miss' } : {}
      if (cache && cacheKey !== undefined) {
        if (job.cache === 'use') {
          const cached = cache.get(cacheKey)
          // A hit carries no engine request: nothing is decoded or sent to the engine.
          if (cached) return { ...identity, cache: 'hit', cached, imageTokens: 0, release: () => {}, engineRequest: { model, messages: [], requestId, sampling } }
        } else {
          cache.bypasses++
        }
        if (job.cache !== 'skip') cacheState = { cache: 'miss', cacheKey }
      }

      // Fail fast under overload, before paying for image decoding. Batch jobs hold no
      // interactive place: they only run when a slot is free anyway.
      if (admission.class === 'interactive') place ??= this.admission.reserve()
      await this.engine.health()
      // Documents are measured first: the request-wide page and token limits are checked before any page renders.
      const inspected = new Map<ChatJobFilePart, unknown>()
      if (documents && fileParts.length > 0) {
        const measured = await Promise.all(fileParts.map((part) => documents.inspect(part, imageSignal)))
        documents.checkLimits(measured)
        for (const [i, part] of fileParts.entries()) inspected.set(part, measured[i])
      }
      // Videos too: every header is read and checked before any frame is decoded.
      const probedVideos = new Map<ChatJobVideoPart, unknown>()
      if (videos && videoParts.length > 0) {
        const probed = await Promise.all(videoParts.map((part) => videos.inspect(part, imageSignal)))
        for (const [i, part] of videoParts.entries()) probedVideos.set(part, probed[i])
      }
      const measured = await this.measureImages(job, imageSignal)
      let imageTokens = 0
      const messages: EngineMessage[] = await Promise.all(
        job.messages.map(async (message) => ({
          role: message.role,
          ...(message.toolCalls ? { toolCalls: message.toolCalls } : {}),
          ...(message.toolCallId !== undefined ? { toolCallId: message.toolCallId } : {}),
          content: (
            await Promise.all(
              message.parts.map(async (part): Promise<EngineContentPart[]> => {
                if (part.type === 'text') return [part]
                if (part.type === 'file') {
                  const document = inspected.get(part)
                  const pages = await documents!.render(document, imageSignal)
                  imageTokens += documents!.imageTokens(document)
                  return pages
                }
                if (part.type === 'video') {
                  const video = probedVideos.get(part)
                  const frames = await videos!.render(video, imageSignal)
                  imageTokens += videos!.imageTokens(video)
                  return frames
                }
                const image = await this.observedImage(part, imageSignal, measured?.get(part))
                imageTokens += image.imageTokens ?? 0
                return [{ type: 'image', image }]
              }),
            )
          ).flat(),
        })),
      )
      const countsWithoutSlot = purpose === 'count' && this.engine.countPromptTokens !== undefined
      const held = place
      const release = countsWithoutSlot
        ? () => held?.cancel()
        : admission.class === 'batch'
          ? await this.admission.acquireBackground(admission.concurrency, signal)
          : await this.admission.acquire(signal, place)
      return { ...identity, ...cacheState, imageTokens, release, engineRequest: { model, messages, requestId, sampling, ...engineTools(job), restartable: !job.stream } }
    } catch (error) {
      imagesNeeded.abort(error)
      place?.cancel()
      throw error
    }
  }

  /**
   * The prompt tokens the job would be answered with, images and tools included: what
   * `usage` reports for it. Validated, images decoded and limits applied exactly as for an
   * answer. An engine that cannot count without running the model generates one token in
   * an engine slot and reports the count of that.
   */
  async countPromptTokens(job: ChatJob, signal: AbortSignal): Promise<number> {
    const prepared = await this.prepare(job, signal, 'count')
    try {
      const request = prepared.engineRequest
      if (this.engine.countPromptTokens) return await this.engine.countPromptTokens(request, signal)
      for await (const event of this.engine.generate({ ...request, sampling: { ...request.sampling, maxTokens: 1 } }, signal)) {
        if (event.type === 'done') return event.promptTokens
      }
      throw new InternalServerError(undefined, { cause: new Error('the engine ended without a done event') })
    } finally {
      prepared.release()
    }
  }

  /**
   * Reads every image part up to its header and refuses the request when what they cost,
   * with its text, is over the context: before any decode, instead of after seconds of it.
   * Undefined where images are not measured.
   */
  private async measureImages(job: ChatJob, signal: AbortSignal): Promise<Map<ChatJobImagePart, MeasuredServedImage> | undefined> {
    const { measure } = this.images
    if (!measure) return undefined
    const parts = job.messages.flatMap((m) => m.parts.filter((p): p is ChatJobImagePart => p.type === 'image'))
    const measured = new Map<ChatJobImagePart, MeasuredServedImage>()
    try {
      await Promise.all(parts.map(async (part) => measured.set(part, await measure(part, signal))))
    } catch (error) {
      if (error instanceof ApiError) this.options.observer?.imageRefused(error.code ?? 'invalid_image')
      throw error
    }
    const context = this.options.contextTokens?.()
    if (context !== undefined) {
      const characters = job.messages.reduce((n, m) => n + m.parts.reduce((k, p) => k + (p.type === 'text' ? p.text.length : 0), 0), 0)
      const needs = [...measured.values()].reduce((n, image) => n + image.promptTokens, 0) + textTokensAtLeast(characters)
      if (needs > context) {
        throw new ContextLengthExceededError(
          `This model's maximum context length is ${context} tokens, but the request needs at least ${needs} tokens (images included, counted from their headers before decoding). ` +
            'Shorten the conversation, send fewer or smaller images (image_url.detail "low"), or start the server with a larger --ctx-size.',
        )
      }
    }
    return measured
  }

  /** Prepares one image (its measured decode, or from its URL or the bytes the job holds), reporting it to the observer. */
  private async observedImage(part: ChatJobImagePart, signal: AbortSignal, measured: MeasuredServedImage | undefined): Promise<ServedImage> {
    const started = performance.now()
    try {
      const image = measured
        ? await measured.decode(signal)
        : part.bytes !== undefined
          ? await this.images.fromBytes(part.bytes, part.where, part.detail, signal)
          : await this.images.fromUrl(part.url, part.where, part.detail, signal)
      this.options.observer?.imagePrepared(image.sourceFormat ?? 'unknown', (performance.now() - started) / 1000)
      return image
    } catch (error) {
      if (error instanceof ApiError) this.options.observer?.imageRefused(error.code ?? 'invalid_image')
      throw error
    }
  }

  /**
   * The events of every choice of a prepared request (or the cached ones, replayed): the
   * job's `n` generations one after another, in the one engine slot the request holds, so
   * admission counts it as one request and the engine's prompt cache serves the later
   * ones. Each choice starts with `accepted`. A complete job is stored in the response
   * cache and reported to the observer (usage summed over its choices); a failed or
   * cancelled one is neither. The engine slot is released however it ends.
   */
  private async *events(prepared: PreparedChat, signal: AbortSignal): AsyncGenerator<ChoiceEvent> {
    if (prepared.cached) {
      yield* replay(prepared.cached)
      return
    }
    const choices = prepared.job.n ?? 1
    // Kept for the cache: the plain text of a one-choice answer, or every event of a richer one.
    const deltas: string[] = []
    const record: ChoiceEvent[] = []
    let plain = choices === 1
    const usage = new ChoiceAssembler(false)
    const engineStarted = performance.now()
    let firstTokenAt: number | undefined
    try {
      for (let choice = 0; choice < choices; choice++) {
        let accepted = false
        for await (const engineEvent of this.engine.generate(engineRequestFor(prepared.engineRequest, choice), signal)) {
          if (!accepted) {
            accepted = true
            yield { type: 'accepted', choice }
          }
          if (engineEvent.type === 'accepted') continue
          const event: ChoiceEvent = { ...engineEvent, choice }
          if (event.type === 'restart') {
            // A pool retried a non-streamed answer on another engine: what this choice said so far is void.
            if (plain) deltas.length = 0
            for (let i = record.length - 1; i >= 0; i--) if (record[i]!.choice === choice) record.splice(i, 1)
          } else if (event.type !== 'done') {
            firstTokenAt ??= performance.now()
            if (event.type === 'text') deltas.push(event.text)
            else plain = false
            record.push(event)
          } else {
            usage.add(event)
            record.push(event)
            // A stop sequence is told (Anthropic's stop_sequence): the cache keeps the whole event.
            if (event.finishReason === 'tool_calls' || event.stopSequence !== undefined) plain = false
            if (choice === choices - 1 && !signal.aborted)
              this.finished(prepared, plain ? { deltas, event } : { record, event }, usage.result().usage, { engineStarted, firstTokenAt })
          }
          yield event
        }
      }
    } catch (error) {
      if (!signal.aborted) this.options.observer?.generationFailed(prepared.engineRequest.requestId)
      throw error
    } finally {
      prepared.release()
    }
  }

  /** A job's last choice is done: store it in the response cache, report it to the observer. */
  private finished(
    prepared: PreparedChat,
    answer: { deltas: string[]; event: ChoiceEvent & { type: 'done' } } | { record: ChoiceEvent[]; event: ChoiceEvent & { type: 'done' } },
    usage: JobUsage,
    times: { engineStarted: number; firstTokenAt: number | undefined },
  ): void {
    const { promptTokens, completionTokens } = usage
    if (prepared.cacheKey !== undefined) {
      const cached: CachedResponse =
        'deltas' in answer
          ? { deltas: answer.deltas, finishReason: answer.event.finishReason, promptTokens, completionTokens }
          : { deltas: [], finishReason: answer.event.finishReason, promptTokens, completionTokens, events: answer.record }
      this.options.responseCache?.set(prepared.cacheKey, cached)
    }
    const now = performance.now()
    const firstTokenAt = times.firstTokenAt ?? now
    this.options.observer?.generationFinished({
      requestId: prepared.engineRequest.requestId,
      promptTokens,
      imageTokens: prepared.imageTokens,
      completionTokens,
      timeToFirstTokenSeconds: (firstTokenAt - prepared.startedAt) / 1000,
      promptSeconds: (firstTokenAt - times.engineStarted) / 1000,
      generationSeconds: (now - firstTokenAt) / 1000,
    })
  }

  /**
   * Runs a prepared request to the end and returns its choices and usage, whatever API
   * asked: each adapter shapes them into its own response.
   */
  async collect(prepared: PreparedChat, signal: AbortSignal): Promise<JobResult> {
    const assembler = new ChoiceAssembler(prepared.engineRequest.sampling.logprobs !== undefined)
    const cached = prepared.cached
    if (cached && !cached.events) {
      // A plain hit answers in one piece: replaying its deltas one event at a time costs a
      // microtask each and buys nothing when nobody streams.
      const { deltas, finishReason, promptTokens, completionTokens } = cached
      assembler.add({ type: 'text', text: deltas.join(''), choice: 0 })
      assembler.add({ type: 'done', finishReason, promptTokens, completionTokens, choice: 0 })
    } else {
      for await (const event of this.events(prepared, signal)) assembler.add(event)
    }
    return assembler.result()
  }

  /** Runs a prepared request to the end and returns the OpenAI completion object. */
  async complete(prepared: PreparedChat, signal: AbortSignal): Promise<ChatCompletion> {
    const { choices, usage } = await this.collect(prepared, signal)
    return {
      id: prepared.id,
      object: 'chat.completion',
      created: prepared.created,
      model: prepared.model,
      choices: choices.map((choice) => ({
        index: choice.index,
        message: {
          role: 'assistant',
          // OpenAI's shape: an answer that is only calls has no content.
          content: choice.text === '' && choice.toolCalls.length > 0 ? null : choice.text,
          refusal: null,
          ...(choice.toolCalls.length > 0 ? { tool_calls: choice.toolCalls.map(toOpenAiToolCall) } : {}),
        },
        logprobs: choice.logprobs ? toOpenAiLogprobs(choice.logprobs) : null,
        finish_reason: choice.finishReason,
      })),
      usage: toUsage(usage.promptTokens, usage.completionTokens),
    }
  }

  /**
   * Starts a prepared request and resolves once the engine has accepted the prompt, so
   * that a request it rejects at once (a prompt beyond the context, an invalid schema)
   * fails as a plain HTTP error, exactly as without streaming: what a streaming adapter
   * of any API calls before it writes its headers. The events start with that first
   * `accepted`. The caller must iterate the result: its end, failure or return()
   * releases the slot.
   */
  async startEvents(prepared: PreparedChat, signal: AbortSignal): Promise<AsyncGenerator<ChoiceEvent>> {
    const events = this.events(prepared, signal)
    // A failure here ends `events`, whose own cleanup releases the slot.
    const first = await events.next()
    return withCleanup(prepared, first.done ? undefined : first.value, events)
  }

  /** `startEvents` as OpenAI chunks; headers go out only after it resolves. */
  async startStream(prepared: PreparedChat, signal: AbortSignal): Promise<AsyncGenerator<ChatCompletionChunk>> {
    return this.chunks(prepared, await this.startEvents(prepared, signal))
  }

  /**
   * Chunks in OpenAI order, per choice: role first, content and tool-call deltas (with
   * their logprobs), the finish chunk; then usage for the whole request if asked.
   */
  private async *chunks(prepared: PreparedChat, events: AsyncGenerator<ChoiceEvent>): AsyncGenerator<ChatCompletionChunk> {
    const chunk = (
      index: number,
      delta: ChatCompletionChunk['choices'][0]['delta'],
      finish: FinishReason | null,
      logprobs: TokenLogprob[] | undefined = undefined,
    ): ChatCompletionChunk => ({
      id: prepared.id,
      object: 'chat.completion.chunk',
      created: prepared.created,
      model: prepared.model,
      choices: [{ index, delta, logprobs: logprobs ? toOpenAiLogprobs(logprobs) : null, finish_reason: finish }],
      ...(prepared.job.includeUsage ? { usage: null } : {}),
    })
    const usage = new ChoiceAssembler(false)
    const choices = prepared.job.n ?? 1
    // Logprobs come just before the text they scored and ride in its chunk.
    let logprobs: TokenLogprob[] | undefined
    try {
      for await (const event of events) {
        if (event.type === 'logprobs') {
          logprobs = [...(logprobs ?? []), ...event.tokens]
          continue
        }
        if (logprobs && event.type !== 'text') {
          yield chunk(event.choice, {}, null, logprobs)
          logprobs = undefined
        }
        switch (event.type) {
          case 'accepted':
            yield chunk(event.choice, { role: 'assistant', content: '' }, null)
            break
          case 'text':
            yield chunk(event.choice, { content: event.text }, null, logprobs)
            logprobs = undefined
            break
          case 'tool_call':
            yield chunk(event.choice, { tool_calls: [{ index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } }] }, null)
            break
          case 'tool_call_arguments':
            yield chunk(event.choice, { tool_calls: [{ index: event.index, function: { arguments: event.text } }] }, null)
            break
          case 'done':
            usage.add(event)
            yield chunk(event.choice, {}, event.finishReason)
            if (event.choice === choices - 1 && prepared.job.includeUsage) {
              const total = usage.result().usage
              yield {
                id: prepared.id,
                object: 'chat.completion.chunk',
                created: prepared.created,
                model: prepared.model,
                choices: [],
                usage: toUsage(total.promptTokens, total.completionTokens),
              }
            }
        }
      }
    } finally {
      await events.return(undefined).catch(() => undefined)
    }
  }
}

/** The tools an engine is offered: none when the client said `tool_choice: "none"`, so the model answers in text. */
function engineTools(job: ChatJob): { tools?: EngineTools } {
  const tools = job.tools
  if (!tools || tools.choice === 'none') return {}
  return { tools: { functions: tools.functions, choice: tools.choice, parallel: tools.parallel } }
}

/** The engine request of one choice: a fixed seed moves on by one per choice, so the choices differ yet repeat. */
function engineRequestFor(request: EngineRequest, choice: number): EngineRequest {
  if (choice === 0 || request.sampling.seed === undefined) return request
  return { ...request, sampling: { ...request.sampling, seed: (request.sampling.seed + choice) >>> 0 } }
}

/** A cached answer told again as the events it came as. */
function* replay(cached: CachedResponse): Generator<ChoiceEvent> {
  if (cached.events) {
    let started = -1
    for (const event of cached.events) {
      if (event.choice > started) {
        started = event.choice
        yield { type: 'accepted', choice: started }
      }
      yield event
    }
    return
  }
  const { deltas, finishReason, promptTokens, completionTokens } = cached
  yield { type: 'accepted', choice: 0 }
  for (const text of deltas) yield { type: 'text', text, choice: 0 }
  yield { type: 'done', finishReason, promptTokens, completionTokens, choice: 0 }
}

/**
 * The events with `first` in front; stopped before the engine events were read (a
 * client gone after the headers), ending it ends the engine's request and frees the slot.
 */
async function* withCleanup(prepared: PreparedChat, first: ChoiceEvent | undefined, rest: AsyncGenerator<ChoiceEvent>): AsyncGenerator<ChoiceEvent> {
  try {
    if (first !== undefined) yield first
    yield* { [Symbol.asyncIterator]: () => rest }
  } finally {
    await rest.return(undefined).catch(() => undefined)
    prepared.release()
  }
}

function toOpenAiToolCall(call: EngineToolCall): ToolCall {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }
}

function toOpenAiLogprobs(tokens: readonly TokenLogprob[]): ChoiceLogprobs {
  return {
    content: tokens.map((t) => ({
      token: t.token,
      logprob: t.logprob,
      bytes: t.bytes,
      top_logprobs: t.top.map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes })),
    })),
    refusal: null,
  }
}

function toUsage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}
