/**
 * Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) as
 * Visto serves it: the request fields it reads, the message it answers with, the
 * stream's events and the error body. Types only; the shapes follow the official
 * `@anthropic-ai/sdk` (a type test checks ours against its own).
 */

export type AnthropicRole = 'user' | 'assistant'

export interface AnthropicTextBlockParam {
  type: 'text'
  text: string
}

/** Inline bytes (`base64`), or an http(s) address the server fetches only with --allow-remote-images (`url`). */
export type AnthropicImageSource = { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string }

export interface AnthropicImageBlockParam {
  type: 'image'
  source: AnthropicImageSource
}

/** A PDF inline (`base64`, `application/pdf`), or plain text (`text`, `text/plain`). */
export type AnthropicDocumentSource = { type: 'base64'; media_type: 'application/pdf'; data: string } | { type: 'text'; media_type: 'text/plain'; data: string }

export interface AnthropicDocumentBlockParam {
  type: 'document'
  source: AnthropicDocumentSource
  title?: string | null
  context?: string | null
}

/** An earlier call of the model's, as the client sends it back. */
export interface AnthropicToolUseBlockParam {
  type: 'tool_use'
  id: string
  name: string
  input: unknown
}

/** What a call returned: text, images (a screenshot an agent took) or documents. */
export interface AnthropicToolResultBlockParam {
  type: 'tool_result'
  tool_use_id: string
  content?: string | Array<AnthropicTextBlockParam | AnthropicImageBlockParam | AnthropicDocumentBlockParam>
  is_error?: boolean
}

export type AnthropicContentBlockParam =
  | AnthropicTextBlockParam
  | AnthropicImageBlockParam
  | AnthropicDocumentBlockParam
  | AnthropicToolUseBlockParam
  | AnthropicToolResultBlockParam

export interface AnthropicMessageParam {
  role: AnthropicRole
  content: string | AnthropicContentBlockParam[]
}

export interface AnthropicTool {
  name: string
  description?: string
  /** A JSON schema of type "object": the call's `input`. */
  input_schema: { type: 'object'; properties?: Record<string, unknown> | null; required?: string[] | null; [key: string]: unknown }
  type?: 'custom' | null
}

/** `any`: some call is required; `tool`: that one; `none`: answer in text. */
export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' }

/** The part of a request that makes the prompt: what count_tokens reads too. */
export interface AnthropicPromptParams {
  /** Visto's models (GET /v1/models); an empty or missing one is the server's first. */
  model: string
  messages: AnthropicMessageParam[]
  system?: string | AnthropicTextBlockParam[]
  tools?: AnthropicTool[]
  tool_choice?: AnthropicToolChoice
}

export interface AnthropicMessageCreateParams extends AnthropicPromptParams {
  /** Required, as in Anthropic's API. */
  max_tokens: number
  temperature?: number
  top_p?: number
  top_k?: number
  stop_sequences?: string[]
  stream?: boolean
  /** Accepted and ignored. */
  metadata?: { user_id?: string | null }
}

export type AnthropicCountTokensParams = AnthropicPromptParams

export interface AnthropicTokenCount {
  input_tokens: number
}

export interface AnthropicTextBlock {
  type: 'text'
  text: string
  citations: null
}

export interface AnthropicToolUseBlock {
  type: 'tool_use'
  /** `toolu_…` */
  id: string
  name: string
  input: Record<string, unknown>
  caller: { type: 'direct' }
}

export type AnthropicContentBlock = AnthropicTextBlock | AnthropicToolUseBlock

export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use'

/** Visto has no prompt caching of Anthropic's kind, no server tools and one service tier: those fields are null. */
export interface AnthropicUsage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: null
  cache_read_input_tokens: null
  cache_creation: null
  server_tool_use: null
  service_tier: null
  inference_geo: null
  speed: null
  output_tokens_details: null
}

export interface AnthropicMessage {
  /** `msg_…` */
  id: string
  type: 'message'
  role: 'assistant'
  model: string
  content: AnthropicContentBlock[]
  stop_reason: AnthropicStopReason | null
  /** The stop sequence that ended the answer, when one did. */
  stop_sequence: string | null
  stop_details: null
  container: null
  diagnostics: null
  usage: AnthropicUsage
}

/** The usage a stream's `message_delta` carries: the totals of the whole message. */
export interface AnthropicDeltaUsage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: null
  cache_read_input_tokens: null
  server_tool_use: null
  output_tokens_details: null
}

/**
 * The stream, in order: `message_start` (the message with no content yet), `ping`, for
 * each block `content_block_start`, its `content_block_delta`s and `content_block_stop`,
 * then `message_delta` (stop reason and usage) and `message_stop`. A failure after the
 * headers is an `error` event, and the stream ends there.
 */
export type AnthropicStreamEvent =
  | { type: 'message_start'; message: AnthropicMessage }
  | { type: 'ping' }
  | { type: 'content_block_start'; index: number; content_block: AnthropicContentBlock }
  | { type: 'content_block_delta'; index: number; delta: { type: 'text_delta'; text: string } | { type: 'input_json_delta'; partial_json: string } }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta'
      delta: { stop_reason: AnthropicStopReason; stop_sequence: string | null; stop_details: null; container: null }
      usage: AnthropicDeltaUsage
    }
  | { type: 'message_stop' }

/** Anthropic's error types; the HTTP status stays Visto's own (see the README's errors table). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'timeout_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error'

/** Every error on the Anthropic routes, as a response body and as a stream's `error` event. */
export interface AnthropicErrorResponse {
  type: 'error'
  error: { type: AnthropicErrorType; message: string }
  request_id: string | null
}
