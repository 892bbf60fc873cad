import type { ServeConfig } from '../config.js'

/**
 * Per-request size caps: each bounds work done on the event loop before the engine
 * sees anything, and each names the `visto serve` flag that raises it.
 */
export interface ChatRequestLimits {
  maxMessages: number
  maxPartsPerMessage: number
  /** Characters of text across all messages (image URLs are bounded by the image limits). */
  maxTextChars: number
  /** Nesting of objects and arrays in response_format.json_schema.schema. */
  maxSchemaDepth: number
  /** The schema's size as compact JSON, in bytes. */
  maxSchemaBytes: number
}

export const defaultChatRequestLimits: ChatRequestLimits = Object.freeze({
  maxMessages: 256,
  maxPartsPerMessage: 64,
  maxTextChars: 1_000_000,
  maxSchemaDepth: 32,
  maxSchemaBytes: 64 * 1024,
})

/** The caps `visto serve` was started with. */
export function chatRequestLimitsFrom(config: ServeConfig): ChatRequestLimits {
  return {
    maxMessages: config['max-messages'],
    maxPartsPerMessage: config['max-message-parts'],
    maxTextChars: config['max-text-chars'],
    maxSchemaDepth: config['max-schema-depth'],
    maxSchemaBytes: Math.round(config['max-schema-kb'] * 1024),
  }
}
