import { InvalidRequestError } from '../errors.js'
import type { ChatJobFilePart, ChatJobMessage, ChatJobPart, ChatJobRequest, ChatJobSampling, ChatJobVideoPart } from './chat-job.js'
import { checkResponseSchema } from './json-schema-limits.js'
import { describeJsonType, isJsonObject, withArticle, type JsonObject } from './json-value.js'
import { defaultChatRequestLimits, type ChatRequestLimits } from './request-limits.js'
import { parseToolCalls, parseTools } from './tool-request.js'

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

function optionalNumber(body: JsonObject, name: string, range: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean }): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${name} must be a number, got ${describeJsonType(value)}`, name, 'invalid_type')
  if (range.integer && !Number.isInteger(value)) fail(`${name} must be a whole number, got ${value}`, name)
  if (range.min !== undefined && (range.exclusiveMin ? value <= range.min : value < range.min)) {
    fail(`${name} must be ${range.exclusiveMin ? 'greater than' : 'at least'} ${range.min}, got ${value}`, name)
  }
  if (range.max !== undefined && value > range.max) fail(`${name} must be at most ${range.max}, got ${value}`, name)
  return value
}

const ROLES: Record<string, ChatJobMessage['role'] | undefined> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
  tool: 'tool',
}

/** Counts text characters across the request and stops at the limit (--max-text-chars), before the rest is read. */
export class TextBudget {
  private used = 0
  constructor(private readonly limit: number) {}

  take(text: string, where: string): string {
    this.used += text.length
    if (this.used > this.limit) {
      fail(`Too much text: over ${this.limit} characters in this request at ${where} (--max-text-chars)`, where, 'too_much_text')
    }
    return text
  }
}

function parseContent(content: unknown, index: number, role: ChatJobMessage['role'], limits: ChatRequestLimits, budget: TextBudget): ChatJobPart[] {
  const at = `messages[${index}]`
  if (typeof content === 'string') return [{ type: 'text', text: budget.take(content, `${at}.content`) }]
  if ((content === null || content === undefined) && role === 'assistant') return []
  if (!Array.isArray(content)) {
    fail(`content must be a string or array of content parts: ${at}.content is ${describeJsonType(content)}`, `${at}.content`, 'invalid_content')
  }
  if (content.length > limits.maxPartsPerMessage) {
    fail(
      `Too many content parts: ${content.length} in ${at}.content, the limit is ${limits.maxPartsPerMessage} per message (--max-message-parts)`,
      `${at}.content`,
      'too_many_parts',
    )
  }
  return content.map((part, j): ChatJobPart => {
    const where = `${at}.content[${j}]`
    if (!isJsonObject(part) || typeof part.type !== 'string') {
      fail(
        `content must be a string or array of content parts, each with a "type" ("text", "image_url", "video_url" or "file"): ${where} ${isJsonObject(part) ? 'has no valid "type"' : `is ${describeJsonType(part)}`}`,
        `${where}.type`,
        'invalid_content',
      )
    }
    if (part.type === 'text') {
      if (typeof part.text !== 'string') fail(`${where}.text must be a string, got ${describeJsonType(part.text)}`, `${where}.text`, 'invalid_type')
      return { type: 'text', text: budget.take(part.text, `${where}.text`) }
    }
    if (part.type === 'image_url') {
      const image = part.image_url
      // Some clients send image_url as a bare string; we accept it (documented in the README).
      const url = typeof image === 'string' ? image : isJsonObject(image) ? image.url : undefined
      if (typeof url !== 'string') {
        fail(`${where}.image_url must be an object with a "url" string (a data:image/...;base64 URL), got ${describeJsonType(image)}`, `${where}.image_url`, 'invalid_type')
      }
      const detail = isJsonObject(image) && image.detail !== undefined && image.detail !== null ? image.detail : 'auto'
      if (detail !== 'low' && detail !== 'high' && detail !== 'auto') {
        fail(`${where}.image_url.detail must be "low", "high" or "auto", got ${JSON.stringify(detail)}`, `${where}.image_url.detail`)
      }
      // A tool's result may be a picture (a screenshot an agent took): Qwen3-VL's template places it in the tool response.
      if (role !== 'user' && role !== 'tool') fail(`Images are only accepted in user and tool messages; ${where} is in ${withArticle(role)} message`, `${where}`)
      return { type: 'image', url, detail, where }
    }
    if (part.type === 'file') {
      if (role !== 'user') fail(`Files are only accepted in user messages; ${where} is in ${withArticle(role)} message`, `${where}`)
      return parseFilePart(part.file, where)
    }
    if (part.type === 'video_url') {
      if (role !== 'user') fail(`Videos are only accepted in user messages; ${where} is in ${withArticle(role)} message`, `${where}`)
      return parseVideoPart(part.video_url, where)
    }
    return fail(
      `Unsupported content part type "${part.type}" in ${where}; supported types are "text", "image_url", "video_url" and "file"`,
      `${where}.type`,
      'unsupported_content_type',
    )
  })
}

function parseFilePart(file: unknown, where: string): ChatJobFilePart {
  if (!isJsonObject(file)) {
    fail(`${where}.file must be an object with "file_data" (a data:application/pdf;base64 URL) or "file_id", got ${describeJsonType(file)}`, `${where}.file`, 'invalid_type')
  }
  const optionalString = (name: string): string | undefined => {
    const value = file[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string') fail(`${where}.file.${name} must be a string, got ${describeJsonType(value)}`, `${where}.file.${name}`, 'invalid_type')
    return value
  }
  const fileData = optionalString('file_data')
  const fileId = optionalString('file_id')
  if ((fileData === undefined) === (fileId === undefined)) {
    fail(
      `${where}.file needs exactly one of "file_data" (the PDF inline, as data:application/pdf;base64,...) and "file_id" (an uploaded file)`,
      `${where}.file`,
      fileData === undefined ? 'missing_required_parameter' : 'invalid_value',
    )
  }
  const detail = file.detail ?? 'auto'
  if (detail !== 'low' && detail !== 'high' && detail !== 'auto') {
    fail(`${where}.file.detail must be "low", "high" or "auto", got ${JSON.stringify(detail)}`, `${where}.file.detail`)
  }
  return { type: 'file', where, filename: optionalString('filename'), fileData, fileId, pages: optionalString('pages'), detail }
}

/** The most frames a part may ask for: Qwen's processor's own ceiling. */
export const maxVideoFramesPerPart = 768

/**
 * `{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,..."}}` (vLLM's
 * shape), or `{"file_id": "file-..."}` for an uploaded file, with Visto's per-part
 * `fps`, `max_frames` and `detail`.
 */
