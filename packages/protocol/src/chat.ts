/**
 * Wire types for `POST /v1/chat/completions`, as OpenAI defines them plus the few
 * extensions Visto accepts (grouped in `VistoExtensions`). Internal engine types live
 * in the server package; nothing here has runtime dependencies.
 */

export type Role = 'system' | 'user' | 'assistant' | 'developer' | 'tool'

export type ImageDetail = 'low' | 'high' | 'auto'

export interface TextPart {
  type: 'text'
  text: string
}

export interface ImageUrlPart {
  type: 'image_url'
  /** Visto also accepts a bare string here (some clients send one); see README. */
  image_url: { url: string; detail?: ImageDetail } | string
}

/**
 * OpenAI's document part: a PDF inline (`file_data`, a data URL or bare base64) or an
 * uploaded file (`file_id`). Each page reaches the model as an image after a
 * "Page N of M:" line. `pages` and `detail` are Visto extensions.
 */
export interface FilePart {
  type: 'file'
  file: {
    filename?: string
    file_data?: string
    file_id?: string
    /** Visto: which pages, 1-based, e.g. "1-3,7" (default: all). */
    pages?: string
    /** Visto: the pixel budget of each page, as image_url.detail. */
    detail?: ImageDetail
  }
}

/**
 * A video (vLLM's part): inline as a data URL (`data:video/mp4;base64,...`), an http(s)
 * URL where the server allows remote images, or an uploaded file (`file_id`, Visto).
 * Frames are sampled (2 a second by default) and reach the model as images, each pair
 * after Qwen3-VL's `<t seconds>` text. `fps`, `max_frames` and `detail` are Visto's.
 */
export interface VideoUrlPart {
  type: 'video_url'
  video_url: { url?: string; file_id?: string; fps?: number; max_frames?: number; detail?: ImageDetail } | string
}

export type ContentPart = TextPart | ImageUrlPart | FilePart | VideoUrlPart

export interface ChatMessage {
  role: Role
  content: string | ContentPart[] | null
  name?: string
  /** Assistant messages: the calls the model made. */
  tool_calls?: ToolCall[]
  /** Tool messages: the call this is the result of. */
  tool_call_id?: string
}

/** A function the model may call; `parameters` is a JSON schema of its arguments. */
export interface FunctionTool {
  type: 'function'
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null }
}

/** `auto` (the default with tools): the model decides; `required`: at least one call; a named function: that one. */
export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } }

/** A call the model made; `arguments` is a JSON object as text. */
export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

/** A piece of a tool call in a stream: the first for an index carries id and name, the rest more of the arguments. */
export interface ToolCallDelta {
  index: number
  id?: string
  type?: 'function'
  function?: { name?: string; arguments?: string }
}

export interface TopLogprob {
  token: string
  logprob: number
  bytes: number[] | null
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[]
}

export interface ChoiceLogprobs {
  content: TokenLogprob[] | null
  refusal: null
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } }

/** Fields Visto understands that OpenAI does not define. */
export interface VistoExtensions {
  /** llama.cpp-style sampling knobs, passed through to the engine. */
  top_k?: number
  min_p?: number
  repeat_penalty?: number
  /** Keep generating past the end-of-sequence token (benchmarks with fixed output lengths). */
  ignore_eos?: boolean
}

export interface ChatCompletionRequest extends VistoExtensions {
  model: string
  messages: ChatMessage[]
  max_tokens?: number | null
  max_completion_tokens?: number | null
  temperature?: number | null
  top_p?: number | null
  n?: number | null
  stop?: string | string[] | null
  seed?: number | null
  presence_penalty?: number | null
  frequency_penalty?: number | null
  response_format?: ResponseFormat
  stream?: boolean | null
  stream_options?: { include_usage?: boolean } | null
  tools?: FunctionTool[]
  tool_choice?: ToolChoice
  parallel_tool_calls?: boolean
  logprobs?: boolean | null
  top_logprobs?: number | null
  user?: string
}

export type FinishReason = 'stop' | 'length' | 'tool_calls'

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export interface ChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  system_fingerprint?: string
  choices: Array<{
    index: number
    /** `content` is null when the model answered with tool calls alone. */
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ToolCall[] }
    logprobs: ChoiceLogprobs | null
    finish_reason: FinishReason
  }>
  usage: Usage
}

export interface ChatCompletionChunk {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  system_fingerprint?: string
  choices: Array<{
    index: number
    delta: { role?: 'assistant'; content?: string; tool_calls?: ToolCallDelta[] }
    logprobs: ChoiceLogprobs | null
    finish_reason: FinishReason | null
  }>
  usage?: Usage | null
}
