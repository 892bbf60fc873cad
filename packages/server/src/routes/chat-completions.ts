import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import { parseChatRequest } from '../serving/chat-request.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { openAiEventStream, sendEventStream } from './event-stream.js'

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
    if (prepared.cache) reply.header('x-visto-cache', prepared.cache)
    if (!job.stream) {
      return deps.chat.complete(prepared, signal)
    }
    // Headers wait until the engine has accepted the prompt: a prompt it rejects at once
    // gets the same status and JSON body as without streaming (thrown from here).
    const chunks = await deps.chat.startStream(prepared, signal)
    await sendEventStream(request, reply, chunks, openAiEventStream, signal)
  }
  for (const url of ['/v1/chat/completions', '/chat/completions']) app.post(url, { config: { access: 'guarded' } }, handler)
}