function parseVideoPart(video: unknown, where: string): ChatJobVideoPart {
  // Like image_url, a bare string is taken as the URL.
  const spec: JsonObject =
    typeof video === 'string'
      ? { url: video }
      : isJsonObject(video)
        ? video
        : fail(
            `${where}.video_url must be an object with a "url" (a data:video/mp4;base64 URL) or a "file_id", got ${describeJsonType(video)}`,
            `${where}.video_url`,
            'invalid_type',
          )
  const optionalString = (name: string): string | undefined => {
    const value = spec[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'string') fail(`${where}.video_url.${name} must be a string, got ${describeJsonType(value)}`, `${where}.video_url.${name}`, 'invalid_type')
    return value
  }
  const url = optionalString('url')
  const fileId = optionalString('file_id')
  if ((url === undefined) === (fileId === undefined)) {
    fail(
      `${where}.video_url needs exactly one of "url" (the video inline, as data:video/mp4;base64,...) and "file_id" (an uploaded file)`,
      `${where}.video_url`,
      url === undefined ? 'missing_required_parameter' : 'invalid_value',
    )
  }
  const number = (name: string): number | undefined => {
    const value = spec[name]
    if (value === undefined || value === null) return undefined
    if (typeof value !== 'number' || !Number.isFinite(value))
      fail(`${where}.video_url.${name} must be a number, got ${describeJsonType(value)}`, `${where}.video_url.${name}`, 'invalid_type')
    return value
  }
  const fps = number('fps')
  if (fps !== undefined && !(fps > 0 && fps <= 60)) fail(`${where}.video_url.fps must be greater than 0 and at most 60 frames a second, got ${fps}`, `${where}.video_url.fps`)
  const maxFrames = number('max_frames')
  if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 4 && maxFrames <= maxVideoFramesPerPart)) {
    fail(`${where}.video_url.max_frames must be a whole number from 4 to ${maxVideoFramesPerPart}, got ${maxFrames}`, `${where}.video_url.max_frames`)
  }
  const detail = spec.detail ?? 'auto'
  if (detail !== 'low' && detail !== 'high' && detail !== 'auto') {
    fail(`${where}.video_url.detail must be "low", "high" or "auto", got ${JSON.stringify(detail)}`, `${where}.video_url.detail`)
  }
  return { type: 'video', where, url, fileId, fps, maxFrames, detail }
}

