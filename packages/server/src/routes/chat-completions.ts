import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { reportError } from '../http-errors.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'

/** `POST /v1/chat/completions`: a JSON body in, a completion or an event stream out. */
export function chatCompletionsHandler(deps: { chat: ChatCompletionsService }) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const signal = clientDisconnectSignal(reply)
    // Validation, images and the engine slot all happen before any byte is written.
    const prepared = await deps.chat.prepare(request.body, request.id, signal, { cacheUse: cacheDirective(request.headers['cache-control']) })
    // On the raw response so it reaches both the JSON reply and the hijacked event stream.
    if (prepared.cache) reply.raw.setHeader('x-visto-cache', prepared.cache)
    if (!prepared.parsed.stream) {
      return deps.chat.complete(prepared, signal)
    }
    // Headers wait until the engine has accepted the prompt: a prompt it rejects at once
    // gets the same status and JSON body as without streaming (thrown from here).
    const chunks = await deps.chat.startStream(prepared, signal)
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    })
    let failure: unknown
    try {
      for await (const chunk of chunks) {
        if (signal.aborted) break
        raw.write(`data: ${JSON.stringify(chunk)}\n\n`)
      }
    } catch (error) {
      failure = error
    }
    if (signal.aborted) {
      reportError(signal.reason, request, request.server.bodyLimitBytes)
      return
    }
    if (failure !== undefined) {
      const apiError = reportError(failure, request, request.server.bodyLimitBytes)
      raw.write(`data: ${JSON.stringify(apiError.toEnvelope())}\n\n`)
    }
    if (!raw.destroyed) raw.end('data: [DONE]\n\n')
  }
}
