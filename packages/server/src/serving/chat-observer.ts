/**
 * What the chat service reports about each request it runs, for metrics and the live
 * status view. Kept as a small interface so serving does not depend on how (or whether)
 * the numbers are exported.
 */
export interface ChatObserver {
  /** A generation ran to its end on the engine (cache hits are not generations). */
  generationFinished(record: GenerationRecord): void
  /** A generation failed after it started; cancellations by the client are not failures. */
  generationFailed(requestId: string): void
  /** An image is ready for the engine, by the format read from its bytes; the time includes waiting for a decode slot. */
  imagePrepared(format: string, seconds: number): void
  /** An image was refused (corrupt, too large, unsupported …), by error code. */
  imageRefused(code: string): void
}

export interface GenerationRecord {
  requestId: string
  promptTokens: number
  /** The part of promptTokens that images took. */
  imageTokens: number
  completionTokens: number
  /** From the service receiving the request to the first generated token (or the end, when none came). */
  timeToFirstTokenSeconds: number
  /** From the engine taking the prompt to its first token: how fast prompts are processed. */
  promptSeconds: number
  /** From the first token to the last. */
  generationSeconds: number
}
