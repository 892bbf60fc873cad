import type { ResponsesFunctionTool, ResponsesInputContent, ResponsesStoredItem, ResponsesTextFormat, ResponsesToolChoice } from '@visto/protocol'
import { newId } from '../data-dir.js'
import type { EngineFunction } from '../engines/engine.js'
import { InvalidRequestError } from '../errors.js'
import type { ChatJobSampling, ChatJobTools } from '../serving/chat-job.js'
import { parseSampling } from '../serving/chat-request.js'
import { checkResponseSchema } from '../serving/json-schema-limits.js'
import { describeJsonType, isJsonObject, withArticle, type JsonObject } from '../serving/json-value.js'
import type { ChatRequestLimits } from '../serving/request-limits.js'
import { maxTools } from '../serving/tool-request.js'

/**
 * A `POST /v1/responses` body, validated. `items` are the request's input in the form
 * they are stored and listed (`/input_items`): every item typed, with an id and a
 * status, every message's content as parts. Turning them (with the history a
 * `previous_response_id` names) into chat messages is conversation.ts's job.
 */
export interface ResponsesRequest {
  model: string | undefined
  items: ResponsesStoredItem[]
  instructions: string | null
  sampling: ChatJobSampling
  tools: ChatJobTools | undefined
  stream: boolean
  /** Undefined: the client did not say (OpenAI's default is to store). */
  store: boolean | undefined
  previousResponseId: string | null
  /** Echoed in the response object, as the client sent them. */
  echo: {
    tools: ResponsesFunctionTool[]
    toolChoice: ResponsesToolChoice
    parallelToolCalls: boolean
    textFormat: ResponsesTextFormat
    metadata: Record<string, string>
    user: string | null
    maxOutputTokens: number | null
    truncation: 'disabled' | 'auto'
  }
}

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

/** Fields OpenAI defines that ask for something Visto does not do: refused, rather than silently ignored. */
const unsupportedFields: Record<string, string> = {
  background: 'background responses are not supported; send the request and wait, or stream it',
  conversation: 'conversations are not supported; continue a conversation with previous_response_id',
  prompt: 'stored prompt templates are not supported; send the input itself',
}

/** OpenAI's rule for function names; the model writes the name back, so it must be plain. */
const functionName = /^[A-Za-z0-9_-]{1,64}$/
/** A client's own item id is kept when it looks like one; anything else gets a fresh id. */
const plausibleId = /^[A-Za-z0-9_-]{1,128}$/

export function parseResponsesRequest(body: unknown, limits: ChatRequestLimits): ResponsesRequest {
  if (!isJsonObject(body)) fail(`The request body must be a JSON object, got ${describeJsonType(body)}`, 'body', 'invalid_body')
  for (const [field, why] of Object.entries(unsupportedFields)) {
    const value = body[field]
    if (value !== undefined && value !== null && value !== false) fail(`${field}: ${why}`, field, 'unsupported_parameter')
  }
  const model = optionalString(body, 'model')
  const items = parseInput(body.input, limits)
  const previousResponseId = optionalString(body, 'previous_response_id') ?? null
  const instructions = optionalString(body, 'instructions') ?? null
  const store = optionalBoolean(body, 'store')
  const stream = optionalBoolean(body, 'stream') === true

  const maxOutputTokens = optionalInteger(body, 'max_output_tokens', 1, Number.MAX_SAFE_INTEGER)
  const textFormat = parseTextFormat(body.text, limits)
  const include = body.include
  if (include !== undefined && include !== null && (!Array.isArray(include) || include.some((entry) => typeof entry !== 'string'))) {
    fail(`include must be an array of strings, got ${describeJsonType(include)}`, 'include', 'invalid_type')
  }
  const withLogprobs = Array.isArray(include) && include.includes('message.output_text.logprobs')
  const topLogprobs = optionalInteger(body, 'top_logprobs', 0, 20)
  // The sampling fields Responses shares with chat (and Visto's extensions to both), read by chat's own parser.
  const shared: JsonObject = {}
  for (const name of ['temperature', 'top_p', 'top_k', 'min_p', 'seed', 'stop', 'repeat_penalty', 'presence_penalty', 'frequency_penalty', 'ignore_eos']) shared[name] = body[name]
  const sampling: ChatJobSampling = {
    ...parseSampling(shared, limits),
    maxTokens: maxOutputTokens,
    jsonSchema: textFormat.type === 'json_schema' ? textFormat.schema : textFormat.type === 'json_object' ? { type: 'object' } : undefined,
    logprobs: withLogprobs ? (topLogprobs ?? 0) : undefined,
  }
  const { tools, echoTools, toolChoice, parallel } = parseTools(body, limits)
  const truncation = body.truncation ?? 'disabled'
  if (truncation !== 'disabled' && truncation !== 'auto') fail(`truncation must be "disabled" or "auto", got ${JSON.stringify(truncation)}`, 'truncation')

  return {
    model,
    items,
    instructions,
    sampling,
    tools,
    stream,
    store,
    previousResponseId,
    echo: {
      tools: echoTools,
      toolChoice,
      parallelToolCalls: parallel,
      textFormat,
      metadata: parseMetadata(body.metadata),
      user: optionalString(body, 'user') ?? null,
      maxOutputTokens: maxOutputTokens ?? null,
      truncation,
    },
  }
}

