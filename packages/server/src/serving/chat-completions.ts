import { randomBytes } from 'node:crypto'
import type { ChatCompletion, ChatCompletionChunk, FinishReason, ImageDetail, Usage } from '@visto/protocol'
import type { Engine, EngineImage, EngineMessage, EngineRequest } from '../engines/engine.js'
import { InvalidRequestError, NotFoundError } from '../errors.js'
import type { Admission, Release } from './admission.js'
import { parseChatRequest, type ParsedChatRequest } from './chat-request.js'

export type ImagePreparer = (url: string, where: string, detail: ImageDetail, signal: AbortSignal) => Promise<EngineImage>

export interface ChatServiceOptions {
  defaultMaxTokens: number
  maxImagesPerRequest: number
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

  /** `acquire` replaces the interactive slot wait (batch lines take a background slot). */
  async prepare(body: unknown, requestId: string, signal: AbortSignal, acquire?: (signal: AbortSignal) => Promise<Release>): Promise<PreparedChat> {
    const parsed = parseChatRequest(body)
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
    // Fail fast under overload, before paying for image decoding.
    if (!acquire) this.admission.assertCanQueue()
    await this.engine.health()
    const messages: EngineMessage[] = await Promise.all(
      parsed.messages.map(async (message) => ({
        role: message.role,
        content: await Promise.all(
          message.parts.map(async (part) =>
            part.type === 'text' ? part : { type: 'image' as const, image: await this.prepareImage(part.url, part.where, part.detail, signal) },
          ),
        ),
      })),
    )
    const release = await (acquire ?? ((s: AbortSignal) => this.admission.acquire(s)))(signal)
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
