import type { EngineFunction, EngineToolCall } from '../engines/engine.js'
import { InvalidRequestError } from '../errors.js'
import { TextBudget } from './chat-request.js'
import type { ChatJobFilePart, ChatJobImagePart, ChatJobMessage, ChatJobPart, ChatJobRequest, ChatJobTools } from './chat-job.js'
import { checkResponseSchema } from './json-schema-limits.js'
import { describeJsonType, isJsonObject, type JsonObject } from './json-value.js'
import { defaultChatRequestLimits, type ChatRequestLimits } from './request-limits.js'
import { maxTools } from './tool-request.js'

/**
 * Anthropic Messages bodies (`POST /v1/messages` and its count_tokens) into chat jobs:
 * `system` becomes a system message, content blocks become job parts (an `image` block's
 * base64 source a data URL, a `document` a PDF file part), `tool_use` blocks the
 * assistant's calls and each `tool_result` a tool message, so the one chat service runs
 * them with the same limits, image pipeline and caches as every other entry point.
 * Errors are the usual InvalidRequestErrors naming the field; the route renders them in
 * Anthropic's shape.
 */

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

/** What makes the prompt: the part of a body count_tokens reads too. */
export type AnthropicPrompt = Pick<ChatJobRequest, 'model' | 'messages' | 'tools'>

/** Anthropic's rule for tool names (the model writes the name back, so it must be plain). */
const toolName = /^[A-Za-z0-9_-]{1,64}$/
/** Enough for any client we know of; each one is matched against every generated token. */
const maxStopSequences = 16

/** Validates a Messages body into the job's request part; `max_tokens` is required, as in Anthropic's API. */
export function parseAnthropicMessagesRequest(body: unknown, limits: ChatRequestLimits = defaultChatRequestLimits): ChatJobRequest {
  const prompt = parseAnthropicPrompt(body, limits)
  const fields = body as JsonObject
  if (fields.max_tokens === undefined || fields.max_tokens === null) {
    fail('max_tokens is required: the most tokens the answer may have, a whole number of at least 1', 'max_tokens', 'missing_required_parameter')
  }
  const maxTokens = number(fields, 'max_tokens', { integer: true, min: 1 })
  if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== 'boolean')
    fail(`stream must be a boolean, got ${describeJsonType(fields.stream)}`, 'stream', 'invalid_type')
  return {
    ...prompt,
    sampling: {
      maxTokens,
      temperature: number(fields, 'temperature', { min: 0, max: 1 }),
      topP: number(fields, 'top_p', { min: 0, max: 1, exclusiveMin: true }),
      topK: number(fields, 'top_k', { integer: true, min: 0 }),
      stop: stopSequences(fields.stop_sequences),
    },
    stream: fields.stream === true,
    includeUsage: false,
  }
}

/** `model`, `system`, `messages`, `tools` and `tool_choice`: a count_tokens body, or the prompt of a Messages body. */
export function parseAnthropicPrompt(body: unknown, limits: ChatRequestLimits = defaultChatRequestLimits): AnthropicPrompt {
  if (!isJsonObject(body)) fail(`The request body must be a JSON object, got ${describeJsonType(body)}`, 'body', 'invalid_body')
  if (body.model !== undefined && body.model !== null && typeof body.model !== 'string')
    fail(`model must be a string, got ${describeJsonType(body.model)}`, 'model', 'invalid_type')
  const budget = new TextBudget(limits.maxTextChars)
  const messages: ChatJobMessage[] = []
  const system = parseSystem(body.system, budget)
  if (system) messages.push(system)
  const list = body.messages
  if (!Array.isArray(list) || list.length === 0) {
    fail(
      list === undefined
        ? 'messages is required: a non-empty array of {role, content}'
        : `messages must be a non-empty array, got ${Array.isArray(list) ? 'an empty array' : describeJsonType(list)}`,
      'messages',
      list === undefined ? 'missing_required_parameter' : 'invalid_type',
    )
  }
  if (list.length > limits.maxMessages)
    fail(`Too many messages: ${list.length} in this request, the limit is ${limits.maxMessages} (--max-messages)`, 'messages', 'too_many_messages')
  const reader = new ConversationReader(limits, budget)
  for (const [i, message] of list.entries()) messages.push(...reader.message(message, i))
  if (!messages.some((m) => m.role === 'user')) fail('messages must contain at least one user message', 'messages')
  const tools = parseTools(body, limits, budget)
  return { model: typeof body.model === 'string' ? body.model : undefined, messages, ...(tools ? { tools } : {}) }
}

