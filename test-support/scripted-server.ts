/**
 * A real HTTP server on port 0 whose answers a test scripts one request at a time, for
 * the failure modes a real model server rarely produces on demand (500 then 200, a hang,
 * Retry-After, an error mid-stream). Requests are recorded for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '@visto/protocol'

export interface RecordedRequest {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: string
  /** The parsed JSON body, when it was JSON. */
  json: ChatCompletionRequest | undefined
  /** Resolves when the client closes the connection. */
  closed: Promise<void>
}

export type Handler = (request: RecordedRequest, res: ServerResponse) => void | Promise<void>

export interface ScriptedServer {
  /** `http://127.0.0.1:PORT` */
  url: string
  requests: RecordedRequest[]
  /** Handlers for the next requests, in order; after they run out, `fallback` answers. */
  script(...handlers: Handler[]): void
  fallback: Handler
  /** Highest number of requests in flight at once. */
  maxInFlight: number
  close(): Promise<void>
}

export function completion(text: string, options: { finishReason?: 'stop' | 'length'; model?: string; promptTokens?: number } = {}): ChatCompletion {
  const completionTokens = Math.max(1, text.split(/\s+/).filter(Boolean).length)
  const promptTokens = options.promptTokens ?? 10
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2, 10)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: options.model ?? 'qwen3-vl-4b-instruct',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: options.finishReason ?? 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  }
}

export function chunk(content: string | undefined, finishReason: 'stop' | 'length' | null = null): ChatCompletionChunk {
  return {
    id: 'chatcmpl-stream',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'qwen3-vl-4b-instruct',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, logprobs: null, finish_reason: finishReason }],
  }
}

/** Answers with JSON and the headers a Visto server sends. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (_request, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req-${status}`, ...headers })
    res.end(JSON.stringify(body))
  }
}

export function ok(text: string, options?: Parameters<typeof completion>[1]): Handler {
  return json(200, completion(text, options))
}

export function apiError(status: number, message: string, extra: { type?: string; param?: string | null; code?: string | null; headers?: Record<string, string> } = {}): Handler {
  return json(status, { error: { message, type: extra.type ?? 'invalid_request_error', param: extra.param ?? null, code: extra.code ?? null } }, extra.headers)
}

/** Writes raw SSE text pieces (each a network chunk) with an optional pause between them. */
export function sseRaw(pieces: string[], delayMs = 0): Handler {
  return async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': 'req-stream' })
    res.flushHeaders()
    for (const piece of pieces) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (res.destroyed) return
      res.write(piece)
    }
    res.end()
  }
}

export function sse(events: unknown[], options: { done?: boolean; delayMs?: number } = {}): Handler {
  const pieces = events.map((event) => `data: ${JSON.stringify(event)}\n\n`)
  if (options.done !== false) pieces.push('data: [DONE]\n\n')
  return sseRaw(pieces, options.delayMs)
}

/** Never answers (until the client gives up). */
export const hang: Handler = () => new Promise<void>(() => {})

/** Waits, then delegates. */
export function delayed(ms: number, handler: Handler): Handler {
  return async (request, res) => {
    await new Promise((resolve) => setTimeout(resolve, ms))
    if (!res.destroyed) await handler(request, res)
  }
}

export async function startScriptedServer(fallback: Handler = ok('fallback answer')): Promise<ScriptedServer> {
  const queue: Handler[] = []
  const requests: RecordedRequest[] = []
  let inFlight = 0
  const state = {
    url: '',
    requests,
    fallback,
    maxInFlight: 0,
    script: (...handlers: Handler[]) => queue.push(...handlers),
    close: async () => {},
  }
  const server: Server = createServer(async (req, res) => {
    const pieces: Buffer[] = []
    for await (const piece of req) pieces.push(piece as Buffer)
    const body = Buffer.concat(pieces).toString('utf8')
    let parsed: ChatCompletionRequest | undefined
    try {
      parsed = JSON.parse(body) as ChatCompletionRequest
    } catch {
      parsed = undefined
    }
    const closed = new Promise<void>((resolve) => res.on('close', () => resolve()))
    const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json: parsed, closed }
    requests.push(recorded)
    inFlight++
    state.maxInFlight = Math.max(state.maxInFlight, inFlight)
    void closed.then(() => inFlight--)
    const handler = queue.shift() ?? state.fallback
    try {
      await handler(recorded, res)
    } catch (error) {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(error))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  state.url = `http://127.0.0.1:${port}`
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return state
}

/** A URL where nothing listens (a port that was just free). */
export async function refusedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}
