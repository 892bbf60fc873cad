import type { EngineToolCall } from '../engines/engine.js'
import { InvalidRequestError } from '../errors.js'
import type { ChatJobMessage, ChatJobPart, ChatJobRequest, ChatJobSampling } from './chat-job.js'
import { TextBudget } from './chat-request.js'
import { checkResponseSchema } from './json-schema-limits.js'
import { describeJsonType, isJsonObject, withArticle, type JsonObject } from './json-value.js'
import { resolveOllamaModel } from './ollama-models.js'
import { defaultChatRequestLimits, type ChatRequestLimits } from './request-limits.js'
import { parseTools } from './tool-request.js'

/**
 * An Ollama `/api/chat` or `/api/generate` body, read into what a chat job asks of the
 * model. Ollama's own rules where they differ from OpenAI's: `stream` is true unless
 * false, images are base64 strings beside the text, sampling sits in `options`,
 * `format` is "json" or a schema. What Visto cannot honour gets a 400 that says so
 * (`raw`, `suffix`, `template`, `context`, `think: true`); what only tunes how Ollama
 * loads a model (`keep_alive`, `num_ctx`, `num_gpu` …) is accepted and has no effect,
 * since the server loaded its model once, at start.
 */
export interface OllamaJobRequest {
  /** The model's name as the client wrote it: every answer echoes it in `model`. */
  name: string
  /** The job, its model resolved to one of the engine's ids. */
  request: ChatJobRequest
  /** No messages (chat) or no prompt and images (generate): Ollama's "load the model" call, answered without the engine. */
  loadOnly: boolean
}

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

/** `/api/chat`: `messages` with `images`, `tools`, the common fields. */
export function parseOllamaChat(body: unknown, models: readonly string[], limits: ChatRequestLimits = defaultChatRequestLimits): OllamaJobRequest {
  const fields = requestObject(body)
  const { name, model } = parseModel(fields, models)
  const budget = new TextBudget(limits.maxTextChars)
  const common = parseCommon(fields, name, limits)
  const messages = parseMessages(fields.messages, limits, budget)
  const tools = parseOllamaTools(fields, limits, budget)
  return {
    name,
    loadOnly: messages.length === 0,
    request: { model, messages, ...common, ...(tools ? { tools } : {}) },
  }
}

/** `/api/generate`: one `prompt` with its `images`, and an optional `system`. */
export function parseOllamaGenerate(body: unknown, models: readonly string[], limits: ChatRequestLimits = defaultChatRequestLimits): OllamaJobRequest {
  const fields = requestObject(body)
  const { name, model } = parseModel(fields, models)
  const budget = new TextBudget(limits.maxTextChars)
  const common = parseCommon(fields, name, limits)
  if (fields.raw === true)
    fail('raw is not supported: Visto always renders the prompt through the model\'s own chat template; send it without "raw"', 'raw', 'unsupported_parameter')
  if (fields.raw !== undefined && fields.raw !== null && typeof fields.raw !== 'boolean') fail(`raw must be a boolean, got ${describeJsonType(fields.raw)}`, 'raw', 'invalid_type')
  for (const unsupported of ['suffix', 'template'] as const) {
    const value = fields[unsupported]
    if (value === undefined || value === null || value === '') continue
    if (typeof value !== 'string') fail(`${unsupported} must be a string, got ${describeJsonType(value)}`, unsupported, 'invalid_type')
    fail(
      unsupported === 'suffix'
        ? 'suffix is not supported: the model Visto serves does not fill in the middle; send the text before the gap as the prompt'
        : "template is not supported: Visto renders every prompt with the model's own chat template",
      unsupported,
      'unsupported_parameter',
    )
  }
  if (Array.isArray(fields.context) ? fields.context.length > 0 : fields.context !== undefined && fields.context !== null) {
    fail('context is not supported: send the conversation as messages to /api/chat instead', 'context', 'unsupported_parameter')
  }
  const prompt = optionalString(fields, 'prompt') ?? ''
  const system = optionalString(fields, 'system')
  const images = parseImages(fields.images, 'images', 'user', limits)
  const messages: ChatJobMessage[] = []
  if (system !== undefined && system !== '') messages.push({ role: 'system', parts: [{ type: 'text', text: budget.take(system, 'system') }] })
  const parts: ChatJobPart[] = [...images]
  if (prompt !== '') parts.push({ type: 'text', text: budget.take(prompt, 'prompt') })
  messages.push({ role: 'user', parts })
  return { name, loadOnly: prompt === '' && images.length === 0, request: { model, messages, ...common } }
}

