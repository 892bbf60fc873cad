import type { ResponsesDeleted, ResponsesItemList, ResponsesResponse, ResponsesStoredItem, ResponsesStreamEvent } from '@visto/protocol'
import { newId, systemClock, type Clock } from '../data-dir.js'
import { InvalidRequestError, NotFoundError, ResponsesUnavailableError } from '../errors.js'
import { parseLimit } from '../list-page.js'
import type { EventStreamFormat } from '../routes/event-stream.js'
import type { ChatCompletionsService, PreparedChat } from '../serving/chat-completions.js'
import type { ChatJob } from '../serving/chat-job.js'
import type { CacheDirective } from '../serving/response-cache.js'
import { conversationMessages, type EarlierTurn, type FileReader } from './conversation.js'
import { ResponseEventStream } from './response-events.js'
import { finishedResponse, outputItems, responseSkeleton, type ResponseIdentity } from './response-object.js'
import type { ResponseStore } from './response-store.js'
import { parseResponsesRequest } from './responses-request.js'

/** A response ready to run: its request validated, its conversation rebuilt, an engine slot held. */
export interface PreparedResponse {
  identity: ResponseIdentity
  chat: PreparedChat
  /** The ids of the earlier responses of its conversation, oldest first. */
  chain: string[]
}

export interface ResponsesServiceOptions {
  chat: ChatCompletionsService
  /** Undefined when the server has no data directory of its own: nothing is stored. */
  store: ResponseStore | undefined
  /** Reads `file_id` images; undefined without the Files API. */
  readFile: FileReader
  clock?: Clock | undefined
}

function responseNotFound(id: string): NotFoundError {
  return new NotFoundError(`Response with id '${id.slice(0, 80)}' not found.`, { param: 'response_id', code: 'response_not_found' })
}

/**
 * OpenAI's Responses API over the one chat path: a request becomes a `ChatJob` (its
 * conversation rebuilt from the stored responses a `previous_response_id` names), runs
 * through `ChatCompletionsService` (limits, response cache, admission, engine) and comes
 * back as a response object or its event stream; with `store` it is kept for the next
 * turn and for `GET /v1/responses/{id}`.
 */
export class ResponsesService {
  private readonly clock: Clock

  constructor(private readonly options: ResponsesServiceOptions) {
    this.clock = options.clock ?? systemClock
  }

  /**
   * Everything that can fail with a 4xx or a 503 happens here, before a stream writes its
   * headers. `store` left out on a server without a data directory serves the response
   * without keeping it (it says `store: false`); asking for storage explicitly there, or
   * continuing a conversation, is a 503.
   */
  async prepare(body: unknown, context: { requestId: string; cache: CacheDirective }, signal: AbortSignal): Promise<PreparedResponse> {
    const { chat } = this.options
    const request = parseResponsesRequest(body, chat.requestLimits)
    const store = this.options.store
    if (!store && (request.store === true || request.previousResponseId !== null)) {
      throw new ResponsesUnavailableError(request.previousResponseId !== null ? 'previous_response_id' : 'store')
    }
    const { earlier, chain } = request.previousResponseId === null ? { earlier: [], chain: [] } : this.earlierTurns(request.previousResponseId)
    const messages = await conversationMessages(request, earlier, chat.requestLimits, this.options.readFile)
    const job: ChatJob = {
      model: request.model,
      messages,
      sampling: request.sampling,
      stream: request.stream,
      includeUsage: false,
      ...(request.tools ? { tools: request.tools } : {}),
      requestId: context.requestId,
      admission: { class: 'interactive' },
      cache: context.cache,
    }
    const prepared = await chat.prepare(job, signal)
    const identity: ResponseIdentity = { id: newId('resp_'), createdAt: this.clock(), model: prepared.model, store: store !== undefined && request.store !== false, request }
    return { identity, chat: prepared, chain }
  }

