import type { ResponsesOutputItem, ResponsesOutputMessage, ResponsesResponse, ResponsesStreamEvent } from '@visto/protocol'
import { newId, type Clock } from '../data-dir.js'
import type { ApiError } from '../errors.js'
import type { TokenLogprob } from '../engines/engine.js'
import { namedEventFrame, type EventStreamFormat } from '../routes/event-stream.js'
import type { ChoiceEvent } from '../serving/choice-events.js'
import { finishedResponse, functionCallItem, outputMessage, outputText, responsesLogprobs } from './response-object.js'

type ItemStatus = ResponsesOutputMessage['status']

/** The output item being written: a message whose text grows, or a call whose arguments do. */
type OpenItem =
  | { kind: 'message'; outputIndex: number; id: string; text: string; logprobs: TokenLogprob[] | undefined }
  | { kind: 'call'; outputIndex: number; id: string; callId: string; name: string; arguments: string }

/** Distributes Omit over the event union, so each event is written without its sequence number. */
type Unnumbered<E> = E extends unknown ? Omit<E, 'sequence_number'> : never

/**
 * One streamed response: a job's events become the Responses event sequence, numbered
 * from 0. `response.created` and `response.in_progress` first; each output item is
 * announced (`output_item.added`), filled (`output_text.delta` after `content_part.added`
 * for a message, `function_call_arguments.delta` for a call) and closed (`….done`); the
 * last event is `response.completed` (or `response.incomplete` at max_output_tokens),
 * sent after `onFinished` (which stores the response) so that a client that reads it can
 * retrieve the response at once. A failure after the headers is an `error` event and
 * `response.failed` (`format`), numbered after the events before it.
 */
export class ResponseEventStream {
  private sequence = 0
  private readonly output: ResponsesOutputItem[] = []

  constructor(
    private readonly skeleton: ResponsesResponse,
    private readonly onFinished: (response: ResponsesResponse) => void,
    private readonly now: Clock,
    private readonly withLogprobs: boolean,
  ) {}

  readonly format: EventStreamFormat<ResponsesStreamEvent> = {
    frame: (event) => namedEventFrame(event.type, event),
    errorFrame: (error) => this.errorFrames(error),
    end: null,
  }

  private numbered(event: Unnumbered<ResponsesStreamEvent>): ResponsesStreamEvent {
    return { ...event, sequence_number: this.sequence++ } as ResponsesStreamEvent
  }

  async *events(choices: AsyncIterable<ChoiceEvent>): AsyncGenerator<ResponsesStreamEvent> {
    yield this.numbered({ type: 'response.created', response: this.skeleton })
    yield this.numbered({ type: 'response.in_progress', response: this.skeleton })
    let open: OpenItem | undefined
    // Logprobs come just before the text they scored and ride in its delta.
    let pendingLogprobs: TokenLogprob[] = []
    for await (const event of choices) {
      switch (event.type) {
        case 'logprobs':
          pendingLogprobs.push(...event.tokens)
          break
        case 'text': {
          if (open?.kind !== 'message') {
            if (open) yield* this.close(open, 'completed')
            open = { kind: 'message', outputIndex: this.output.length, id: newId('msg_'), text: '', logprobs: this.withLogprobs ? [] : undefined }
            yield* this.openMessage(open)
          }
          open.text += event.text
          open.logprobs?.push(...pendingLogprobs)
          yield this.numbered({
            type: 'response.output_text.delta',
            item_id: open.id,
            output_index: open.outputIndex,
            content_index: 0,
            delta: event.text,
            logprobs: responsesLogprobs(pendingLogprobs),
          })
          pendingLogprobs = []
          break
        }
        case 'tool_call': {
          if (open) yield* this.close(open, 'completed')
          open = { kind: 'call', outputIndex: this.output.length, id: newId('fc_'), callId: event.id, name: event.name, arguments: '' }
          const item = functionCallItem(open.id, { id: open.callId, name: open.name, arguments: '' }, 'in_progress')
          this.output.push(item)
          yield this.numbered({ type: 'response.output_item.added', output_index: open.outputIndex, item })
          break
        }
        case 'tool_call_arguments': {
          // Arguments belong to the call being written; an engine sends each call whole before the next.
          if (open?.kind !== 'call') break
          open.arguments += event.text
          yield this.numbered({ type: 'response.function_call_arguments.delta', item_id: open.id, output_index: open.outputIndex, delta: event.text })
          break
        }
        case 'done': {
          const status: ItemStatus = event.finishReason === 'length' ? 'incomplete' : 'completed'
          if (!open && this.output.length === 0) {
            // An empty answer is still a message, as without streaming.
            open = { kind: 'message', outputIndex: 0, id: newId('msg_'), text: '', logprobs: this.withLogprobs ? [] : undefined }
            yield* this.openMessage(open)
          }
          if (open) yield* this.close(open, status)
          open = undefined
          const response = finishedResponse(this.skeleton, [...this.output], event.finishReason, event, this.now())
          this.onFinished(response)
          yield this.numbered({ type: response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', response })
          return
        }
      }
    }
  }

  private *openMessage(open: OpenItem & { kind: 'message' }): Generator<ResponsesStreamEvent> {
    const item: ResponsesOutputMessage = { type: 'message', id: open.id, role: 'assistant', status: 'in_progress', content: [] }
    this.output.push(item)
    yield this.numbered({ type: 'response.output_item.added', output_index: open.outputIndex, item })
    yield this.numbered({ type: 'response.content_part.added', item_id: open.id, output_index: open.outputIndex, content_index: 0, part: outputText('', open.logprobs && []) })
  }

  private *close(open: OpenItem, status: ItemStatus): Generator<ResponsesStreamEvent> {
    if (open.kind === 'message') {
      const part = outputText(open.text, open.logprobs)
      yield this.numbered({
        type: 'response.output_text.done',
        item_id: open.id,
        output_index: open.outputIndex,
        content_index: 0,
        text: open.text,
        logprobs: responsesLogprobs(open.logprobs ?? []),
      })
      yield this.numbered({ type: 'response.content_part.done', item_id: open.id, output_index: open.outputIndex, content_index: 0, part })
      const item = outputMessage(open.id, open.text, open.logprobs, status)
      this.output[open.outputIndex] = item
      yield this.numbered({ type: 'response.output_item.done', output_index: open.outputIndex, item })
      return
    }
    yield this.numbered({ type: 'response.function_call_arguments.done', item_id: open.id, output_index: open.outputIndex, name: open.name, arguments: open.arguments })
    const item = functionCallItem(open.id, { id: open.callId, name: open.name, arguments: open.arguments }, status)
    this.output[open.outputIndex] = item
    yield this.numbered({ type: 'response.output_item.done', output_index: open.outputIndex, item })
  }

  /** What a client reads when the response fails after the headers: the error, then the failed response with the output so far. */
  private errorFrames(error: ApiError): string {
    const failed = this.numbered({ type: 'error', code: error.code, message: error.message, param: error.param })
    const response: ResponsesResponse = { ...this.skeleton, status: 'failed', error: { code: error.code ?? 'server_error', message: error.message }, output: [...this.output] }
    return this.format.frame(failed) + this.format.frame(this.numbered({ type: 'response.failed', response }))
  }
}
