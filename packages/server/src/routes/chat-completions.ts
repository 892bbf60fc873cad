import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { reportError } from '../http-errors.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'

export function chatCompletionsRoutes(app: FastifyInstance, deps: { chat: ChatCompletionsService }): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const signal = clientDisconnectSignal(reply)
    // Validation, images and the engine slot all happen before any byte is written.
    const prepared = await deps.chat.prepare(request.body, request.id, signal, { cacheUse: cacheDirective(request.headers['cache-control']) })
    // On the raw response so it reaches both the JSON reply and the hijacked event stream.
    if (prepared.cache) reply.raw.setHeader('x-visto-cache', prepared.cache)
    if (!prepared.parsed.stream) {
      return deps.chat.complete(prepared, signal)
    }
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    })
    try {
      for await (const chunk of deps.chat.stream(prepared, signal)) {
        if (signal.aborted) break
        raw.write(`data: ${JSON.stringify(chunk)}\n\n`)
      }
    } catch (error) {
      if (!signal.aborted) {
        const apiError = reportError(error, request, app.bodyLimitBytes)
        raw.write(`data: ${JSON.stringify(apiError.toEnvelope())}\n\n`)
      }
    }
    if (!raw.destroyed) raw.end('data: [DONE]\n\n')
  }
  for (const url of ['/v1/chat/completions', '/chat/completions']) app.post(url, { config: { access: 'guarded' } }, handler)
}
