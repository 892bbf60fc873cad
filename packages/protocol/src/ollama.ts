/**
 * Ollama's native API as Visto serves it (`/api/chat`, `/api/generate`, `/api/tags`,
 * `/api/show`, `/api/ps`, `/api/version`): the wire shapes of ollama/ollama's docs/api.md,
 * the fields Visto reads or writes. Durations are nanoseconds; times are RFC 3339 strings.
 */

/** Per-request model options; Visto maps the sampling ones and accepts the rest (see the README). */
export interface OllamaOptions {
  temperature?: number
  /** Tokens to generate at most; -1 (Ollama's default) and -2: the server's --default-max-tokens. */
  num_predict?: number
  top_p?: number
  top_k?: number
  min_p?: number
  seed?: number
  stop?: string[]
  repeat_penalty?: number
  presence_penalty?: number
  frequency_penalty?: number
  /** Load-time and other options (num_ctx, num_gpu, mirostat …) are accepted and have no effect. */
  [option: string]: unknown
}

/** A function call the model made (or a client sends back): arguments as a JSON object, not text. */
export interface OllamaToolCall {
  id?: string
  function: { index?: number; name: string; arguments: Record<string, unknown> }
}

export interface OllamaTool {
  type: 'function'
  function: { name: string; description?: string; parameters?: Record<string, unknown> }
}

export interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
  /** Base64-encoded images (no data: prefix needed). */
  images?: string[]
  tool_calls?: OllamaToolCall[]
  /** Tool messages: the function whose result this is. */
  tool_name?: string
  /** Tool messages: the call this result answers, when the client knows its id. */
  tool_call_id?: string
}

interface OllamaRequestBase {
  model: string
  /** Absent: true (Ollama streams by default). */
  stream?: boolean
  /** `"json"`, or a JSON schema the output must match. */
  format?: 'json' | Record<string, unknown>
  options?: OllamaOptions
  /** Accepted and ignored: the model stays loaded while the server runs. */
  keep_alive?: string | number
  /** Only false: the models Visto serves do not think before answering. */
  think?: boolean
  logprobs?: boolean
  top_logprobs?: number
}

export interface OllamaChatRequest extends OllamaRequestBase {
  /** Absent or empty: Ollama's "load the model" call, answered with done_reason "load". */
  messages?: OllamaMessage[]
  tools?: OllamaTool[]
}

export interface OllamaGenerateRequest extends OllamaRequestBase {
  /** Absent or empty: the "load the model" call. */
  prompt?: string
  system?: string
  images?: string[]
}

/** The statistics of the last object of an answer (`done: true`). */
export interface OllamaStats {
  done_reason: 'stop' | 'length' | 'load'
  total_duration: number
  load_duration: number
  prompt_eval_count: number
  prompt_eval_duration: number
  eval_count: number
  eval_duration: number
}

export interface OllamaLogprob {
  token: string
  logprob: number
  bytes?: number[]
  top_logprobs?: Array<{ token: string; logprob: number; bytes?: number[] }>
}

/** One object of a chat answer: the whole answer, or one NDJSON line of a streamed one. */
export type OllamaChatResponse = {
  model: string
  created_at: string
  message: { role: 'assistant'; content: string; tool_calls?: OllamaToolCall[] }
  logprobs?: OllamaLogprob[]
} & ({ done: false } | ({ done: true } & Partial<OllamaStats>))

export type OllamaGenerateResponse = {
  model: string
  created_at: string
  response: string
  logprobs?: OllamaLogprob[]
} & ({ done: false } | ({ done: true } & Partial<OllamaStats>))

export interface OllamaModelDetails {
  parent_model: string
  format: string
  family: string
  families: string[] | null
  parameter_size: string
  quantization_level: string
}

export interface OllamaModel {
  /** `id:latest` for each id Visto answers to. */
  name: string
  model: string
  modified_at: string
  /** Bytes of the model's files (language model and projector). */
  size: number
  digest: string
  details: OllamaModelDetails
}

export interface OllamaTagsResponse {
  models: OllamaModel[]
}

export interface OllamaRunningModel extends OllamaModel {
  expires_at: string
  size_vram: number
  context_length: number
}

export interface OllamaPsResponse {
  models: OllamaRunningModel[]
}

export interface OllamaShowResponse {
  license: string
  modelfile: string
  parameters: string
  template: string
  details: OllamaModelDetails
  model_info: Record<string, unknown>
  projector_info?: Record<string, unknown>
  capabilities: Array<'completion' | 'vision' | 'tools'>
  modified_at: string
}

export interface OllamaVersionResponse {
  version: string
}

/** Every Ollama error: the message alone, the HTTP status says the rest. */
export interface OllamaErrorBody {
  error: string
}
