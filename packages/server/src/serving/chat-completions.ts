import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { ChatCompletion, ChatCompletionChunk, FinishReason, ImageDetail, Usage } from '@visto/protocol'
import type { Engine, EngineContentPart, EngineEvent, EngineImage, EngineMessage, EngineRequest } from '../engines/engine.js'
import { ApiError, ContextLengthExceededError, InvalidRequestError, NotFoundError } from '../errors.js'
import type { Admission, Release, Reservation } from './admission.js'
import type { ChatJob, ChatJobFilePart, ChatJobImagePart } from './chat-job.js'
import type { ChatObserver } from './chat-observer.js'
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

export interface ChatServiceOptions {
  defaultMaxTokens: number
  maxImagesPerRequest: number
  /** Defaults apply when omitted. */
  limits?: ChatRequestLimits
  /** Without it, a `file` part gets a 400 saying documents are not enabled. */
  documents?: DocumentPreparer<any> | undefined
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
   */
  async prepare(job: ChatJob, signal: AbortSignal): Promise<PreparedChat> {
    const startedAt = performance.now()
    const { admission } = job
    let place = admission.class === 'interactive' ? admission.reservation : undefined
    // When one image fails, the others stop decoding too: nobody will use them.
    const imagesNeeded = new AbortController()
    const imageSignal = AbortSignal.any([signal, imagesNeeded.signal])
    try {
      const model = this.resolveModel(job.model)
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
      const sampling = { ...job.sampling, maxTokens: job.sampling.maxTokens ?? this.options.defaultMaxTokens }
      const { requestId } = job
      const identity = { id: `chatcmpl-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model, job, startedAt }

      // Before admission and image decoding: a hit costs neither a slot nor a decode, and is
      // answered even while the engine restarts.
      const cache = this.options.responseCache
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
        fileParts.forEach((part, i) => inspected.set(part, measured[i]))
      }
      const measured = await this.measureImages(job, imageSignal)
      let imageTokens = 0
      const messages: EngineMessage[] = await Promise.all(
        job.messages.map(async (message) => ({
          role: message.role,
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
                const image = await this.observedImage(part, imageSignal, measured?.get(part))
                imageTokens += image.imageTokens ?? 0
                return [{ type: 'image', image }]
              }),
            )
          ).flat(),
        })),
      )
      const release = admission.class === 'batch' ? await this.admission.acquireBackground(admission.concurrency, signal) : await this.admission.acquire(signal, place)
      return { ...identity, ...cacheState, imageTokens, release, engineRequest: { model, messages, requestId, sampling } }
    } catch (error) {
      imagesNeeded.abort(error)
      place?.cancel()
      throw error
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
   * The engine's events for a prepared request (or the cached ones, replayed). A complete
   * generation is stored in the response cache and reported to the observer; a failed or
   * cancelled one is neither. The engine slot is released however it ends.
   */
  private async *events(prepared: PreparedChat, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    if (prepared.cached) {
      const { deltas, finishReason, promptTokens, completionTokens } = prepared.cached
      for (const text of deltas) yield { type: 'text', text }
      yield { type: 'done', finishReason, promptTokens, completionTokens }
      return
    }
    const deltas: string[] = []
    const engineStarted = performance.now()
    let firstTokenAt: number | undefined
    try {
      for await (const event of this.engine.generate(prepared.engineRequest, signal)) {
        if (event.type === 'text') {
          firstTokenAt ??= performance.now()
          deltas.push(event.text)
        } else if (event.type === 'done' && !signal.aborted) {
          const { finishReason, promptTokens, completionTokens } = event
          if (prepared.cacheKey !== undefined) this.options.responseCache?.set(prepared.cacheKey, { deltas, finishReason, promptTokens, completionTokens })
          const now = performance.now()
          firstTokenAt ??= now
          this.options.observer?.generationFinished({
            requestId: prepared.engineRequest.requestId,
            promptTokens,
            imageTokens: prepared.imageTokens,
            completionTokens,
            timeToFirstTokenSeconds: (firstTokenAt - prepared.startedAt) / 1000,
            promptSeconds: (firstTokenAt - engineStarted) / 1000,
            generationSeconds: (now - firstTokenAt) / 1000,
          })
        }
        yield event
      }
    } catch (error) {
      if (!signal.aborted) this.options.observer?.generationFailed(prepared.engineRequest.requestId)
      throw error
    } finally {
      prepared.release()
    }
  }

  /** Runs a prepared request to the end and returns the OpenAI completion object. */
  async complete(prepared: PreparedChat, signal: AbortSignal): Promise<ChatCompletion> {
    let text = ''
    let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
    let finishReason: FinishReason = 'stop'
    if (prepared.cached) {
      // A hit answers in one piece: replaying its deltas one event at a time costs a
      // microtask each and buys nothing when nobody streams.
      const { deltas, promptTokens, completionTokens } = prepared.cached
      text = deltas.join('')
      finishReason = prepared.cached.finishReason
      usage = toUsage(promptTokens, completionTokens)
    } else {
      for await (const event of this.events(prepared, signal)) {
        if (event.type === 'text') text += event.text
        else if (event.type === 'done') {
          finishReason = event.finishReason
          usage = toUsage(event.promptTokens, event.completionTokens)
        }
      }
    }
    return {
      id: prepared.id,
      object: 'chat.completion',
      created: prepared.created,
      model: prepared.model,
      choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finishReason }],
      usage,
    }
  }

  /**
   * Starts a streamed completion and resolves once the engine has accepted the prompt,
   * so that a request it rejects at once (a prompt beyond the context, an invalid
   * schema) fails as a plain HTTP error, exactly as without streaming. Headers go out
   * only after that. The caller must iterate the result: its end, failure or return()
   * releases the slot.
   */
  async startStream(prepared: PreparedChat, signal: AbortSignal): Promise<AsyncGenerator<ChatCompletionChunk>> {
    const events = this.events(prepared, signal)
    // A failure here ends `events`, whose own cleanup releases the slot.
    const first = await events.next()
    const pending = first.done || first.value.type === 'accepted' ? undefined : first.value
    return this.chunks(prepared, events, pending)
  }

  /** Chunks in OpenAI order: role first, content deltas, the finish chunk, then usage if asked. */
  private async *chunks(prepared: PreparedChat, events: AsyncGenerator<EngineEvent>, pending: EngineEvent | undefined): AsyncGenerator<ChatCompletionChunk> {
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null): ChatCompletionChunk => ({
      id: prepared.id,
      object: 'chat.completion.chunk',
      created: prepared.created,
      model: prepared.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(prepared.job.includeUsage ? { usage: null } : {}),
    })
    const rest: AsyncIterable<EngineEvent> = { [Symbol.asyncIterator]: () => events }
    try {
      yield chunk({ role: 'assistant', content: '' }, null)
      for await (const event of prependEvent(pending, rest)) {
        if (event.type === 'accepted') continue
        if (event.type === 'text') {
          yield chunk({ content: event.text }, null)
          continue
        }
        yield chunk({}, event.finishReason)
        if (prepared.job.includeUsage) {
          yield {
            id: prepared.id,
            object: 'chat.completion.chunk',
            created: prepared.created,
            model: prepared.model,
            choices: [],
            usage: toUsage(event.promptTokens, event.completionTokens),
          }
        }
      }
    } finally {
      // Stopped before the engine events were read (a client gone after the role chunk):
      // ending the generator ends the engine's request and frees the slot.
      await events.return(undefined).catch(() => undefined)
      prepared.release()
    }
  }
}

async function* prependEvent(first: EngineEvent | undefined, rest: AsyncIterable<EngineEvent>): AsyncGenerator<EngineEvent> {
  if (first !== undefined) yield first
  yield* rest
}

function toUsage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}
