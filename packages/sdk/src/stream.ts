/**
 * The async iterable returned by `create({ stream: true })`. Each `data:` event is one
 * ChatCompletionChunk; `data: [DONE]` ends it; `data: {"error":…}` (how Visto and vLLM
 * report a failure after the 200 headers went out) becomes a typed ApiError.
 */
import { isErrorEnvelope, parseSse, type ChatCompletionChunk } from '@visto/protocol'
import { ConnectionError, InvalidResponseError, errorFromStreamEvent } from './errors.js'

export interface StreamHooks {
  /** Maps a low-level read failure (abort, timeout, reset) to the error to throw. */
  translateError(error: unknown): unknown
  /** Called once when the stream ends for any reason (completion, error, consumer break). */
  finish(outcome: { error?: unknown; chunks: ChatCompletionChunk[] }): void
  /** Called on every network read, keep-alive comments included (the client resets its idle timeout here). */
  onBytes(): void
  /** Called on every chunk. */
  onChunk(chunk: ChatCompletionChunk): void
}

export class ChatCompletionStream implements AsyncIterable<ChatCompletionChunk> {
  private consumed = false

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
    private readonly hooks: StreamHooks,
    /** How many attempts it took to get the stream started (retries happen only before it starts). */
    readonly attempts = 1,
  ) {}

  get requestId(): string | undefined {
    return this.response.headers.get('x-request-id') ?? undefined
  }

  /** Stops the stream and closes the connection (the server sees the disconnect). */
  abort(): void {
    this.controller.abort()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ChatCompletionChunk> {
    if (this.consumed) throw new TypeError('A ChatCompletionStream can only be iterated once')
    this.consumed = true
    const chunks: ChatCompletionChunk[] = []
    let failure: unknown
    let done = false
    let sawFinish = false
    try {
      if (!this.response.body) throw new InvalidResponseError('Streaming response has no body')
      for await (const event of parseSse(this.response.body, () => this.hooks.onBytes())) {
        if (event.data === '[DONE]') {
          done = true
          break
        }
        let payload: unknown
        try {
          payload = JSON.parse(event.data)
        } catch {
          throw new InvalidResponseError(`Malformed stream event: ${event.data.slice(0, 200)}`)
        }
        if (isErrorEnvelope(payload)) throw errorFromStreamEvent(payload.error, this.response.headers)
        if (event.event === 'error') throw new InvalidResponseError(`Stream error event: ${event.data.slice(0, 200)}`)
        const chunk = payload as ChatCompletionChunk
        if (!Array.isArray(chunk.choices)) throw new InvalidResponseError(`Stream event is not a chat.completion.chunk: ${event.data.slice(0, 200)}`)
        if (chunk.choices.some((choice) => choice.finish_reason)) sawFinish = true
        chunks.push(chunk)
        this.hooks.onChunk(chunk)
        yield chunk
      }
      // Some servers omit [DONE]; a stream with no finish_reason and no [DONE] was cut short.
      if (!done && !sawFinish) throw new ConnectionError('The stream ended before the completion finished')
    } catch (error) {
      failure = this.hooks.translateError(error)
      throw failure
    } finally {
      if (!done) this.controller.abort()
      this.hooks.finish(failure === undefined ? { chunks } : { error: failure, chunks })
    }
  }

  /** Consumes the stream and returns the concatenated content of choice 0. */
  async text(): Promise<string> {
    let text = ''
    for await (const chunk of this) text += chunk.choices[0]?.delta.content ?? ''
    return text
  }
}
