/**
 * Wire types for OpenAI's Responses API (`POST /v1/responses` and the stored responses
 * under `/v1/responses/{id}`), the part of it Visto serves. Names carry a `Responses`
 * prefix where chat's types (chat.ts) already use the plain one. Types only.
 */

import type { ErrorBody } from './errors.js'

/** `auto` is the pipeline's default budget; `original` is read as `high` (the largest Visto sends). */
export type ResponsesImageDetail = 'low' | 'high' | 'auto' | 'original'

export interface ResponsesInputText {
  type: 'input_text'
  text: string
}

/** An image: a data URL (or an http(s) URL with --allow-remote-images) in `image_url`, or an uploaded file in `file_id`. */
export interface ResponsesInputImage {
  type: 'input_image'
  image_url?: string | null
  file_id?: string | null
  detail?: ResponsesImageDetail
}

/** A PDF, read as the chat `file` part is: inline in `file_data` or uploaded (`file_id`). */
export interface ResponsesInputFile {
  type: 'input_file'
  file_data?: string
  file_id?: string | null
  filename?: string
}

export type ResponsesInputContent = ResponsesInputText | ResponsesInputImage | ResponsesInputFile

export interface ResponsesOutputText {
  type: 'output_text'
  text: string
  annotations: unknown[]
  logprobs?: ResponsesLogprob[]
}

export interface ResponsesLogprob {
  token: string
  logprob: number
  bytes: number[]
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>
}

export interface ResponsesRefusal {
  type: 'refusal'
  refusal: string
}

/** A message in `input`: `content` a string or parts; `type` may be omitted (OpenAI's "easy" input message). */
export interface ResponsesInputMessage {
  type?: 'message'
  id?: string
  role: 'user' | 'system' | 'developer' | 'assistant'
  content: string | Array<ResponsesInputContent | ResponsesOutputText | ResponsesRefusal>
  status?: ResponsesItemStatus
}

export type ResponsesItemStatus = 'in_progress' | 'completed' | 'incomplete'

/** The assistant's answer in `output` (and in `input` when a client sends history back). */
export interface ResponsesOutputMessage {
  type: 'message'
  id: string
  role: 'assistant'
  status: ResponsesItemStatus
  content: Array<ResponsesOutputText | ResponsesRefusal>
}

/** A call the model made; `arguments` is JSON text. */
export interface ResponsesFunctionCall {
  type: 'function_call'
  id?: string
  call_id: string
  name: string
  arguments: string
  status?: ResponsesItemStatus
}

/** The client's result of a call: text, or parts (an image a tool produced). */
export interface ResponsesFunctionCallOutput {
  type: 'function_call_output'
  id?: string
  call_id: string
  output: string | ResponsesInputContent[]
  status?: ResponsesItemStatus
}

export type ResponsesInputItem = ResponsesInputMessage | ResponsesOutputMessage | ResponsesFunctionCall | ResponsesFunctionCallOutput

export type ResponsesOutputItem = ResponsesOutputMessage | (ResponsesFunctionCall & { id: string; status: ResponsesItemStatus })

/** A stored input item, as `GET /v1/responses/{id}/input_items` lists it: every item has an id and a status. */
export type ResponsesStoredItem =
  | { type: 'message'; id: string; role: 'user' | 'system' | 'developer'; status: ResponsesItemStatus; content: ResponsesInputContent[] }
  | ResponsesOutputMessage
  | (ResponsesFunctionCall & { id: string; status: ResponsesItemStatus })
  | (ResponsesFunctionCallOutput & { id: string; status: ResponsesItemStatus })

/** A function the model may call: flat (`name` beside `type`), unlike chat's `{type, function: {...}}`. */
export interface ResponsesFunctionTool {
  type: 'function'
  name: string
  description?: string | null
  parameters?: Record<string, unknown> | null
  strict?: boolean | null
}

export type ResponsesToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string }

/** `text.format`: plain text, any JSON object, or JSON matching `schema`. */
export type ResponsesTextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; description?: string; strict?: boolean | null }

export interface ResponsesCreateRequest {
  model?: string
  input: string | ResponsesInputItem[]
  instructions?: string | null
  max_output_tokens?: number | null
  temperature?: number | null
  top_p?: number | null
  text?: { format?: ResponsesTextFormat }
  tools?: ResponsesFunctionTool[]
  tool_choice?: ResponsesToolChoice
  parallel_tool_calls?: boolean | null
  /** Default true: the response is kept (see README, "Responses API") so a later request can continue it. */
  store?: boolean | null
  previous_response_id?: string | null
  stream?: boolean | null
  metadata?: Record<string, string> | null
  /** `message.output_text.logprobs` adds each token's log-probability to the text (with `top_logprobs` alternatives). */
  include?: string[] | null
  top_logprobs?: number | null
  user?: string
}

export type ResponsesStatus = 'completed' | 'failed' | 'in_progress' | 'incomplete'

export interface ResponsesUsage {
  input_tokens: number
  input_tokens_details: { cached_tokens: number }
  output_tokens: number
  output_tokens_details: { reasoning_tokens: number }
  total_tokens: number
}

/** The response object: what `POST /v1/responses` answers and `GET /v1/responses/{id}` returns. */
export interface ResponsesResponse {
  id: string
  object: 'response'
  created_at: number
  status: ResponsesStatus
  completed_at: number | null
  error: { code: string; message: string } | null
  incomplete_details: { reason: 'max_output_tokens' } | null
  instructions: string | null
  max_output_tokens: number | null
  model: string
  output: ResponsesOutputItem[]
  parallel_tool_calls: boolean
  previous_response_id: string | null
  store: boolean
  temperature: number | null
  text: { format: ResponsesTextFormat }
  tool_choice: ResponsesToolChoice
  tools: ResponsesFunctionTool[]
  top_p: number | null
  truncation: 'disabled' | 'auto'
  usage: ResponsesUsage | null
  metadata: Record<string, string>
  user: string | null
}

/** `DELETE /v1/responses/{id}`. */
export interface ResponsesDeleted {
  id: string
  object: 'response'
  deleted: true
}

/** `GET /v1/responses/{id}/input_items`. */
export interface ResponsesItemList {
  object: 'list'
  data: ResponsesStoredItem[]
  first_id: string | null
  last_id: string | null
  has_more: boolean
}

/** One event of a streamed response (`stream: true`): each is sent as `event: <type>` with this as its data. */
export type ResponsesStreamEvent = { sequence_number: number } & (
  | { type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed'; response: ResponsesResponse }
  | { type: 'response.output_item.added' | 'response.output_item.done'; output_index: number; item: ResponsesOutputItem }
  | { type: 'response.content_part.added' | 'response.content_part.done'; item_id: string; output_index: number; content_index: number; part: ResponsesOutputText }
  | { type: 'response.output_text.delta'; item_id: string; output_index: number; content_index: number; delta: string; logprobs: ResponsesLogprob[] }
  | { type: 'response.output_text.done'; item_id: string; output_index: number; content_index: number; text: string; logprobs: ResponsesLogprob[] }
  | { type: 'response.function_call_arguments.delta'; item_id: string; output_index: number; delta: string }
  | { type: 'response.function_call_arguments.done'; item_id: string; output_index: number; name: string; arguments: string }
  | ({ type: 'error' } & Pick<ErrorBody, 'message' | 'param' | 'code'>)
)