function number(fields: JsonObject, name: string, range: { min: number; max?: number; integer?: boolean; exclusiveMin?: boolean }): number | undefined {
  const value = fields[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${name} must be a number, got ${describeJsonType(value)}`, name, 'invalid_type')
  if (range.integer && !Number.isInteger(value)) fail(`${name} must be a whole number, got ${value}`, name)
  if (range.exclusiveMin ? value <= range.min : value < range.min) fail(`${name} must be ${range.exclusiveMin ? 'greater than' : 'at least'} ${range.min}, got ${value}`, name)
  if (range.max !== undefined && value > range.max) fail(`${name} must be at most ${range.max}, got ${value}`, name)
  return value
}

function stopSequences(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) fail(`stop_sequences must be an array of strings, got ${describeJsonType(value)}`, 'stop_sequences', 'invalid_type')
  if (value.length > maxStopSequences) fail(`Too many stop_sequences: ${value.length}, the limit is ${maxStopSequences}`, 'stop_sequences')
  value.forEach((s: unknown, i: number) => {
    if (typeof s !== 'string' || s === '')
      fail(`stop_sequences[${i}] must be a non-empty string, got ${typeof s === 'string' ? 'an empty string' : describeJsonType(s)}`, `stop_sequences[${i}]`)
  })
  return value.length > 0 ? (value as string[]) : undefined
}

function parseSystem(value: unknown, budget: TextBudget): ChatJobMessage | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value === '' ? undefined : { role: 'system', parts: [{ type: 'text', text: budget.take(value, 'system') }] }
  if (!Array.isArray(value)) fail(`system must be a string or an array of text blocks, got ${describeJsonType(value)}`, 'system', 'invalid_type')
  const parts = value.map((block: unknown, i: number) => textBlock(block, `system[${i}]`, budget))
  return parts.length > 0 ? { role: 'system', parts } : undefined
}

function textBlock(block: unknown, where: string, budget: TextBudget): ChatJobPart {
  if (!isJsonObject(block) || block.type !== 'text') fail(`${where} must be a text block {"type": "text", "text": ...}`, where, 'invalid_content')
  if (typeof block.text !== 'string') fail(`${where}.text must be a string, got ${describeJsonType(block.text)}`, `${where}.text`, 'invalid_type')
  return { type: 'text', text: budget.take(block.text, `${where}.text`) }
}

/**
 * Reads the conversation in order. One Anthropic user message may hold several
 * `tool_result` blocks and text after them: each result becomes a tool message of its
 * own and the other blocks a user message, in the order they came.
 */
class ConversationReader {
  /** The ids of the calls made so far: a result must answer one of them. */
  private readonly callIds = new Set<string>()

  constructor(
    private readonly limits: ChatRequestLimits,
    private readonly budget: TextBudget,
  ) {}

  message(message: unknown, i: number): ChatJobMessage[] {
    const at = `messages[${i}]`
    if (!isJsonObject(message)) fail(`${at} must be an object with "role" and "content", got ${describeJsonType(message)}`, at, 'invalid_type')
    const role = message.role
    if (role !== 'user' && role !== 'assistant' && role !== 'system') fail(`${at}.role must be "user" or "assistant", got ${JSON.stringify(role)}`, `${at}.role`)
    const content = message.content
    if (typeof content === 'string') return [{ role, parts: [{ type: 'text', text: this.budget.take(content, `${at}.content`) }] }]
    if (!Array.isArray(content)) fail(`${at}.content must be a string or an array of content blocks, got ${describeJsonType(content)}`, `${at}.content`, 'invalid_content')
    if (content.length > this.limits.maxPartsPerMessage) {
      fail(
        `Too many content blocks: ${content.length} in ${at}.content, the limit is ${this.limits.maxPartsPerMessage} per message (--max-message-parts)`,
        `${at}.content`,
        'too_many_parts',
      )
    }
    if (role === 'system') return [{ role, parts: content.map((block: unknown, j: number) => textBlock(block, `${at}.content[${j}]`, this.budget)) }]
    if (role === 'assistant') return [this.assistant(content, at)]
    return this.user(content, at)
  }

  private assistant(content: unknown[], at: string): ChatJobMessage {
    const parts: ChatJobPart[] = []
    const toolCalls: EngineToolCall[] = []
    content.forEach((block, j) => {
      const where = `${at}.content[${j}]`
      const type = blockType(block, where)
      if (type === 'text') parts.push(textBlock(block, where, this.budget))
      else if (type === 'tool_use') toolCalls.push(this.toolUse(block as JsonObject, where))
      // An earlier answer's reasoning, from a model that shows it: not part of this model's prompt.
      else if (type === 'thinking' || type === 'redacted_thinking') return
      else if (type === 'image' || type === 'document' || type === 'tool_result') fail(`${where} is ${articled(type)} block, which only user messages may hold`, `${where}.type`)
      else unsupported(type, where)
    })
    return { role: 'assistant', parts, ...(toolCalls.length > 0 ? { toolCalls } : {}) }
  }

  private toolUse(block: JsonObject, where: string): EngineToolCall {
    const { id, name, input } = block
    if (typeof id !== 'string' || id === '')
      fail(`${where}.id must be a non-empty string, got ${describeJsonType(id)}`, `${where}.id`, id === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (typeof name !== 'string')
      fail(`${where}.name must be a string, got ${describeJsonType(name)}`, `${where}.name`, name === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (!isJsonObject(input)) fail(`${where}.input must be an object (the call's arguments), got ${describeJsonType(input)}`, `${where}.input`, 'invalid_type')
    this.callIds.add(id)
    this.budget.take(name, `${where}.name`)
    return { id: this.budget.take(id, `${where}.id`), name, arguments: this.budget.take(JSON.stringify(input), `${where}.input`) }
  }

  private user(content: unknown[], at: string): ChatJobMessage[] {
    const messages: ChatJobMessage[] = []
    let pending: ChatJobPart[] = []
    const flush = (): void => {
      if (pending.length > 0) messages.push({ role: 'user', parts: pending })
      pending = []
    }
    content.forEach((block, j) => {
      const where = `${at}.content[${j}]`
      const type = blockType(block, where)
      if (type === 'tool_result') {
        flush()
        messages.push(this.toolResult(block as JsonObject, where))
      } else {
        pending.push(this.userPart(block as JsonObject, type, where, 'user'))
      }
    })
    flush()
    // An empty content array still is the user's turn.
    return messages.length > 0 ? messages : [{ role: 'user', parts: [] }]
  }

  private userPart(block: JsonObject, type: string, where: string, inside: 'user' | 'tool'): ChatJobPart {
    switch (type) {
      case 'text':
        return textBlock(block, where, this.budget)
      case 'image':
        return imageBlock(block, where)
      case 'document':
        if (inside === 'tool') fail(`${where} is a document inside a tool_result; send the PDF in a user message's content instead`, `${where}.type`)
        return documentBlock(block, where, this.budget)
      case 'tool_use':
        return fail(`${where} is a tool_use block, which only assistant messages may hold`, `${where}.type`)
      default:
        unsupported(type, where)
    }
  }

  private toolResult(block: JsonObject, where: string): ChatJobMessage {
    const id = block.tool_use_id
    if (typeof id !== 'string')
      fail(
        `${where}.tool_use_id must be a string naming the tool_use this result answers, got ${describeJsonType(id)}`,
        `${where}.tool_use_id`,
        id === undefined ? 'missing_required_parameter' : 'invalid_type',
      )
    if (!this.callIds.has(id)) fail(`${where} answers the tool_use "${id.slice(0, 64)}", which no earlier assistant message made`, `${where}.tool_use_id`)
    if (block.is_error !== undefined && block.is_error !== null && typeof block.is_error !== 'boolean')
      fail(`${where}.is_error must be a boolean, got ${describeJsonType(block.is_error)}`, `${where}.is_error`, 'invalid_type')
    const content = block.content
    let parts: ChatJobPart[]
    if (content === undefined || content === null) parts = []
    else if (typeof content === 'string') parts = [{ type: 'text', text: this.budget.take(content, `${where}.content`) }]
    else if (Array.isArray(content)) {
      if (content.length > this.limits.maxPartsPerMessage) {
        fail(
          `Too many content blocks: ${content.length} in ${where}.content, the limit is ${this.limits.maxPartsPerMessage} per message (--max-message-parts)`,
          `${where}.content`,
          'too_many_parts',
        )
      }
      parts = content.map((inner: unknown, k: number) => {
        const innerWhere = `${where}.content[${k}]`
        return this.userPart(inner as JsonObject, blockType(inner, innerWhere), innerWhere, 'tool')
      })
    } else fail(`${where}.content must be a string or an array of text and image blocks, got ${describeJsonType(content)}`, `${where}.content`, 'invalid_content')
    // The model should know the call failed, as Anthropic's own models are told.
    if (block.is_error === true) parts.unshift({ type: 'text', text: 'Error: ' })
    return { role: 'tool', parts, toolCallId: this.budget.take(id, `${where}.tool_use_id`) }
  }
}

function blockType(block: unknown, where: string): string {
  if (!isJsonObject(block) || typeof block.type !== 'string') {
    fail(
      `${where} must be a content block with a "type" ("text", "image", "document", "tool_use" or "tool_result"), got ${isJsonObject(block) ? 'no valid "type"' : describeJsonType(block)}`,
      `${where}.type`,
      'invalid_content',
    )
  }
  return block.type
}

function unsupported(type: string, where: string): never {
  fail(
    `Unsupported content block type "${type.slice(0, 64)}" in ${where}; supported types are "text", "image", "document", "tool_use" and "tool_result"`,
    `${where}.type`,
    'unsupported_content_type',
  )
}

const articled = (type: string): string => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`)

function imageBlock(block: JsonObject, where: string): ChatJobImagePart {
  const source = block.source
  if (!isJsonObject(source))
    fail(`${where}.source must be an object {"type": "base64", "media_type", "data"} or {"type": "url", "url"}, got ${describeJsonType(source)}`, `${where}.source`, 'invalid_type')
  if (source.type === 'base64') {
    const mediaType = source.media_type
    if (typeof mediaType !== 'string' || !/^image\/[\w.+-]+$/i.test(mediaType)) {
      fail(`${where}.source.media_type must name an image type such as "image/png" or "image/jpeg", got ${JSON.stringify(mediaType)?.slice(0, 64)}`, `${where}.source.media_type`)
    }
    if (typeof source.data !== 'string') fail(`${where}.source.data must be a base64 string, got ${describeJsonType(source.data)}`, `${where}.source.data`, 'invalid_type')
    return { type: 'image', url: `data:${mediaType};base64,${source.data}`, detail: 'auto', where }
  }
  if (source.type === 'url') {
    // The pipeline refuses http(s) unless the server runs with --allow-remote-images, and fetches SSRF-guarded when it does.
    if (typeof source.url !== 'string') fail(`${where}.source.url must be a string, got ${describeJsonType(source.url)}`, `${where}.source.url`, 'invalid_type')
    return { type: 'image', url: source.url, detail: 'auto', where }
  }
  fail(
    `${where}.source.type must be "base64" or "url", got ${JSON.stringify(source.type)?.slice(0, 64)}; Anthropic file ids are not served here, send the image inline`,
    `${where}.source.type`,
  )
}

function documentBlock(block: JsonObject, where: string, budget: TextBudget): ChatJobPart {
  const source = block.source
  if (!isJsonObject(source))
    fail(`${where}.source must be an object {"type": "base64", "media_type": "application/pdf", "data"}, got ${describeJsonType(source)}`, `${where}.source`, 'invalid_type')
  const title = typeof block.title === 'string' ? block.title : undefined
  if (source.type === 'text') {
    if (typeof source.data !== 'string') fail(`${where}.source.data must be a string, got ${describeJsonType(source.data)}`, `${where}.source.data`, 'invalid_type')
    return { type: 'text', text: budget.take(title ? `${title}\n\n${source.data}` : source.data, `${where}.source.data`) }
  }
  if (source.type !== 'base64') fail(`${where}.source.type must be "base64" (a PDF) or "text", got ${JSON.stringify(source.type)?.slice(0, 64)}`, `${where}.source.type`)
  if (source.media_type !== 'application/pdf')
    fail(`${where}.source.media_type must be "application/pdf", got ${JSON.stringify(source.media_type)?.slice(0, 64)}`, `${where}.source.media_type`)
  if (typeof source.data !== 'string') fail(`${where}.source.data must be a base64 string, got ${describeJsonType(source.data)}`, `${where}.source.data`, 'invalid_type')
  const file: ChatJobFilePart = {
    type: 'file',
    where,
    filename: title,
    fileData: `data:application/pdf;base64,${source.data}`,
    fileId: undefined,
    pages: undefined,
    detail: 'auto',
  }
  return file
}

/** `tools` (custom tools only: Visto runs no server tools) and `tool_choice`. Undefined when the request offers none. */
function parseTools(body: JsonObject, limits: ChatRequestLimits, budget: TextBudget): ChatJobTools | undefined {
  const { tools } = body
  const choice = parseToolChoice(body.tool_choice)
  if (tools !== undefined && tools !== null && !Array.isArray(tools))
    fail(`tools must be an array of {"name", "description", "input_schema"}, got ${describeJsonType(tools)}`, 'tools', 'invalid_type')
  if (!Array.isArray(tools) || tools.length === 0) {
    if (choice && (choice.type === 'any' || choice.type === 'tool')) fail('tool_choice needs tools: this request offers no tools to call', 'tool_choice')
    return undefined
  }
  if (tools.length > maxTools) fail(`Too many tools: ${tools.length} in this request, the limit is ${maxTools}`, 'tools', 'too_many_tools')
  const names = new Set<string>()
  const functions = tools.map((tool: unknown, i: number): EngineFunction => {
    const at = `tools[${i}]`
    if (!isJsonObject(tool)) fail(`${at} must be an object {"name", "description", "input_schema"}, got ${describeJsonType(tool)}`, at, 'invalid_type')
    if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
      fail(
        `${at}.type is ${JSON.stringify(tool.type).slice(0, 64)}, a tool Anthropic's servers run; this server runs none: offer custom tools ({"name", "description", "input_schema"})`,
        `${at}.type`,
        'unsupported_value',
      )
    }
    const { name, description, input_schema: schema } = tool
    if (typeof name !== 'string')
      fail(`${at}.name must be a string, got ${describeJsonType(name)}`, `${at}.name`, name === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (!toolName.test(name)) fail(`${at}.name must be 1 to 64 letters, digits, underscores or dashes, got ${JSON.stringify(name).slice(0, 80)}`, `${at}.name`)
    if (names.has(name)) fail(`${at}.name "${name}" is offered twice; tool names must be unique`, `${at}.name`)
    names.add(name)
    if (description !== undefined && description !== null && typeof description !== 'string')
      fail(`${at}.description must be a string, got ${describeJsonType(description)}`, `${at}.description`, 'invalid_type')
    if (!isJsonObject(schema))
      fail(
        `${at}.input_schema must be a JSON schema object, got ${describeJsonType(schema)}`,
        `${at}.input_schema`,
        schema === undefined ? 'missing_required_parameter' : 'invalid_type',
      )
    // It becomes a grammar, as a response_format schema does: the same limits.
    checkResponseSchema(schema, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes }, `${at}.input_schema`)
    budget.take(name, `${at}.name`)
    if (typeof description === 'string') budget.take(description, `${at}.description`)
    budget.take(JSON.stringify(schema), `${at}.input_schema`)
    return { name, ...(typeof description === 'string' ? { description } : {}), parameters: schema }
  })
  if (choice?.type === 'tool' && !names.has(choice.name)) {
    fail(`tool_choice names the tool "${choice.name.slice(0, 64)}", which is not among the tools (${[...names].join(', ')})`, 'tool_choice.name')
  }
  let jobChoice: ChatJobTools['choice'] = 'auto'
  if (choice?.type === 'tool') jobChoice = { name: choice.name }
  else if (choice?.type === 'any') jobChoice = 'required'
  else if (choice?.type === 'none') jobChoice = 'none'
  return { functions, choice: jobChoice, parallel: !choice?.disableParallel }
}