function requestObject(body: unknown): JsonObject {
  if (!isJsonObject(body)) fail(`The request body must be a JSON object, got ${describeJsonType(body)}`, 'body', 'invalid_body')
  return body
}

/** Ollama requires a model; its name resolves to one the engine serves, else a 404 naming those. */
function parseModel(fields: JsonObject, models: readonly string[]): { name: string; model: string } {
  const name = fields.model
  if (name === undefined || name === null || name === '') fail('model is required', 'model', 'missing_required_parameter')
  if (typeof name !== 'string') fail(`model must be a string, got ${describeJsonType(name)}`, 'model', 'invalid_type')
  return { name, model: resolveOllamaModel(name, models) }
}

function optionalString(fields: JsonObject, name: string): string | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') fail(`${name} must be a string, got ${describeJsonType(value)}`, name, 'invalid_type')
  return value
}

/** What chat and generate share: stream, format, options, keep_alive, think, logprobs. */
function parseCommon(fields: JsonObject, name: string, limits: ChatRequestLimits): Pick<ChatJobRequest, 'sampling' | 'stream' | 'includeUsage'> {
  if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== 'boolean')
    fail(`stream must be a boolean, got ${describeJsonType(fields.stream)}`, 'stream', 'invalid_type')
  const keepAlive = fields.keep_alive
  if (keepAlive !== undefined && keepAlive !== null && typeof keepAlive !== 'string' && (typeof keepAlive !== 'number' || !Number.isFinite(keepAlive))) {
    fail(`keep_alive must be a duration ("5m") or a number of seconds, got ${describeJsonType(keepAlive)}`, 'keep_alive', 'invalid_type')
  }
  const think = fields.think
  if (think !== undefined && think !== null && think !== false) {
    if (think === true || think === 'high' || think === 'medium' || think === 'low') fail(`"${name}" does not support thinking`, 'think', 'unsupported_parameter')
    fail(`think must be a boolean, got ${describeJsonType(think)}`, 'think', 'invalid_type')
  }
  return { sampling: parseSamplingOptions(fields, limits), stream: fields.stream !== false, includeUsage: false }
}

