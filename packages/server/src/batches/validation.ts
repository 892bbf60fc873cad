import { formatBytes } from '@visto/protocol'
import { createReadStream } from 'node:fs'
import { defaultMaxJsonDepth, JsonDepthScanner, jsonDepthExcess } from '../serving/json-depth.js'
import { describeJsonType, isJsonObject } from '../serving/json-value.js'
import type { BatchLineError, IndexedLine } from './store.js'

export interface ValidationLimits {
  maxLines: number
  /** Deepest nesting of objects and arrays in a line (--max-json-depth), checked before parsing it. */
  maxJsonDepth?: number
  /** Longest line, in bytes: one line is one request, which --body-limit-mb bounds on the chat route too. */
  maxLineBytes?: number
  /** Errors listed in the batch's `errors` object; the rest are counted in the last one. */
  maxErrors?: number
}

export interface ValidationResult {
  lines: IndexedLine[]
  errors: BatchLineError[]
}

/** Why a line was refused while it was read, before it was held whole. */
export type LineRefusal = { kind: 'too_deep'; at: number } | { kind: 'too_long' }

/** A line's bytes with their position in the file: the input file is read again per line when it runs. */
export interface RawLine {
  lineNo: number
  offset: number
  length: number
  /** Empty for a refused line: its bytes were dropped as soon as it was refused. */
  bytes: Buffer
  refused?: LineRefusal
}

export interface LineReadLimits {
  /** A longer line is refused unread (one batch line is one request body: --body-limit-mb). */
  maxLineBytes?: number
  /** A line nesting deeper is refused at the first bracket too deep (--max-json-depth). */
  maxJsonDepth?: number
}

/**
 * Splits a file into lines without holding it in memory; `\r\n` and a missing final
 * newline are fine. With limits, a line is checked while it is read: a 190 MB run of `[`
 * is refused at its 65th byte and the rest of it skipped, so memory stays at one chunk.
 */
export async function* readLines(path: string, limits: LineReadLimits = {}): AsyncGenerator<RawLine> {
  const maxLineBytes = limits.maxLineBytes ?? Infinity
  let carry: Buffer[] = []
  let carryLength = 0
  let lineLength = 0
  let lineStart = 0
  let position = 0
  let lineNo = 0
  let refused: LineRefusal | undefined
  let scanner = limits.maxJsonDepth === undefined ? undefined : new JsonDepthScanner(limits.maxJsonDepth)
  // A piece of the current line: checked, then kept unless the line is already refused.
  const take = (piece: Buffer): void => {
    const within = Math.max(0, maxLineBytes - lineLength)
    lineLength += piece.length
    if (refused) return
    // Whichever limit the line passes first: the scan stops where the length limit is.
    const at = scanner?.feed(within < piece.length ? piece.subarray(0, within) : piece) ?? -1
    if (at >= 0) refused = { kind: 'too_deep', at }
    else if (lineLength > maxLineBytes) refused = { kind: 'too_long' }
    if (refused) {
      carry = []
      carryLength = 0
    } else if (piece.length > 0) {
      carry.push(piece)
      carryLength += piece.length
    }
  }
  const endLine = (): RawLine => {
    lineNo++
    const bytes = refused ? Buffer.alloc(0) : carry.length === 1 ? carry[0]! : Buffer.concat(carry, carryLength)
    const line: RawLine = { lineNo, offset: lineStart, length: lineLength, bytes, ...(refused ? { refused } : {}) }
    carry = []
    carryLength = 0
    lineLength = 0
    refused = undefined
    if (limits.maxJsonDepth !== undefined) scanner = new JsonDepthScanner(limits.maxJsonDepth)
    return line
  }
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let from = 0
    for (;;) {
      const newline = chunk.indexOf(0x0a, from)
      if (newline < 0) break
      take(chunk.subarray(from, newline))
      yield endLine()
      lineStart = position + newline + 1
      from = newline + 1
    }
    if (from < chunk.length) take(chunk.subarray(from))
    position += chunk.length
  }
  if (lineLength > 0) yield endLine()
}

/** A JSONL request line's parts, as OpenAI's batch input format defines them. */
export interface BatchRequestLine {
  custom_id: string
  method: string
  url: string
  body: Record<string, unknown>
}

/** A string is quoted (a wrong method or URL is shown as sent); anything else is named by its type. */
function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 60)}"` : describeJsonType(value)
}

/**
 * Checks one line against the batch's endpoint. Returns the parsed request, or the
 * error to report with the line number. Blank lines are skipped by the caller.
 */
