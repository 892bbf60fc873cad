import { InvalidRequestError } from '../errors.js'
import type { EngineFunction, EngineToolCall } from '../engines/engine.js'
import type { ChatJobTools } from './chat-job.js'
import { checkResponseSchema } from './json-schema-limits.js'
import { describeJsonType, isJsonObject, type JsonObject } from './json-value.js'
import type { ChatRequestLimits } from './request-limits.js'

/** Counts the characters that become prompt text (chat-request's TextBudget). */
export interface TextTaker {
  take(text: string, where: string): string
}

/** OpenAI's own limit on tools per request. */
export const maxTools = 128
/** OpenAI's rule for function names; the model writes the name back, so it must be plain. */
const functionName = /^[A-Za-z0-9_-]{1,64}$/

function fail(message: string, param: string, code = 'invalid_value'): never {
  throw new InvalidRequestError(message, { param, code })
}

/**
 * `tools`, `tool_choice` and `parallel_tool_calls` of an OpenAI chat body: each function's
 * name, description and parameter schema (checked against the same limits as a
 * response_format schema, since it becomes a grammar the same way). Undefined when the
 * request offers no tools.
 */
export function parseTools(body: JsonObject, limits: ChatRequestLimits, budget: TextTaker): ChatJobTools | undefined {
  const { tools } = body
  const choice = body.tool_choice
  if (body.parallel_tool_calls !== undefined && body.parallel_tool_calls !== null && typeof body.parallel_tool_calls !== 'boolean') {
    fail(`parallel_tool_calls must be a boolean, got ${describeJsonType(body.parallel_tool_calls)}`, 'parallel_tool_calls', 'invalid_type')
  }
  if (tools !== undefined && tools !== null && !Array.isArray(tools)) {
    fail(`tools must be an array of {"type": "function", "function": {...}}, got ${describeJsonType(tools)}`, 'tools', 'invalid_type')
  }
  if (!Array.isArray(tools) || tools.length === 0) {
    if (choice === 'required' || isJsonObject(choice)) {
      fail('tool_choice needs tools: this request offers no functions to call', 'tool_choice')
    }
    if (choice !== undefined && choice !== null && choice !== 'none' && choice !== 'auto') parseToolChoice(choice, new Set())
    return undefined
  }
  if (tools.length > maxTools) fail(`Too many tools: ${tools.length} in this request, the limit is ${maxTools}`, 'tools', 'too_many_tools')
  const names = new Set<string>()
  const functions = tools.map((tool: unknown, i: number): EngineFunction => {
    const at = `tools[${i}]`
    if (!isJsonObject(tool)) fail(`${at} must be an object {"type": "function", "function": {...}}, got ${describeJsonType(tool)}`, at, 'invalid_type')
    if (tool.type !== 'function')
      fail(`${at}.type must be "function", got ${JSON.stringify(tool.type)}`, `${at}.type`, tool.type === undefined ? 'missing_required_parameter' : 'unsupported_value')
    const fn = tool.function
    if (!isJsonObject(fn)) fail(`${at}.function must be an object with a "name", got ${describeJsonType(fn)}`, `${at}.function`, 'invalid_type')
    const { name, description, parameters } = fn
    if (typeof name !== 'string')
      fail(`${at}.function.name must be a string, got ${describeJsonType(name)}`, `${at}.function.name`, name === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (!functionName.test(name))
      fail(`${at}.function.name must be 1 to 64 letters, digits, underscores or dashes, got ${JSON.stringify(name).slice(0, 80)}`, `${at}.function.name`)
    if (names.has(name)) fail(`${at}.function.name "${name}" is offered twice; function names must be unique`, `${at}.function.name`)
    names.add(name)
    if (description !== undefined && description !== null && typeof description !== 'string') {
      fail(`${at}.function.description must be a string, got ${describeJsonType(description)}`, `${at}.function.description`, 'invalid_type')
    }
    if (parameters !== undefined && parameters !== null && !isJsonObject(parameters)) {
      fail(`${at}.function.parameters must be a JSON schema object, got ${describeJsonType(parameters)}`, `${at}.function.parameters`, 'invalid_type')
    }
    if (fn.strict !== undefined && fn.strict !== null && typeof fn.strict !== 'boolean')
      fail(`${at}.function.strict must be a boolean, got ${describeJsonType(fn.strict)}`, `${at}.function.strict`, 'invalid_type')
    budget.take(name, `${at}.function.name`)
    if (typeof description === 'string') budget.take(description, `${at}.function.description`)
    if (isJsonObject(parameters)) {
      checkResponseSchema(parameters, { maxDepth: limits.maxSchemaDepth, maxBytes: limits.maxSchemaBytes }, `${at}.function.parameters`)
      budget.take(JSON.stringify(parameters), `${at}.function.parameters`)
    }
    return {
      name,
      ...(typeof description === 'string' ? { description } : {}),
      ...(isJsonObject(parameters) ? { parameters } : {}),
    }
  })
  return { functions, choice: choice === undefined || choice === null ? 'auto' : parseToolChoice(choice, names), parallel: body.parallel_tool_calls !== false }
}

function parseToolChoice(choice: unknown, names: ReadonlySet<string>): ChatJobTools['choice'] {
  if (choice === 'none' || choice === 'auto' || choice === 'required') return choice
  if (typeof choice === 'string')
    fail(`tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}, got ${JSON.stringify(choice).slice(0, 80)}`, 'tool_choice')
  if (!isJsonObject(choice)) fail(`tool_choice must be a string or an object naming a function, got ${describeJsonType(choice)}`, 'tool_choice', 'invalid_type')
  if (choice.type !== 'function') fail(`tool_choice.type must be "function", got ${JSON.stringify(choice.type)}`, 'tool_choice.type')
  const fn = choice.function
  if (!isJsonObject(fn) || typeof fn.name !== 'string') fail('tool_choice.function must be an object with the "name" of one of the tools', 'tool_choice.function', 'invalid_type')
  if (!names.has(fn.name)) {
    fail(`tool_choice names the function "${fn.name.slice(0, 64)}", which is not among the tools (${[...names].join(', ')})`, 'tool_choice.function.name')
  }
  return { name: fn.name }
}

/** An assistant message's `tool_calls`, as a client sends the model's earlier calls back. Undefined when absent or empty. */
export function parseToolCalls(value: unknown, at: string, budget: TextTaker): EngineToolCall[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value)) fail(`${at}.tool_calls must be an array of tool calls, got ${describeJsonType(value)}`, `${at}.tool_calls`, 'invalid_type')
  if (value.length === 0) return undefined
  return value.map((call: unknown, j: number): EngineToolCall => {
    const where = `${at}.tool_calls[${j}]`
    if (!isJsonObject(call)) fail(`${where} must be an object {"id", "type": "function", "function": {"name", "arguments"}}, got ${describeJsonType(call)}`, where, 'invalid_type')
    if (typeof call.id !== 'string')
      fail(`${where}.id must be a string, got ${describeJsonType(call.id)}`, `${where}.id`, call.id === undefined ? 'missing_required_parameter' : 'invalid_type')
    if (call.type !== undefined && call.type !== 'function') fail(`${where}.type must be "function", got ${JSON.stringify(call.type)}`, `${where}.type`, 'unsupported_value')
    const fn = call.function
    if (!isJsonObject(fn)) fail(`${where}.function must be an object with "name" and "arguments", got ${describeJsonType(fn)}`, `${where}.function`, 'invalid_type')
    if (typeof fn.name !== 'string') fail(`${where}.function.name must be a string, got ${describeJsonType(fn.name)}`, `${where}.function.name`, 'invalid_type')
    if (typeof fn.arguments !== 'string') {
      fail(`${where}.function.arguments must be a string (the arguments as JSON text), got ${describeJsonType(fn.arguments)}`, `${where}.function.arguments`, 'invalid_type')
    }
    budget.take(fn.name, `${where}.function.name`)
    budget.take(fn.arguments, `${where}.function.arguments`)
    return { id: budget.take(call.id, `${where}.id`), name: fn.name, arguments: fn.arguments }
  })
}
