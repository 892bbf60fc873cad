import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import { reportError } from '../http-errors.js'
import type { ChatJob } from '../serving/chat-job.js'
import { parseChatRequest } from '../serving/chat-request.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'

export function chatCompletionsRoutes(app: FastifyInstance, deps: { chat: ChatCompletionsService }): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const signal = clientDisconnectSignal(reply)
    const job: ChatJob = {
      ...parseChatRequest(request.body, deps.chat.requestLimits),
      requestId: request.id,
      admission: { class: 'interactive' },
      cache: cacheDirective(request.headers['cache-control']),
    }
    // Validation, images and the engine slot all happen before any byte is written.
    const prepared = await deps.chat.prepare(job, signal)
    // On the raw response so it reaches both the JSON reply and the hijacked event stream.
    if (prepared.cache) reply.raw.setHeader('x-visto-cache', prepared.cache)
    if (!job.stream) {
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
      reportError(signal.reason, request)
      return
    }
    if (failure !== undefined) {
      const apiError = reportError(failure, request)
      raw.write(`data: ${JSON.stringify(apiError.toEnvelope())}\n\n`)
    }
    if (!raw.destroyed) raw.end('data: [DONE]\n\n')
  }
  for (const url of ['/v1/chat/completions', '/chat/completions']) app.post(url, { config: { access: 'guarded' } }, handler)
}