export function checkLine(text: string, lineNo: number, endpoint: string, maxJsonDepth = defaultMaxJsonDepth): { request: BatchRequestLine } | { error: BatchLineError } {
  const error = (code: string, message: string, param: string | null = null) => ({ error: { code, message: `Line ${lineNo}: ${message}`, param, line: lineNo } })
  // Before JSON.parse: a line of a million `[` would take the heap, and again after every restart.
  const tooDeepAt = jsonDepthExcess(text, maxJsonDepth)
  if (tooDeepAt >= 0) return error('json_too_deep', tooDeepMessage(maxJsonDepth, tooDeepAt))
  let line: unknown
  try {
    line = JSON.parse(text)
  } catch (parseError) {
    return error('invalid_json_line', `not valid JSON (${(parseError as Error).message.split('\n')[0]!.slice(0, 120)}); each line must be one JSON object`)
  }
  if (!isJsonObject(line)) return error('invalid_json_line', `must be a JSON object, got ${describe(line)}`)
  if (line.custom_id === undefined) return error('missing_required_parameter', 'custom_id is missing', 'custom_id')
  if (typeof line.custom_id !== 'string' || line.custom_id === '')
    return error('invalid_custom_id', `custom_id must be a non-empty string, got ${describe(line.custom_id)}`, 'custom_id')
  if (line.method === undefined) return error('missing_required_parameter', 'method is missing; it must be "POST"', 'method')
  if (line.method !== 'POST') return error('invalid_method', `method must be "POST", got ${describe(line.method)}`, 'method')
  if (line.url === undefined) return error('missing_required_parameter', `url is missing; it must be "${endpoint}"`, 'url')
  if (line.url !== endpoint && line.url !== endpoint.replace(/^\/v1/, '')) {
    return error('mismatched_url', `url must be the batch's endpoint "${endpoint}", got ${describe(line.url)}`, 'url')
  }
  if (line.body === undefined) return error('missing_required_parameter', 'body is missing; it holds the request, e.g. {"model": …, "messages": […]}', 'body')
  if (!isJsonObject(line.body)) return error('invalid_body', `body must be a JSON object, got ${describe(line.body)}`, 'body')
  return { request: { custom_id: line.custom_id, method: line.method, url: line.url, body: line.body } }
}

/**
 * Reads the whole input file once, streaming: every line must be a well-formed request
 * for `endpoint` with a unique custom_id. Produces the line index (byte ranges, not
 * contents) that the runner works from.
 */
export async function validateBatchInput(path: string, endpoint: string, limits: ValidationLimits): Promise<ValidationResult> {
  const maxErrors = limits.maxErrors ?? 100
  const lines: IndexedLine[] = []
  const errors: BatchLineError[] = []
  let errorCount = 0
  const seen = new Map<string, number>()
  const report = (error: BatchLineError): void => {
    errorCount++
    if (errors.length < maxErrors) errors.push(error)
  }
  const maxJsonDepth = limits.maxJsonDepth ?? defaultMaxJsonDepth
  for await (const raw of readLines(path, { maxJsonDepth, ...(limits.maxLineBytes !== undefined ? { maxLineBytes: limits.maxLineBytes } : {}) })) {
    if (raw.refused) {
      if (lines.length + errorCount >= limits.maxLines) return tooManyLines(limits.maxLines, raw.lineNo)
      report(refusedLineError(raw, maxJsonDepth, limits.maxLineBytes ?? Infinity))
      continue
    }
    let text = raw.bytes.toString('utf8')
    if (raw.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    if (text.trim() === '') continue
    if (lines.length + errorCount >= limits.maxLines) return tooManyLines(limits.maxLines, raw.lineNo)
    const checked = checkLine(text, raw.lineNo, endpoint, maxJsonDepth)
    if ('error' in checked) {
      report(checked.error)
      continue
    }
    const first = seen.get(checked.request.custom_id)
    if (first !== undefined) {
      report({
        code: 'duplicate_custom_id',
        message: `Line ${raw.lineNo}: custom_id "${checked.request.custom_id.slice(0, 80)}" is already used on line ${first}; each request needs its own`,
        param: 'custom_id',
        line: raw.lineNo,
      })
      continue
    }
    seen.set(checked.request.custom_id, raw.lineNo)
    lines.push({ lineNo: raw.lineNo, offset: raw.offset, length: raw.length, customId: checked.request.custom_id })
  }
  if (errorCount > errors.length) {
    errors.push({ code: 'too_many_errors', message: `${errorCount - errors.length} more lines have errors; only the first ${errors.length} are listed`, param: null, line: null })
  }
  if (errorCount === 0 && lines.length === 0) {
    errors.push({ code: 'empty_file', message: 'The input file has no requests; each line must be one JSON request object', param: null, line: null })
  }
  return { lines: errorCount > 0 ? [] : lines, errors }
}

function tooManyLines(maxLines: number, lineNo: number): ValidationResult {
  return {
    lines: [],
    errors: [
      {
        code: 'too_many_requests',
        message: `The input file has more than ${maxLines} requests, the limit per batch (--batch-max-lines); split it into several batches`,
        param: null,
        line: lineNo,
      },
    ],
  }
}

/** The error for a line refused while it was read (it was never parsed). */
function refusedLineError(raw: RawLine, maxJsonDepth: number, maxLineBytes: number): BatchLineError {
  const refusal = raw.refused!
  if (refusal.kind === 'too_deep') return { code: 'json_too_deep', message: `Line ${raw.lineNo}: ${tooDeepMessage(maxJsonDepth, refusal.at)}`, param: null, line: raw.lineNo }
  return {
    code: 'line_too_long',
    message: `Line ${raw.lineNo}: is ${formatBytes(raw.length)}, over the ${formatBytes(maxLineBytes)} one request may have (--body-limit-mb)`,
    param: null,
    line: raw.lineNo,
  }
}

function tooDeepMessage(maxJsonDepth: number, at: number): string {
  return `nests objects and arrays deeper than ${maxJsonDepth} levels (at character ${at}); the limit is --max-json-depth`
}