/** A number in `options`, checked: the param is named `options.<name>`. */
function optionNumber(options: JsonObject, name: string, range: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {}): number | undefined {
  const value = options[name]
  const param = `options.${name}`
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${param} must be a number, got ${describeJsonType(value)}`, param, 'invalid_type')
  if (range.integer && !Number.isInteger(value)) fail(`${param} must be a whole number, got ${value}`, param)
  if (range.min !== undefined && (range.exclusiveMin ? value <= range.min : value < range.min))
    fail(`${param} must be ${range.exclusiveMin ? 'greater than' : 'at least'} ${range.min}, got ${value}`, param)
  if (range.max !== undefined && value > range.max) fail(`${param} must be at most ${range.max}, got ${value}`, param)
  return value
}

/** Most stop sequences per request: llama-server checks each against every generated token. */
const maxStops = 16

/** `options` (the sampling ones), `format` and `logprobs`, as the engine's sampling parameters. */
export function parseSamplingOptions(fields: JsonObject, limits: ChatRequestLimits = defaultChatRequestLimits): ChatJobSampling {
  const options = fields.options ?? {}
  if (!isJsonObject(options)) fail(`options must be an object of model parameters, got ${describeJsonType(options)}`, 'options', 'invalid_type')
  // Ollama's -1 (until the model stops, its default) and -2 (until the context fills) both leave the server's default cap.
  const numPredict = optionNumber(options, 'num_predict', { integer: true })
  if (numPredict !== undefined && numPredict < 1 && numPredict !== -1 && numPredict !== -2)
    fail(`options.num_predict must be at least 1 (or -1 for no limit of its own), got ${numPredict}`, 'options.num_predict')
  // A negative seed is Ollama's "pick one at random".
  const seed = optionNumber(options, 'seed', { integer: true })
  let stop: string[] | undefined
  const stopValue = options.stop
  if (typeof stopValue === 'string') stop = [stopValue]
  else if (Array.isArray(stopValue)) {
    if (stopValue.length > maxStops || stopValue.some((s: unknown) => typeof s !== 'string')) fail(`options.stop must be an array of at most ${maxStops} strings`, 'options.stop')
    stop = stopValue.length > 0 ? (stopValue as string[]) : undefined
  } else if (stopValue !== undefined && stopValue !== null) fail(`options.stop must be an array of strings, got ${describeJsonType(stopValue)}`, 'options.stop', 'invalid_type')
  if (fields.logprobs !== undefined && fields.logprobs !== null && typeof fields.logprobs !== 'boolean')
    fail(`logprobs must be a boolean, got ${describeJsonType(fields.logprobs)}`, 'logprobs', 'invalid_type')
  const topLogprobs = optionalTopLogprobs(fields)
  if (topLogprobs !== undefined && topLogprobs > 0 && fields.logprobs !== true) fail('top_logprobs needs "logprobs": true', 'top_logprobs')
  return {
    maxTokens: numPredict !== undefined && numPredict > 0 ? numPredict : undefined,
    temperature: optionNumber(options, 'temperature', { min: 0 }),
    topP: optionNumber(options, 'top_p', { min: 0, max: 1, exclusiveMin: true }),
    topK: optionNumber(options, 'top_k', { integer: true, min: 0 }),
    minP: optionNumber(options, 'min_p', { min: 0, max: 1 }),
    repeatPenalty: optionNumber(options, 'repeat_penalty', { min: 0 }),
    presencePenalty: optionNumber(options, 'presence_penalty'),
    frequencyPenalty: optionNumber(options, 'frequency_penalty'),
    seed: seed === undefined || seed < 0 ? undefined : seed >>> 0,
    stop,
    jsonSchema: parseFormat(fields.format, limits),
    logprobs: fields.logprobs === true ? (topLogprobs ?? 0) : undefined,
  }
}

function optionalTopLogprobs(fields: JsonObject): number | undefined {
  const value = fields.top_logprobs
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(`top_logprobs must be a whole number, got ${describeJsonType(value)}`, 'top_logprobs', 'invalid_type')
  if (value < 0 || value > 20) fail(`top_logprobs must be between 0 and 20, got ${value}`, 'top_logprobs')
  return value
}

/** `"json"`: any JSON object; a schema: output matching it (checked like a response_format schema). */
function parseFormat(format: unknown, limits: ChatRequestLimits): Record<string, unknown> | undefined {
  if (format === undefined || format === null || format === '') return undefined
  if (format === 'json') return { type: 'object' }
  if (!isJsonObject(format))
    fail(`format must be "json" or a JSON schema object, got ${typeof format === 'string' ? JSON.stringify(format.slice(0, 40)) : describeJsonType(format)}`, 'format')
  checkResponseSchema(format, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes }, 'format')
  return format
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool'])

function parseMessages(value: unknown, limits: ChatRequestLimits, budget: TextBudget): ChatJobMessage[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) fail(`messages must be an array of {role, content}, got ${describeJsonType(value)}`, 'messages', 'invalid_type')
  if (value.length > limits.maxMessages)
    fail(`Too many messages: ${value.length} in this request, the limit is ${limits.maxMessages} (--max-messages)`, 'messages', 'too_many_messages')
  // The calls made so far that no tool message has answered yet, oldest first.
  const openCalls: EngineToolCall[] = []
  const messages = value.map((message: unknown, i: number): ChatJobMessage => {
    const at = `messages[${i}]`
    if (!isJsonObject(message)) fail(`${at} must be an object with "role" and "content", got ${describeJsonType(message)}`, at, 'invalid_type')
    const role = message.role
    if (typeof role !== 'string' || !ROLES.has(role)) fail(`${at}.role must be "system", "user", "assistant" or "tool", got ${JSON.stringify(role)}`, `${at}.role`)
    const jobRole = role as ChatJobMessage['role']
    const content = message.content ?? ''
    if (typeof content !== 'string') fail(`${at}.content must be a string, got ${describeJsonType(content)}`, `${at}.content`, 'invalid_type')
    // Images before the text they illustrate, as Ollama renders them.
    const parts: ChatJobPart[] = parseImages(message.images, `${at}.images`, jobRole, limits)
    if (content !== '') parts.push({ type: 'text', text: budget.take(content, `${at}.content`) })
    const parsed: ChatJobMessage = { role: jobRole, parts }
    if (jobRole === 'assistant') {
      const calls = parseToolCalls(message.tool_calls, at, budget)
      if (calls) {
        parsed.toolCalls = calls
        openCalls.push(...calls)
      }
    } else if (message.tool_calls !== undefined && message.tool_calls !== null) {
      fail(`${at}.tool_calls is only accepted in assistant messages`, `${at}.tool_calls`)
    }
    if (jobRole === 'tool') {
      const answered = answeredCall(message, at, openCalls)
      if (answered) {
        openCalls.splice(openCalls.indexOf(answered), 1)
        parsed.toolCallId = answered.id
      }
    }
    return parsed
  })
  if (messages.length > 0 && !messages.some((m) => m.role === 'user')) fail('messages must contain at least one user message', 'messages')
  return messages
}

/**
 * The call a tool message answers. Ollama's clients name the function (`tool_name`) more
 * often than the call's id: the id when given, else the oldest open call of that name,
 * else the oldest open call. Undefined when no call is open (the result is still shown
 * to the model as a tool message).
 */
function answeredCall(message: JsonObject, at: string, openCalls: readonly EngineToolCall[]): EngineToolCall | undefined {
  const id = message.tool_call_id
  const name = message.tool_name
  if (id !== undefined && id !== null && typeof id !== 'string') fail(`${at}.tool_call_id must be a string, got ${describeJsonType(id)}`, `${at}.tool_call_id`, 'invalid_type')
  if (name !== undefined && name !== null && typeof name !== 'string') fail(`${at}.tool_name must be a string, got ${describeJsonType(name)}`, `${at}.tool_name`, 'invalid_type')
  if (typeof id === 'string') {
    const call = openCalls.find((c) => c.id === id)
    if (!call) fail(`${at} answers the tool call "${id.slice(0, 64)}", which no earlier assistant message made`, `${at}.tool_call_id`)
    return call
  }
  return (typeof name === 'string' ? openCalls.find((c) => c.name === name) : undefined) ?? openCalls[0]
}

/** An assistant message's `tool_calls` in Ollama's shape: arguments as an object (a JSON string is accepted too). */
function parseToolCalls(value: unknown, at: string, budget: TextBudget): EngineToolCall[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) fail(`${at}.tool_calls must be an array of {"function": {"name", "arguments"}}, got ${describeJsonType(value)}`, `${at}.tool_calls`, 'invalid_type')
  if (value.length === 0) return undefined
  return value.map((call: unknown, j: number): EngineToolCall => {
    const where = `${at}.tool_calls[${j}]`
    if (!isJsonObject(call)) fail(`${where} must be an object {"function": {"name", "arguments"}}, got ${describeJsonType(call)}`, where, 'invalid_type')
    const fn = call.function
    if (!isJsonObject(fn)) fail(`${where}.function must be an object with "name" and "arguments", got ${describeJsonType(fn)}`, `${where}.function`, 'invalid_type')
    if (typeof fn.name !== 'string') fail(`${where}.function.name must be a string, got ${describeJsonType(fn.name)}`, `${where}.function.name`, 'invalid_type')
    const args = fn.arguments ?? {}
    if (!isJsonObject(args) && typeof args !== 'string')
      fail(`${where}.function.arguments must be an object, got ${describeJsonType(args)}`, `${where}.function.arguments`, 'invalid_type')
    if (call.id !== undefined && call.id !== null && typeof call.id !== 'string')
      fail(`${where}.id must be a string, got ${describeJsonType(call.id)}`, `${where}.id`, 'invalid_type')
    const text = typeof args === 'string' ? args : JSON.stringify(args)
    budget.take(fn.name, `${where}.function.name`)
    budget.take(text, `${where}.function.arguments`)
    // Ollama's calls often carry no id; the template and an upstream engine want one.
    return { id: typeof call.id === 'string' && call.id !== '' ? budget.take(call.id, `${where}.id`) : `call_${at.replace(/\D+/g, '')}_${j}`, name: fn.name, arguments: text }
  })
}

/** Ollama's `images`: base64 strings (a data URL is accepted too), in user and tool messages. */
function parseImages(value: unknown, at: string, role: ChatJobMessage['role'], limits: ChatRequestLimits): ChatJobPart[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) fail(`${at} must be an array of base64-encoded images, got ${describeJsonType(value)}`, at, 'invalid_type')
  if (value.length === 0) return []
  if (role !== 'user' && role !== 'tool') fail(`Images are only accepted in user and tool messages; ${at} is in ${withArticle(role)} message`, at)
  if (value.length > limits.maxPartsPerMessage)
    fail(`Too many images: ${value.length} in ${at}, the limit is ${limits.maxPartsPerMessage} per message (--max-message-parts)`, at, 'too_many_parts')
  return value.map((image: unknown, j: number): ChatJobPart => {
    const where = `${at}[${j}]`
    if (typeof image !== 'string') fail(`${where} must be a base64-encoded image string, got ${describeJsonType(image)}`, where, 'invalid_type')
    if (/^\s*https?:/i.test(image)) fail(`${where} is a URL; Ollama's images are the image's bytes as base64, not addresses`, where, 'invalid_image')
    return { type: 'image', url: image, detail: 'auto', where }
  })
}

/** Ollama's `tools` are OpenAI's function tools; the model chooses (`auto`), calls in parallel allowed. */
function parseOllamaTools(fields: JsonObject, limits: ChatRequestLimits, budget: TextBudget): ChatJobRequest['tools'] {
  return parseTools({ tools: fields.tools }, limits, budget)
}
