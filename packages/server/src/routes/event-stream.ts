import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ApiError } from '../errors.js'
import { reportError } from '../http-errors.js'

/**
 * How one API frames its event stream: each item as a frame, a failure after the headers
 * as a frame, and what ends the stream. OpenAI's chat stream is `openAiEventStream`; an
 * API with named events (`event: x\ndata: …`) builds its frames with `namedEventFrame`;
 * one that streams a JSON value per line (Ollama's) uses `ndjsonEventStream`.
 */
export interface EventStreamFormat<Item> {
  frame(item: Item): string
  /** Once the status line is out, an error can only be told in the stream. */
  errorFrame(error: ApiError): string
  /** Written last, after a complete stream or its error frame; null when the stream just ends. */
  end: string | null
  /** The response's content type; server-sent events when unset. */
  contentType?: string
}

/** `data: <json>` and the blank line that ends an event. */
export function dataFrame(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`
}

/** `event: <name>` then `data: <json>`: for APIs whose clients dispatch on the event name. */
export function namedEventFrame(event: string, value: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(value)}\n\n`
}

/** OpenAI's streams: chunks as `data:` frames, a failure as `data: {"error": …}`, then `data: [DONE]`. */
export const openAiEventStream: EventStreamFormat<unknown> = {
  frame: dataFrame,
  errorFrame: (error) => dataFrame(error.toEnvelope()),
  end: 'data: [DONE]\n\n',
}

/** One JSON value per line (NDJSON). */
export function ndjsonFrame(value: unknown): string {
  return `${JSON.stringify(value)}\n`
}

/**
 * Newline-delimited JSON, as Ollama streams: each item a line, a failure a line of the
 * API's own error body (`errorBody`), and nothing after the last line.
 */
export function ndjsonEventStream(errorBody: (error: ApiError) => unknown): EventStreamFormat<unknown> {
  return { frame: ndjsonFrame, errorFrame: (error) => ndjsonFrame(errorBody(error)), end: null, contentType: 'application/x-ndjson' }
}

const eventStreamHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  // nginx would otherwise buffer the stream and deliver it in lumps.
  'x-accel-buffering': 'no',
}

/**
 * Sends `items` as a server-sent event stream. The status line carries every header set
 * on the reply before (x-request-id, CORS and the headers it exposes, x-visto-cache), as
 * any other response does. Each frame waits for the socket to drain when the client
 * reads slower than the engine writes, so a slow reader holds the generation back rather
 * than growing the server's memory. A failure mid-stream becomes the format's error
 * frame; the end frame follows. When the client goes (`signal`), writing stops and
 * iteration returns, which ends the generation behind `items`.
 */
export async function sendEventStream<Item>(
  request: FastifyRequest,
  reply: FastifyReply,
  items: AsyncIterable<Item>,
  format: EventStreamFormat<Item>,
  signal: AbortSignal,
): Promise<void> {
  const raw = reply.raw
  // Taken before hijacking: from then on Fastify writes nothing, its header list included.
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
  Object.assign(headers, eventStreamHeaders, format.contentType === undefined ? {} : { 'content-type': format.contentType })
  reply.hijack()
  raw.writeHead(200, headers)
  let failure: unknown
  try {
    for await (const item of items) {
      if (!(await writeFrame(raw, format.frame(item), signal))) break
    }
  } catch (error) {
    failure = error
  }
  if (signal.aborted || raw.destroyed) {
    reportError(signal.reason ?? failure, request)
    return
  }
  if (failure !== undefined) {
    const apiError = reportError(failure, request)
    if (!(await writeFrame(raw, format.errorFrame(apiError), signal))) return
  }
  if (format.end === null) raw.end()
  else raw.end(format.end)
}

/** Writes one frame; when the socket's buffer is full, waits for it to drain. False once the client has gone. */
async function writeFrame(raw: ServerResponse, frame: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || raw.destroyed) return false
  if (raw.write(frame)) return true
  await new Promise<void>((resolve) => {
    const settle = (): void => {
      raw.off('drain', settle)
      raw.off('close', settle)
      signal.removeEventListener('abort', settle)
      resolve()
    }
    raw.on('drain', settle)
    raw.on('close', settle)
    signal.addEventListener('abort', settle)
  })
  return !signal.aborted && !raw.destroyed
}