function optionalString(body: JsonObject, name: string, where = name): string | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') fail(`${where} must be a string, got ${describeJsonType(value)}`, where, 'invalid_type')
  return value
}

function optionalBoolean(body: JsonObject, name: string): boolean | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') fail(`${name} must be a boolean, got ${describeJsonType(value)}`, name, 'invalid_type')
  return value
}

function optionalInteger(body: JsonObject, name: string, min: number, max: number): number | undefined {
  const value = body[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value))
    fail(`${name} must be a whole number, got ${typeof value === 'number' ? value : describeJsonType(value)}`, name, 'invalid_type')
  if (value < min || value > max) fail(`${name} must be from ${min} to ${max}, got ${value}`, name)
  return value
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {}
  if (!isJsonObject(value)) fail(`metadata must be an object of strings, got ${describeJsonType(value)}`, 'metadata', 'invalid_type')
  const entries = Object.entries(value)
  // OpenAI's limits: 16 pairs, keys of 64 characters, values of 512.
  if (entries.length > 16) fail(`metadata has ${entries.length} keys, the limit is 16`, 'metadata')
  for (const [key, entry] of entries) {
    if (key.length > 64) fail(`metadata keys are at most 64 characters, got one of ${key.length}`, 'metadata')
    if (typeof entry !== 'string' || entry.length > 512)
      fail(`metadata.${key.slice(0, 64)} must be a string of at most 512 characters`, `metadata.${key.slice(0, 64)}`, 'invalid_type')
  }
  return value as Record<string, string>
}

function parseTextFormat(text: unknown, limits: ChatRequestLimits): ResponsesTextFormat {
  if (text === undefined || text === null) return { type: 'text' }
  if (!isJsonObject(text)) fail(`text must be an object with a "format", got ${describeJsonType(text)}`, 'text', 'invalid_type')
  const format = text.format
  if (format === undefined || format === null) return { type: 'text' }
  if (!isJsonObject(format)) fail(`text.format must be an object, got ${describeJsonType(format)}`, 'text.format', 'invalid_type')
  switch (format.type) {
    case 'text':
      return { type: 'text' }
    case 'json_object':
      return { type: 'json_object' }
    case 'json_schema': {
      const { name, schema, description, strict } = format
      if (typeof name !== 'string' || !functionName.test(name))
        fail('text.format.name must be 1 to 64 letters, digits, underscores or dashes', 'text.format.name', name === undefined ? 'missing_required_parameter' : 'invalid_value')
      if (!isJsonObject(schema))
        fail(
          `text.format.schema must be a JSON schema object, got ${describeJsonType(schema)}`,
          'text.format.schema',
          schema === undefined ? 'missing_required_parameter' : 'invalid_type',
        )
      if (description !== undefined && description !== null && typeof description !== 'string')
        fail(`text.format.description must be a string, got ${describeJsonType(description)}`, 'text.format.description', 'invalid_type')
      if (strict !== undefined && strict !== null && typeof strict !== 'boolean')
        fail(`text.format.strict must be a boolean, got ${describeJsonType(strict)}`, 'text.format.strict', 'invalid_type')
      checkResponseSchema(schema, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes }, 'text.format.schema')
      return { type: 'json_schema', name, schema, ...(typeof description === 'string' ? { description } : {}), strict: strict === true }
    }
    default:
      fail(`text.format.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(format.type)}`, 'text.format.type')
  }
}

