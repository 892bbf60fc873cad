import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ResponsesService } from '../responses/responses-service.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { sendEventStream } from './event-stream.js'

type IdParams = { Params: { response_id: string } }

/** OpenAI's Responses API: create (a response object or its event stream), retrieve, delete, list input items. */
export function responsesHandlers(responses: ResponsesService) {
  return {
    create: async (request: FastifyRequest, reply: FastifyReply) => {
      const signal = clientDisconnectSignal(reply)
      // Validation, the stored conversation, images and the engine slot all come before any byte is written.
      const prepared = await responses.prepare(request.body, { requestId: request.id, cache: cacheDirective(request.headers['cache-control']) }, signal)
      if (prepared.chat.cache) reply.header('x-visto-cache', prepared.chat.cache)
      if (!prepared.identity.request.stream) return responses.complete(prepared, signal)
      const stream = await responses.startStream(prepared, signal)
      await sendEventStream(request, reply, stream.events, stream.format, signal)
    },
    retrieve: async (request: FastifyRequest<IdParams>) => responses.retrieve(request.params.response_id),
    remove: async (request: FastifyRequest<IdParams>) => responses.delete(request.params.response_id),
    inputItems: async (request: FastifyRequest<IdParams & { Querystring: Record<string, string | undefined> }>) => responses.inputItems(request.params.response_id, request.query),
  }
}
