import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import { parseChatRequest } from '../serving/chat-request.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { openAiEventStream, sendEventStream } from './event-stream.js'

/** `POST /v1/chat/completions`: a JSON body in, a completion or an event stream out. */
export function chatCompletionsHandler(deps: { chat: ChatCompletionsService }) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
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
}