/** Function tools in the Responses shape (`{type, name, parameters}`, flat); any other tool type is refused. */
function parseTools(
  body: JsonObject,
  limits: ChatRequestLimits,
): { tools: ChatJobTools | undefined; echoTools: ResponsesFunctionTool[]; toolChoice: ResponsesToolChoice; parallel: boolean } {
  const { tools } = body
  const parallelValue = body.parallel_tool_calls
  if (parallelValue !== undefined && parallelValue !== null && typeof parallelValue !== 'boolean') {
    fail(`parallel_tool_calls must be a boolean, got ${describeJsonType(parallelValue)}`, 'parallel_tool_calls', 'invalid_type')
  }
  const parallel = parallelValue !== false
  if (tools !== undefined && tools !== null && !Array.isArray(tools))
    fail(`tools must be an array of {"type": "function", "name": ...}, got ${describeJsonType(tools)}`, 'tools', 'invalid_type')
  const list = Array.isArray(tools) ? tools : []
  if (list.length > maxTools) fail(`Too many tools: ${list.length} in this request, the limit is ${maxTools}`, 'tools', 'too_many_tools')
  const names = new Set<string>()
  const echoTools: ResponsesFunctionTool[] = []
  const functions = list.map((tool: unknown, i: number): EngineFunction => {
    const at = `tools[${i}]`
    if (!isJsonObject(tool)) fail(`${at} must be an object {"type": "function", "name": ...}, got ${describeJsonType(tool)}`, at, 'invalid_type')
    if (tool.type !== 'function') {
      fail(
        tool.type === undefined
          ? `${at}.type is missing; it must be "function"`
          : `${at}.type ${JSON.stringify(tool.type)} is not supported: this server offers function tools only`,
        `${at}.type`,
        tool.type === undefined ? 'missing_required_parameter' : 'unsupported_value',
      )
    }
    const { name, description, parameters, strict } = tool
    if (typeof name !== 'string')
      fail(`${at}.name must be a string, got ${describeJsonType(name)}`, `${at}.name`, name === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (!functionName.test(name)) fail(`${at}.name must be 1 to 64 letters, digits, underscores or dashes, got ${JSON.stringify(name).slice(0, 80)}`, `${at}.name`)
    if (names.has(name)) fail(`${at}.name "${name}" is offered twice; function names must be unique`, `${at}.name`)
    names.add(name)
    if (description !== undefined && description !== null && typeof description !== 'string')
      fail(`${at}.description must be a string, got ${describeJsonType(description)}`, `${at}.description`, 'invalid_type')
    if (parameters !== undefined && parameters !== null && !isJsonObject(parameters))
      fail(`${at}.parameters must be a JSON schema object, got ${describeJsonType(parameters)}`, `${at}.parameters`, 'invalid_type')
    if (strict !== undefined && strict !== null && typeof strict !== 'boolean')
      fail(`${at}.strict must be a boolean, got ${describeJsonType(strict)}`, `${at}.strict`, 'invalid_type')
    if (isJsonObject(parameters)) checkResponseSchema(parameters, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes }, `${at}.parameters`)
    echoTools.push({
      type: 'function',
      name,
      description: typeof description === 'string' ? description : null,
      parameters: isJsonObject(parameters) ? parameters : null,
      strict: strict ?? true,
    })
    return { name, ...(typeof description === 'string' ? { description } : {}), ...(isJsonObject(parameters) ? { parameters } : {}) }
  })
  const toolChoice = parseToolChoice(body.tool_choice, names)
  return {
    tools: functions.length > 0 ? { functions, choice: typeof toolChoice === 'string' ? toolChoice : { name: toolChoice.name }, parallel } : undefined,
    echoTools,
    toolChoice,
    parallel,
  }
}

function parseToolChoice(choice: unknown, names: ReadonlySet<string>): ResponsesToolChoice {
  if (choice === undefined || choice === null) return 'auto'
  if ((choice === 'required' || isJsonObject(choice)) && names.size === 0) fail('tool_choice needs tools: this request offers no functions to call', 'tool_choice')
  if (choice === 'none' || choice === 'auto' || choice === 'required') return choice
  if (typeof choice === 'string')
    fail(`tool_choice must be "none", "auto", "required" or {"type": "function", "name": ...}, got ${JSON.stringify(choice).slice(0, 80)}`, 'tool_choice')
  if (!isJsonObject(choice)) fail(`tool_choice must be a string or an object naming a function, got ${describeJsonType(choice)}`, 'tool_choice', 'invalid_type')
  if (choice.type !== 'function') fail(`tool_choice.type must be "function" (this server offers function tools only), got ${JSON.stringify(choice.type)}`, 'tool_choice.type')
  if (typeof choice.name !== 'string') fail('tool_choice.name must be the name of one of the tools', 'tool_choice.name', 'invalid_type')
  if (!names.has(choice.name)) fail(`tool_choice names the function "${choice.name.slice(0, 64)}", which is not among the tools (${[...names].join(', ')})`, 'tool_choice.name')
  return { type: 'function', name: choice.name }
}

