import type { AnthropicMessage, AnthropicStreamEvent, AnthropicTokenCount } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseAnthropicMessagesRequest, parseAnthropicPrompt } from '../serving/anthropic-request.js'
import { errorBody } from '../http-errors.js'
import { anthropicEvents, anthropicMessage } from '../serving/anthropic-response.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import { cacheDirective } from '../serving/response-cache.js'
import { clientDisconnectSignal } from './client-disconnect.js'
import { namedEventFrame, sendEventStream, type EventStreamFormat } from './event-stream.js'

/** Named events (`event: content_block_delta`), as Anthropic's clients dispatch on them; a failure is an `error` event, and nothing follows. */
function anthropicEventStream(request: FastifyRequest): EventStreamFormat<AnthropicStreamEvent> {
  return {
    frame: (event) => namedEventFrame(event.type, event),
    errorFrame: (error) => namedEventFrame('error', errorBody(error, 'anthropic', request.id)),
    end: null,
  }
}

/** `POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's wire shape in, the one chat service behind. */
export function anthropicMessagesHandlers(deps: { chat: ChatCompletionsService }) {
  return {
    create: async (request: FastifyRequest, reply: FastifyReply): Promise<AnthropicMessage | undefined> => {
      const signal = clientDisconnectSignal(reply)
      const job: ChatJob = {
        ...parseAnthropicMessagesRequest(request.body, deps.chat.requestLimits),
        requestId: request.id,
        admission: { class: 'interactive' },
        cache: cacheDirective(request.headers['cache-control']),
      }
      // Validation, images and the engine slot all happen before any byte is written.
      const prepared = await deps.chat.prepare(job, signal)
      if (prepared.cache) reply.header('x-visto-cache', prepared.cache)
      if (!job.stream) return anthropicMessage(prepared, await deps.chat.collect(prepared, signal))
      // Headers wait until the engine has accepted the prompt, as for chat completions.
      const events = await deps.chat.startEvents(prepared, signal)
      await sendEventStream(request, reply, anthropicEvents(prepared, events), anthropicEventStream(request), signal)
      return undefined
    },
    countTokens: async (request: FastifyRequest, reply: FastifyReply): Promise<AnthropicTokenCount> => {
      const signal = clientDisconnectSignal(reply)
      const job: ChatJob = {
        ...parseAnthropicPrompt(request.body, deps.chat.requestLimits),
        sampling: { maxTokens: undefined },
        stream: false,
        includeUsage: false,
        requestId: request.id,
        admission: { class: 'interactive' },
        cache: 'skip',
      }
      return { input_tokens: await deps.chat.countPromptTokens(job, signal) }
    },
  }
}
