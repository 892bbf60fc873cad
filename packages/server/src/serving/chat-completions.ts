import { randomBytes } from 'node:crypto'
import type { ChatCompletion, ChatCompletionChunk, FinishReason, ImageDetail, Usage } from '@visto/protocol'
import type { EngineContentPart, Engine, EngineImage, EngineMessage, EngineRequest } from '../engines/engine.js'
import { InvalidRequestError, NotFoundError } from '../errors.js'
import type { Admission, Release, Reservation } from './admission.js'
import { parseChatRequest, type ParsedChatRequest, type ParsedFilePart } from './chat-request.js'
import type { ChatRequestLimits } from './request-limits.js'

export type ImagePreparer = (url: string, where: string, detail: ImageDetail, signal: AbortSignal) => Promise<EngineImage>

/**
 * Documents (PDF `file` parts): measured first, so the request-wide limits are checked
 * before any page is rendered, then rendered into marker + image parts.
 */
export interface DocumentPreparer<Inspected = unknown> {
  /** Cheap checks on the parts alone, before any file is read. */
  checkParts(parts: readonly ParsedFilePart[]): void
  inspect(part: ParsedFilePart, signal: AbortSignal): Promise<Inspected>
  checkLimits(documents: readonly Inspected[]): void
  render(document: Inspected, signal: AbortSignal): Promise<EngineContentPart[]>
}

export interface ChatServiceOptions {
  defaultMaxTokens: number
  maxImagesPerRequest: number
  /** Defaults apply when omitted. */
  limits?: ChatRequestLimits
  /** Without it, a `file` part gets a 400 saying documents are not enabled. */
  documents?: DocumentPreparer<any> | undefined
}

/** A request ready to run: validated, images decoded, an engine slot held. */
export interface PreparedChat {
  id: string
  created: number
  model: string
  parsed: ParsedChatRequest
  engineRequest: EngineRequest
  release: Release
}

/**
 * Protocol ↔ engine. Everything that can fail with a 4xx or a 503 happens in
 * `prepare`, before a streaming response has written its headers.
 */
export class ChatCompletionsService {
  constructor(
    private readonly engine: Engine,
    private readonly admission: Admission,
    private readonly prepareImage: ImagePreparer,
    private readonly options: ChatServiceOptions,
  ) {}

  resolveModel(requested: string | undefined): string {
    const models = this.engine.describe().models
    if (requested === undefined || requested === '') return models[0]!
    if (models.includes(requested)) return requested
    throw new NotFoundError(`The model "${requested}" does not exist. Available models: ${models.join(', ')}`, {
      param: 'model',
      code: 'model_not_found',
    })
  }

  /** A place in admission for a caller that decodes images itself before `prepare` (uploads). */
  reserve(): Reservation {
    return this.admission.reserve()
  }

  /**
   * Validates, decodes images and waits for an engine slot. The request holds an admission
   * place from before its images decode (`reservation`, or one taken here), so a full
   * server answers 503 before any decoding, and decoding cannot queue without bound.
   */
  /**
   * `reservation`: an admission place the caller already holds. `prepareImage`: how this
   * request's images are obtained when the caller has prepared them itself (uploads).
   */
  async prepare(body: unknown, requestId: string, signal: AbortSignal, options: { reservation?: Reservation; prepareImage?: ImagePreparer } = {}): Promise<PreparedChat> {
    let place = options.reservation
    const prepareImage = options.prepareImage ?? this.prepareImage
    // When one image fails, the others stop decoding too: nobody will use them.
    const imagesNeeded = new AbortController()
    const imageSignal = AbortSignal.any([signal, imagesNeeded.signal])
    try {
      const parsed = parseChatRequest(body, this.options.limits)
      const model = this.resolveModel(parsed.model)
      const imageCount = parsed.messages.reduce((n, m) => n + m.parts.filter((p) => p.type === 'image').length, 0)
      if (imageCount > this.options.maxImagesPerRequest) {
        throw new InvalidRequestError(`Too many images: ${imageCount} in this request, the limit is ${this.options.maxImagesPerRequest} (--max-images)`, {
          param: 'messages',
          code: 'too_many_images',
        })
      }
      if (imageCount > 0 && !this.engine.describe().vision) {
        throw new InvalidRequestError(`The model "${model}" has no vision projector loaded, so it cannot read images`, { param: 'messages', code: 'vision_unavailable' })
      }
      const fileParts = parsed.messages.flatMap((m) => m.parts.filter((p): p is ParsedFilePart => p.type === 'file'))
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
      // Fail fast under overload, before paying for image decoding.
      place ??= this.admission.reserve()
      await this.engine.health()
      // Documents are measured first: the request-wide page and token limits are checked before any page renders.
      const inspected = new Map<ParsedFilePart, unknown>()
      if (documents && fileParts.length > 0) {
        const measured = await Promise.all(fileParts.map((part) => documents.inspect(part, imageSignal)))
        documents.checkLimits(measured)
        fileParts.forEach((part, i) => inspected.set(part, measured[i]))
      }
      const messages: EngineMessage[] = await Promise.all(
        parsed.messages.map(async (message) => ({
          role: message.role,
          content: (
            await Promise.all(
              message.parts.map(async (part): Promise<EngineContentPart[]> => {
                if (part.type === 'text') return [part]
                if (part.type === 'file') return documents!.render(inspected.get(part), imageSignal)
                return [{ type: 'image', image: await prepareImage(part.url, part.where, part.detail, imageSignal) }]
              }),
            )
          ).flat(),
        })),
      )
      const release = await this.admission.acquire(signal, place)
      return this.prepared(parsed, model, requestId, messages, release)
    } catch (error) {
      imagesNeeded.abort(error)
      place?.cancel()
      throw error
    }
  }

  private prepared(parsed: ParsedChatRequest, model: string, requestId: string, messages: EngineMessage[], release: Release): PreparedChat {
    return {
      id: `chatcmpl-${randomBytes(12).toString('hex')}`,
      created: Math.floor(Date.now() / 1000),
      model,
      parsed,
      release,
      engineRequest: {
        model,
        messages,
        requestId,
        sampling: { ...parsed.sampling, maxTokens: parsed.sampling.maxTokens ?? this.options.defaultMaxTokens },
      },
    }
  }

  /** Runs a prepared request to the end and returns the OpenAI completion object. */
  async complete(prepared: PreparedChat, signal: AbortSignal): Promise<ChatCompletion> {
    let text = ''
    let usage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
    let finishReason: FinishReason = 'stop'
    try {
      for await (const event of this.engine.generate(prepared.engineRequest, signal)) {
        if (event.type === 'text') text += event.text
        else {
          finishReason = event.finishReason
          usage = toUsage(event.promptTokens, event.completionTokens)
        }
      }
    } finally {
      prepared.release()
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

  /** Chunks in OpenAI order: role first, content deltas, the finish chunk, then usage if asked. */
  async *stream(prepared: PreparedChat, signal: AbortSignal): AsyncGenerator<ChatCompletionChunk> {
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null): ChatCompletionChunk => ({
      id: prepared.id,
      object: 'chat.completion.chunk',
      created: prepared.created,
      model: prepared.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(prepared.parsed.includeUsage ? { usage: null } : {}),
    })
    try {
      yield chunk({ role: 'assistant', content: '' }, null)
      for await (const event of this.engine.generate(prepared.engineRequest, signal)) {
        if (event.type === 'text') {
          yield chunk({ content: event.text }, null)
          continue
        }
        yield chunk({}, event.finishReason)
        if (prepared.parsed.includeUsage) {
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
      prepared.release()
    }
  }
}

function toUsage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
}
