import { randomBytes } from 'node:crypto'
import type { EngineEvent, EngineTools } from '../engine.js'

/**
 * Qwen3-VL's tool-call format (Hermes style), as its chat template teaches it: each call
 * a JSON object `{"name": …, "arguments": {…}}` between `<tool_call>` and `</tool_call>`
 * on lines of their own.
 */
export const TOOL_CALL_OPEN = '<tool_call>'
export const TOOL_CALL_CLOSE = '</tool_call>'

/** What the prompt ends with when a call is required: the model continues inside the call. */
export const FORCED_CALL_PREFIX = `${TOOL_CALL_OPEN}\n`

export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`
}

type ParsedEvent = Extract<EngineEvent, { type: 'text' | 'tool_call' | 'tool_call_arguments' }>

/**
 * Splits generated text into text and tool calls as it streams. Text goes out at once,
 * except what may be the start of `<tool_call>` and whitespace next to a call (the line
 * breaks the format puts around calls are not content). A call is sent whole once its
 * block closes (or generation ends inside it), as `tool_call` then one
 * `tool_call_arguments`; a block that does not hold a call (not JSON, no name) stays
 * text, exactly as generated.
 */
export class ToolCallParser {
  private buffer = ''
  private inCall: boolean
  /** Whitespace held back: dropped when a call follows, sent when more text does. */
  private pendingSpace = ''
  /** Just after a call: the line break that follows it is format, not content. */
  private afterCall = false
  /** The open call was begun by the prompt, not generated: it has no tag to give back as text. */
  private openedByPrompt: boolean
  private calls = 0

  /**
   * @param insideCall the prompt already opened a call (`FORCED_CALL_PREFIX`)
   * @param maxCalls calls beyond this many are dropped (`parallel_tool_calls: false`)
   */
  constructor(
    insideCall: boolean,
    private readonly maxCalls = Number.POSITIVE_INFINITY,
    private readonly newId: () => string = newToolCallId,
  ) {
    this.inCall = insideCall
    this.openedByPrompt = insideCall
  }

  get callCount(): number {
    return this.calls
  }

  push(text: string): ParsedEvent[] {
    this.buffer += text
    const events: ParsedEvent[] = []
    for (;;) {
      if (this.inCall) {
        const end = this.buffer.indexOf(TOOL_CALL_CLOSE)
        if (end < 0) break
        const body = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + TOOL_CALL_CLOSE.length)
        this.inCall = false
        this.closeCall(body, `${this.openedByPrompt ? '' : TOOL_CALL_OPEN}${body}${TOOL_CALL_CLOSE}`, events)
        this.openedByPrompt = false
        continue
      }
      const start = this.buffer.indexOf(TOOL_CALL_OPEN)
      if (start >= 0) {
        this.text(this.buffer.slice(0, start), events)
        this.buffer = this.buffer.slice(start + TOOL_CALL_OPEN.length)
        this.inCall = true
        continue
      }
      const keep = partialTagLength(this.buffer)
      this.text(this.buffer.slice(0, this.buffer.length - keep), events)
      this.buffer = this.buffer.slice(this.buffer.length - keep)
      break
    }
    return events
  }

  /** Generation ended: a call still open is read as it stands (a required call ends without its closing tag). */
  finish(): ParsedEvent[] {
    const events: ParsedEvent[] = []
    const rest = this.buffer
    this.buffer = ''
    if (this.inCall) {
      this.inCall = false
      this.closeCall(rest, `${this.openedByPrompt ? '' : TOOL_CALL_OPEN}${rest}`, events)
    } else {
      this.text(rest, events)
    }
    if (this.calls === 0 && this.pendingSpace !== '') events.push({ type: 'text', text: this.pendingSpace })
    this.pendingSpace = ''
    return events
  }

  private closeCall(body: string, asText: string, events: ParsedEvent[]): void {
    const call = readCall(body)
    if (!call) {
      this.text(asText, events)
      return
    }
    this.pendingSpace = ''
    this.afterCall = true
    if (this.calls >= this.maxCalls) return
    const index = this.calls++
    events.push({ type: 'tool_call', index, id: this.newId(), name: call.name }, { type: 'tool_call_arguments', index, text: call.arguments })
  }

  private text(text: string, events: ParsedEvent[]): void {
    if (text === '') return
    const all = this.afterCall ? (this.pendingSpace + text).trimStart() : this.pendingSpace + text
    const trailing = all.length - all.trimEnd().length
    this.pendingSpace = all.slice(all.length - trailing)
    const out = all.slice(0, all.length - trailing)
    if (out === '') return
    this.afterCall = false
    events.push({ type: 'text', text: out })
  }
}

/** How much of the end of `text` could be the beginning of `<tool_call>`. */
function partialTagLength(text: string): number {
  for (let n = Math.min(TOOL_CALL_OPEN.length - 1, text.length); n > 0; n--) {
    if (TOOL_CALL_OPEN.startsWith(text.slice(text.length - n))) return n
  }
  return 0
}

/** A call's name and its arguments as compact JSON text, or undefined when `body` is not a call. */
export function readCall(body: string): { name: string; arguments: string } | undefined {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const { name, arguments: args } = value as { name?: unknown; arguments?: unknown }
  if (typeof name !== 'string' || name === '') return undefined
  if (typeof args === 'string') return { name, arguments: args }
  return { name, arguments: JSON.stringify(args ?? {}) }
}

/**
 * The JSON schema of the one call a `required` or named tool choice allows: an object
 * naming one of the functions (only the named one) with arguments that match its
 * parameter schema. Each parameter schema moves inside this one, so its local `$ref`s
 * are rebased onto where it now sits.
 */
export function toolCallSchema(tools: EngineTools): Record<string, unknown> {
  const choice = tools.choice
  const allowed = typeof choice === 'object' ? tools.functions.filter((f) => f.name === choice.name) : tools.functions
  const variant = (f: EngineTools['functions'][number], at: string): Record<string, unknown> => ({
    type: 'object',
    properties: { name: { const: f.name }, arguments: rebaseRefs(f.parameters ?? { type: 'object' }, `${at}/properties/arguments`) },
    required: ['name', 'arguments'],
    additionalProperties: false,
  })
  if (allowed.length === 1) return variant(allowed[0]!, '#')
  return { anyOf: allowed.map((f, i) => variant(f, `#/anyOf/${i}`)) }
}

/** A copy of `schema` whose local `$ref`s ("#/…") point into it from `base` ("#/properties/arguments"). */
function rebaseRefs(schema: unknown, base: string): Record<string, unknown> {
  const copy = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(copy)
    if (typeof node !== 'object' || node === null) return node
    const out: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) out[key] = `${base}${value.slice(1)}`
      // Values of these keywords are data, not schemas: a "$ref" inside them is not a reference.
      else if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples') out[key] = value
      else out[key] = copy(value)
    }
    return out
  }
  return copy(schema) as Record<string, unknown>
}