type ToolChoice = { type: 'auto' | 'any' | 'none'; disableParallel: boolean } | { type: 'tool'; name: string; disableParallel: boolean }

function parseToolChoice(value: unknown): ToolChoice | undefined {
  if (value === undefined || value === null) return undefined
  if (!isJsonObject(value)) fail(`tool_choice must be an object {"type": "auto" | "any" | "tool" | "none"}, got ${describeJsonType(value)}`, 'tool_choice', 'invalid_type')
  const disable = value.disable_parallel_tool_use
  if (disable !== undefined && disable !== null && typeof disable !== 'boolean') {
    fail(`tool_choice.disable_parallel_tool_use must be a boolean, got ${describeJsonType(disable)}`, 'tool_choice.disable_parallel_tool_use', 'invalid_type')
  }
  const disableParallel = disable === true
  switch (value.type) {
    case 'auto':
    case 'any':
    case 'none':
      return { type: value.type, disableParallel }
    case 'tool':
      if (typeof value.name !== 'string')
        fail(
          `tool_choice.name must be the name of one of the tools, got ${describeJsonType(value.name)}`,
          'tool_choice.name',
          value.name === undefined ? 'missing_required_parameter' : 'invalid_type',
        )
      return { type: 'tool', name: value.name, disableParallel }
    default:
      fail(`tool_choice.type must be "auto", "any", "tool" or "none", got ${JSON.stringify(value.type)?.slice(0, 64)}`, 'tool_choice.type')
  }
}