/** `input`: a string (one user message) or a list of items, each stored in its full form. */
function parseInput(input: unknown, limits: ChatRequestLimits): ResponsesStoredItem[] {
  if (typeof input === 'string') return [{ type: 'message', id: newId('msg_'), role: 'user', status: 'completed', content: [{ type: 'input_text', text: input }] }]
  if (!Array.isArray(input) || input.length === 0) {
    fail(
      input === undefined
        ? 'input is required: a string, or a non-empty array of input items'
        : `input must be a string or a non-empty array of items, got ${Array.isArray(input) ? 'an empty array' : describeJsonType(input)}`,
      'input',
      input === undefined ? 'missing_required_parameter' : 'invalid_type',
    )
  }
  // Checked before reading any item: a request of 500,000 tiny items costs nothing more.
  if (input.length > limits.maxMessages)
    fail(`Too many input items: ${input.length} in this request, the limit is ${limits.maxMessages} (--max-messages)`, 'input', 'too_many_messages')
  return input.map((item: unknown, i: number) => parseItem(item, `input[${i}]`, limits))
}

function itemId(item: JsonObject, prefix: string): string {
  return typeof item.id === 'string' && plausibleId.test(item.id) ? item.id : newId(prefix)
}

function parseItem(item: unknown, at: string, limits: ChatRequestLimits): ResponsesStoredItem {
  if (!isJsonObject(item)) fail(`${at} must be an input item object (a message, function_call or function_call_output), got ${describeJsonType(item)}`, at, 'invalid_type')
  const type = item.type ?? 'message'
  switch (type) {
    case 'message':
      return parseMessage(item, at, limits)
    case 'function_call': {
      const callId = requiredString(item, 'call_id', at)
      const name = requiredString(item, 'name', at)
      const args = requiredString(item, 'arguments', at)
      return { type: 'function_call', id: itemId(item, 'fc_'), call_id: callId, name, arguments: args, status: 'completed' }
    }
    case 'function_call_output': {
      const callId = requiredString(item, 'call_id', at)
      const output = item.output
      if (typeof output === 'string') return { type: 'function_call_output', id: itemId(item, 'fco_'), call_id: callId, output, status: 'completed' }
      if (!Array.isArray(output))
        fail(
          `${at}.output must be a string or an array of input_text and input_image parts, got ${describeJsonType(output)}`,
          `${at}.output`,
          output === undefined ? 'missing_required_parameter' : 'invalid_type',
        )
      const parts = parseParts(output, `${at}.output`, limits, 'tool')
      return { type: 'function_call_output', id: itemId(item, 'fco_'), call_id: callId, output: parts as ResponsesInputContent[], status: 'completed' }
    }
    default:
      fail(
        `${at}.type ${JSON.stringify(type).slice(0, 80)} is not supported; input items are "message", "function_call" and "function_call_output"`,
        `${at}.type`,
        typeof type === 'string' ? 'unsupported_value' : 'invalid_type',
      )
  }
}

function requiredString(item: JsonObject, name: string, at: string): string {
  const value = item[name]
  if (typeof value !== 'string')
    fail(`${at}.${name} must be a string, got ${describeJsonType(value)}`, `${at}.${name}`, value === undefined ? 'missing_required_parameter' : 'invalid_type')
  return value
}

function parseMessage(item: JsonObject, at: string, limits: ChatRequestLimits): ResponsesStoredItem {
  const role = item.role
  if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') {
    fail(
      `${at}.role must be "user", "system", "developer" or "assistant", got ${JSON.stringify(role)}`,
      `${at}.role`,
      role === undefined ? 'missing_required_parameter' : 'invalid_value',
    )
  }
  const content = item.content
  if (role === 'assistant') {
    // An earlier answer sent back: its text is what the model said.
    const text =
      typeof content === 'string'
        ? content
        : Array.isArray(content)
          ? parseParts(content, `${at}.content`, limits, 'assistant')
              .map((part) => (part.type === 'input_text' ? part.text : ''))
              .join('')
          : fail(`${at}.content must be a string or an array of output_text parts, got ${describeJsonType(content)}`, `${at}.content`, 'invalid_type')
    return { type: 'message', id: itemId(item, 'msg_'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] }
  }
  const parts: ResponsesInputContent[] =
    typeof content === 'string'
      ? [{ type: 'input_text', text: content }]
      : Array.isArray(content)
        ? parseParts(content, `${at}.content`, limits, role === 'user' ? 'user' : 'system')
        : fail(
            `${at}.content must be a string or an array of input_text, input_image and input_file parts, got ${describeJsonType(content)}`,
            `${at}.content`,
            content === undefined ? 'missing_required_parameter' : 'invalid_type',
          )
  return { type: 'message', id: itemId(item, 'msg_'), role, status: 'completed', content: parts }
}