  /**
   * The stored conversation behind `previous_response_id`, oldest turn first: each turn
   * its input then its output. Unknown (never stored, deleted, expired) is a 400 naming
   * the parameter, as OpenAI answers.
   */
  private earlierTurns(previousId: string): { earlier: EarlierTurn[]; chain: string[] } {
    const store = this.options.store!
    const earlier: EarlierTurn[] = []
    const limit = this.options.chat.requestLimits.maxMessages
    for (let id: string | null = previousId; id !== null; ) {
      const found = store.get(id)
      if (!found) {
        const message =
          id === previousId
            ? `Previous response with id '${previousId.slice(0, 80)}' not found.`
            : `Previous response with id '${previousId.slice(0, 80)}' continues response '${id}', which was deleted or has expired; its conversation cannot be continued.`
        throw new InvalidRequestError(message, { param: 'previous_response_id', code: 'previous_response_not_found' })
      }
      earlier.push({ responseId: found.id, items: [...found.inputItems, ...found.response.output] })
      // Every turn adds at least one message: a longer chain is over the message limit anyway.
      if (earlier.length > limit) {
        throw new InvalidRequestError(`Too many messages: the conversation has over ${limit} (--max-messages); start a new one, or raise the limit`, {
          param: 'previous_response_id',
          code: 'too_many_messages',
        })
      }
      id = found.previousResponseId
    }
    earlier.reverse()
    return { earlier, chain: earlier.map((turn) => turn.responseId) }
  }

  /** Runs a prepared response to the end; stores it when asked. */
  async complete(prepared: PreparedResponse, signal: AbortSignal): Promise<ResponsesResponse> {
    const result = await this.options.chat.collect(prepared.chat, signal)
    const { output, finishReason } = outputItems(result)
    const response = finishedResponse(responseSkeleton(prepared.identity), output, finishReason, result.usage, this.clock())
    this.save(prepared, response)
    return response
  }

  /** Starts a prepared response; resolves once the engine accepted the prompt (headers go out after). */
  async startStream(prepared: PreparedResponse, signal: AbortSignal): Promise<{ events: AsyncIterable<ResponsesStreamEvent>; format: EventStreamFormat<ResponsesStreamEvent> }> {
    const choices = await this.options.chat.startEvents(prepared.chat, signal)
    const withLogprobs = prepared.chat.engineRequest.sampling.logprobs !== undefined
    const stream = new ResponseEventStream(responseSkeleton(prepared.identity), (response) => this.save(prepared, response), this.clock, withLogprobs)
    return { events: stream.events(choices), format: stream.format }
  }

  private save(prepared: PreparedResponse, response: ResponsesResponse): void {
    if (!prepared.identity.store) return
    this.options.store!.insert({ response, inputItems: prepared.identity.request.items, chain: prepared.chain })
  }

  private storeOrRefuse(): ResponseStore {
    if (!this.options.store) throw new ResponsesUnavailableError('response_id')
    return this.options.store
  }

  /** `GET /v1/responses/{id}`. */
  retrieve(id: string): ResponsesResponse {
    const found = this.storeOrRefuse().get(id)
    if (!found) throw responseNotFound(id)
    return found.response
  }

  /** `DELETE /v1/responses/{id}`: later responses that continued it can no longer be continued themselves. */
  delete(id: string): ResponsesDeleted {
    if (!this.storeOrRefuse().delete(id)) throw responseNotFound(id)
    return { id, object: 'response', deleted: true }
  }

  /**
   * `GET /v1/responses/{id}/input_items`: what the model was given, as OpenAI lists it:
   * the earlier turns' items and this request's input (not the instructions), newest
   * first unless `order=asc`, paged by `after` (an item id) and `limit` (1 to 100, 20).
   */
  inputItems(id: string, query: { after?: string | undefined; limit?: unknown; order?: unknown }): ResponsesItemList {
    const store = this.storeOrRefuse()
    const found = store.get(id)
    if (!found) throw responseNotFound(id)
    const limit = parseLimit(query.limit, 20, 100)
    const order = query.order === undefined || query.order === '' ? 'desc' : query.order
    if (order !== 'asc' && order !== 'desc') throw new InvalidRequestError(`order must be "asc" or "desc", got ${JSON.stringify(order)}`, { param: 'order', code: 'invalid_value' })
    const turns: ResponsesStoredItem[][] = [found.inputItems]
    // The conversation as far back as it is still stored.
    for (let previous = found.previousResponseId; previous !== null; ) {
      const turn = store.get(previous)
      if (!turn) break
      turns.unshift([...turn.inputItems, ...turn.response.output])
      previous = turn.previousResponseId
    }
    const items = turns.flat()
    if (order === 'desc') items.reverse()
    const start = query.after === undefined || query.after === '' ? 0 : items.findIndex((item) => item.id === query.after) + 1
    if (start === 0 && query.after)
      throw new InvalidRequestError(`after names no input item of this response: ${JSON.stringify(query.after.slice(0, 80))}`, { param: 'after', code: 'invalid_value' })
    const data = items.slice(start, start + limit)
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < items.length }
  }
}