function parseResponseFormat(value: unknown, limits: ChatRequestLimits): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined
  if (!isJsonObject(value)) fail(`response_format must be an object, got ${describeJsonType(value)}`, 'response_format', 'invalid_type')
  switch (value.type) {
    case 'text':
      return undefined
    case 'json_object':
      return { type: 'object' }
    case 'json_schema': {
      const spec = value.json_schema
      if (!isJsonObject(spec)) fail('response_format.json_schema must be an object with a "schema"', 'response_format.json_schema', 'invalid_type')
      const schema = spec.schema ?? {}
      if (!isJsonObject(schema)) fail(`response_format.json_schema.schema must be an object, got ${describeJsonType(schema)}`, 'response_format.json_schema.schema', 'invalid_type')
      checkResponseSchema(schema, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes })
      return schema
    }
    default:
      fail(`response_format.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(value.type)}`, 'response_format.type')
  }
}

/**
 * Sampling parameters by their OpenAI names (`max_tokens`, `temperature`, `response_format` …),
 * validated: a chat body's, or the fields of an upload form that uses the same names.
 */
export function parseSampling(fields: JsonObject, limits: ChatRequestLimits = defaultChatRequestLimits): ChatJobSampling {
  const maxCompletion = optionalNumber(fields, 'max_completion_tokens', { integer: true, min: 1 })
  const maxTokens = optionalNumber(fields, 'max_tokens', { integer: true, min: 1 })
  let stop: string[] | undefined
  if (typeof fields.stop === 'string') stop = [fields.stop]
  else if (Array.isArray(fields.stop)) {
    if (fields.stop.length > 4 || fields.stop.some((s: unknown) => typeof s !== 'string')) fail('stop must be a string or an array of at most 4 strings', 'stop')
    stop = fields.stop as string[]
  } else if (fields.stop !== undefined && fields.stop !== null) fail(`stop must be a string or an array of strings, got ${describeJsonType(fields.stop)}`, 'stop', 'invalid_type')
  const seed = optionalNumber(fields, 'seed', { integer: true })
  if (fields.ignore_eos !== undefined && typeof fields.ignore_eos !== 'boolean')
    fail(`ignore_eos must be a boolean, got ${describeJsonType(fields.ignore_eos)}`, 'ignore_eos', 'invalid_type')
  if (fields.logprobs !== undefined && fields.logprobs !== null && typeof fields.logprobs !== 'boolean')
    fail(`logprobs must be a boolean, got ${describeJsonType(fields.logprobs)}`, 'logprobs', 'invalid_type')
  const topLogprobs = optionalNumber(fields, 'top_logprobs', { integer: true, min: 0, max: 20 })
  if (topLogprobs !== undefined && fields.logprobs !== true) fail('top_logprobs needs "logprobs": true', 'top_logprobs')
  return {
    maxTokens: maxCompletion ?? maxTokens,
    temperature: optionalNumber(fields, 'temperature', { min: 0, max: 2 }),
    topP: optionalNumber(fields, 'top_p', { min: 0, max: 1, exclusiveMin: true }),
    topK: optionalNumber(fields, 'top_k', { integer: true, min: 0 }),
    minP: optionalNumber(fields, 'min_p', { min: 0, max: 1 }),
    repeatPenalty: optionalNumber(fields, 'repeat_penalty', { min: 0 }),
    presencePenalty: optionalNumber(fields, 'presence_penalty', { min: -2, max: 2 }),
    frequencyPenalty: optionalNumber(fields, 'frequency_penalty', { min: -2, max: 2 }),
    seed: seed === undefined ? undefined : seed >>> 0,
    stop,
    ignoreEos: fields.ignore_eos === true ? true : undefined,
    jsonSchema: parseResponseFormat(fields.response_format, limits),
    logprobs: fields.logprobs === true ? (topLogprobs ?? 0) : undefined,
  }
}