/**
 * Content parts, in their stored form. Images come in user messages and tool results
 * (a screenshot a tool took); files only in user messages, as in chat; an assistant's
 * parts are its text (output_text, or a refusal), kept as input_text here.
 */
function parseParts(parts: unknown[], at: string, limits: ChatRequestLimits, role: 'user' | 'system' | 'assistant' | 'tool'): ResponsesInputContent[] {
  if (parts.length > limits.maxPartsPerMessage) {
    fail(`Too many content parts: ${parts.length} in ${at}, the limit is ${limits.maxPartsPerMessage} per message (--max-message-parts)`, at, 'too_many_parts')
  }
  return parts.map((part: unknown, j: number): ResponsesInputContent => {
    const where = `${at}[${j}]`
    if (!isJsonObject(part) || typeof part.type !== 'string') {
      fail(
        `${where} must be a content part with a "type" ("input_text", "input_image" or "input_file"), got ${isJsonObject(part) ? 'no valid "type"' : describeJsonType(part)}`,
        `${where}.type`,
        'invalid_content',
      )
    }
    switch (part.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'input_text', text: requiredString(part, 'text', where) }
      case 'refusal':
        if (role !== 'assistant') break
        return { type: 'input_text', text: requiredString(part, 'refusal', where) }
      case 'input_image': {
        if (role !== 'user' && role !== 'tool') fail(`Images are only accepted in user messages and function_call_output; ${where} is in ${withArticle(role)} message`, where)
        const imageUrl = optionalString(part, 'image_url', `${where}.image_url`)
        const fileId = optionalString(part, 'file_id', `${where}.file_id`)
        if ((imageUrl === undefined) === (fileId === undefined)) {
          fail(
            `${where} needs exactly one of "image_url" (a data:image/...;base64 URL) and "file_id" (an uploaded image)`,
            where,
            imageUrl === undefined ? 'missing_required_parameter' : 'invalid_value',
          )
        }
        const detail = part.detail ?? 'auto'
        if (detail !== 'low' && detail !== 'high' && detail !== 'auto' && detail !== 'original')
          fail(`${where}.detail must be "low", "high", "auto" or "original", got ${JSON.stringify(detail)}`, `${where}.detail`)
        return { type: 'input_image', image_url: imageUrl ?? null, file_id: fileId ?? null, detail }
      }
      case 'input_file': {
        if (role !== 'user') fail(`Files are only accepted in user messages; ${where} is in ${role === 'tool' ? 'a function_call_output' : `${withArticle(role)} message`}`, where)
        if (part.file_url !== undefined && part.file_url !== null)
          fail(
            `${where}.file_url is not supported: send the PDF inline as "file_data" (data:application/pdf;base64,...) or upload it and send "file_id"`,
            `${where}.file_url`,
            'unsupported_parameter',
          )
        const fileData = optionalString(part, 'file_data', `${where}.file_data`)
        const fileId = optionalString(part, 'file_id', `${where}.file_id`)
        if ((fileData === undefined) === (fileId === undefined)) {
          fail(
            `${where} needs exactly one of "file_data" (the PDF inline, as data:application/pdf;base64,...) and "file_id" (an uploaded file)`,
            where,
            fileData === undefined ? 'missing_required_parameter' : 'invalid_value',
          )
        }
        const filename = optionalString(part, 'filename', `${where}.filename`)
        return { type: 'input_file', ...(fileData !== undefined ? { file_data: fileData } : { file_id: fileId! }), ...(filename !== undefined ? { filename } : {}) }
      }
    }
    return fail(
      `Unsupported content part type "${part.type.slice(0, 40)}" in ${where}; supported types are "input_text", "input_image" and "input_file"`,
      `${where}.type`,
      'unsupported_content_type',
    )
  })
}