/**
 * Validates an OpenAI chat-completions body into what a chat job asks of the model; the
 * caller adds how it runs (request id, admission class, cache directive). Throws
 * InvalidRequestError naming the parameter.
 */
export function parseChatRequest(body: unknown, limits: ChatRequestLimits = defaultChatRequestLimits): ChatJobRequest {
  if (!isJsonObject(body)) fail(`The request body must be a JSON object, got ${describeJsonType(body)}`, 'body', 'invalid_body')
  if (body.model !== undefined && body.model !== null && typeof body.model !== 'string') {
    fail(`model must be a string, got ${describeJsonType(body.model)}`, 'model', 'invalid_type')
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    fail(
      body.messages === undefined
        ? 'messages is required: a non-empty array of {role, content}'
        : `messages must be a non-empty array, got ${Array.isArray(body.messages) ? 'an empty array' : describeJsonType(body.messages)}`,
      'messages',
      body.messages === undefined ? 'missing_required_parameter' : 'invalid_type',
    )
  }
  // Checked before reading any message: a request of 500,000 tiny messages costs nothing more.
  if (body.messages.length > limits.maxMessages) {
    fail(`Too many messages: ${body.messages.length} in this request, the limit is ${limits.maxMessages} (--max-messages)`, 'messages', 'too_many_messages')
  }
  const budget = new TextBudget(limits.maxTextChars)
  // The ids of the calls made so far: a tool message must answer one of them.
  const callIds = new Set<string>()
  const messages = body.messages.map((message: unknown, i: number): ChatJobMessage => {
    if (!isJsonObject(message)) fail(`messages[${i}] must be an object with "role" and "content", got ${describeJsonType(message)}`, `messages[${i}]`, 'invalid_type')
    const role = typeof message.role === 'string' ? ROLES[message.role] : undefined
    if (!role) {
      fail(`messages[${i}].role must be "system", "user", "assistant" or "tool", got ${JSON.stringify(message.role)}`, `messages[${i}].role`, 'invalid_value')
    }
    const parsed: ChatJobMessage = { role, parts: parseContent(message.content, i, role, limits, budget) }
    if (role === 'assistant') {
      const toolCalls = parseToolCalls(message.tool_calls, `messages[${i}]`, budget)
      if (toolCalls) {
        parsed.toolCalls = toolCalls
        for (const call of toolCalls) callIds.add(call.id)
      }
    } else if (message.tool_calls !== undefined && message.tool_calls !== null) {
      fail(`messages[${i}].tool_calls is only accepted in assistant messages`, `messages[${i}].tool_calls`)
    }
    if (role === 'tool') {
      const id = message.tool_call_id
      if (typeof id !== 'string') {
        fail(
          `messages[${i}].tool_call_id must be a string naming the call this result answers, got ${describeJsonType(id)}`,
          `messages[${i}].tool_call_id`,
          id === undefined ? 'missing_required_parameter' : 'invalid_type',
        )
      }
      if (!callIds.has(id)) {
        fail(`messages[${i}] answers the tool call "${id.slice(0, 64)}", which no earlier assistant message made`, `messages[${i}].tool_call_id`)
      }
      parsed.toolCallId = budget.take(id, `messages[${i}].tool_call_id`)
    }
    return parsed
  })
  if (!messages.some((m) => m.role === 'user')) fail('messages must contain at least one user message', 'messages')

  // The cap (--max-n) is the chat service's to check, for every entry point alike.
  const n = optionalNumber(body, 'n', { integer: true, min: 1 })
  const tools = parseTools(body, limits, budget)

  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    fail(`stream must be a boolean, got ${describeJsonType(body.stream)}`, 'stream', 'invalid_type')
  const streamOptions = body.stream_options
  if (streamOptions !== undefined && streamOptions !== null && !isJsonObject(streamOptions)) fail('stream_options must be an object', 'stream_options', 'invalid_type')

  return {
    model: typeof body.model === 'string' ? body.model : undefined,
    messages,
    sampling: parseSampling(body, limits),
    stream: body.stream === true,
    includeUsage: body.stream === true && isJsonObject(streamOptions) && streamOptions.include_usage === true,
    ...(tools ? { tools } : {}),
    ...(n !== undefined && n > 1 ? { n } : {}),
  }
}
