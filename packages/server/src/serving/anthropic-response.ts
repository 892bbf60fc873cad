import type {
  AnthropicContentBlock,
  AnthropicErrorResponse,
  AnthropicErrorType,
  AnthropicMessage,
  AnthropicStopReason,
  AnthropicStreamEvent,
  AnthropicUsage,
} from '@visto/protocol'
import type { ApiError } from '../errors.js'
import type { PreparedChat } from './chat-completions.js'
import type { AssembledChoice, ChoiceEvent, JobResult } from './choice-events.js'

/**
 * A chat job's answer in Anthropic's shapes: the message a non-streamed request gets,
 * the event sequence of a streamed one (which assembles into the same message), and the
 * error body of both.
 */

/** `msg_…`, sharing its random part with the job's id in the logs. */
function messageId(prepared: PreparedChat): string {
  return `msg_${prepared.id.replace(/^chatcmpl-/, '')}`
}

/** The engine's `call_…` ids as Anthropic's `toolu_…`; ids the client made keep their own form. */
function toolUseId(callId: string): string {
  return callId.startsWith('call_') ? `toolu_${callId.slice('call_'.length)}` : callId
}

/**
 * A call's arguments as the object Anthropic's `input` must be. A forced call always is
 * one (a grammar writes it); a call the model wrote freely with arguments that are not
 * an object gets an empty one rather than a body the client cannot read.
 */
function toolInput(argumentsJson: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(argumentsJson)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // Not JSON: the empty object below.
  }
  return {}
}

function stopReason(choice: Pick<AssembledChoice, 'finishReason' | 'stopSequence'>): AnthropicStopReason {
  if (choice.finishReason === 'tool_calls') return 'tool_use'
  if (choice.finishReason === 'length') return 'max_tokens'
  return choice.stopSequence !== undefined ? 'stop_sequence' : 'end_turn'
}

function usage(inputTokens: number, outputTokens: number): AnthropicUsage {
  return {
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    cache_creation_input_tokens: null,
    cache_read_input_tokens: null,
    cache_creation: null,
    server_tool_use: null,
    service_tier: null,
    inference_geo: null,
    speed: null,
    output_tokens_details: null,
  }
}

/** The answer as one message: its text (an empty one when it said nothing at all), then each call as a `tool_use` block. */
export function anthropicMessage(prepared: PreparedChat, result: JobResult): AnthropicMessage {
  const choice = result.choices[0]
  const content: AnthropicContentBlock[] = []
  if (choice && (choice.text !== '' || choice.toolCalls.length === 0)) content.push({ type: 'text', text: choice.text, citations: null })
  for (const call of choice?.toolCalls ?? [])
    content.push({ type: 'tool_use', id: toolUseId(call.id), name: call.name, input: toolInput(call.arguments), caller: { type: 'direct' } })
  return {
    id: messageId(prepared),
    type: 'message',
    role: 'assistant',
    model: prepared.model,
    content,
    stop_reason: choice ? stopReason(choice) : 'end_turn',
    stop_sequence: choice?.stopSequence ?? null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: usage(result.usage.promptTokens, result.usage.completionTokens),
  }
}

/**
 * The job's events in Anthropic's order: `message_start` and a `ping` once the engine has
 * taken the prompt; a text block that opens with the first text; each call a `tool_use`
 * block whose input goes out as one `input_json_delta` when the call is whole (so it is
 * always the object the non-streamed message holds); then `message_delta` with the stop
 * reason and usage (input tokens included: they are known only then), and `message_stop`.
 */
export async function* anthropicEvents(prepared: PreparedChat, events: AsyncGenerator<ChoiceEvent>): AsyncGenerator<AnthropicStreamEvent> {
  let index = -1
  let open: { kind: 'text' } | { kind: 'tool_use'; arguments: string } | undefined
  function* close(): Generator<AnthropicStreamEvent> {
    if (!open) return
    if (open.kind === 'tool_use') yield { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(toolInput(open.arguments)) } }
    yield { type: 'content_block_stop', index }
    open = undefined
  }
  try {
    for await (const event of events) {
      switch (event.type) {
        case 'accepted':
          yield {
            type: 'message_start',
            message: { ...anthropicMessage(prepared, { choices: [], usage: { promptTokens: 0, completionTokens: 0 } }), content: [], stop_reason: null },
          }
          yield { type: 'ping' }
          break
        case 'text':
          if (event.text === '') break
          if (open?.kind !== 'text') {
            yield* close()
            open = { kind: 'text' }
            yield { type: 'content_block_start', index: ++index, content_block: { type: 'text', text: '', citations: null } }
          }
          yield { type: 'content_block_delta', index, delta: { type: 'text_delta', text: event.text } }
          break
        case 'tool_call':
          yield* close()
          open = { kind: 'tool_use', arguments: '' }
          yield {
            type: 'content_block_start',
            index: ++index,
            content_block: { type: 'tool_use', id: toolUseId(event.id), name: event.name, input: {}, caller: { type: 'direct' } },
          }
          break
        case 'tool_call_arguments':
          if (open?.kind === 'tool_use') open.arguments += event.text
          break
        case 'done': {
          yield* close()
          // As the non-streamed message: an answer that said nothing still has its (empty) text block.
          if (index < 0) {
            yield { type: 'content_block_start', index: ++index, content_block: { type: 'text', text: '', citations: null } }
            yield { type: 'content_block_stop', index }
          }
          const { promptTokens, completionTokens } = event
          yield {
            type: 'message_delta',
            delta: { stop_reason: stopReason(event), stop_sequence: event.stopSequence ?? null, stop_details: null, container: null },
            usage: {
              input_tokens: promptTokens,
              output_tokens: completionTokens,
              cache_creation_input_tokens: null,
              cache_read_input_tokens: null,
              server_tool_use: null,
              output_tokens_details: null,
            },
          }
          yield { type: 'message_stop' }
          break
        }
        // Anthropic's API has no logprobs; a restart only reaches non-streamed answers.
      }
    }
  } finally {
    await events.return(undefined).catch(() => undefined)
  }
}

/**
 * Anthropic's error type for a status. Visto keeps its own statuses on these routes too:
 * 503 (not Anthropic's 529) when the queue is full or the engine is loading, since proxies
 * and load balancers know 503, it carries Retry-After, and the official SDK retries both
 * (every status ≥ 500); the type still says `overloaded_error`.
 */
export function anthropicErrorType(status: number): AnthropicErrorType {
  switch (status) {
    case 401:
      return 'authentication_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 408:
      return 'timeout_error'
    case 413:
      return 'request_too_large'
    case 429:
      return 'rate_limit_error'
    case 503:
    case 529:
      return 'overloaded_error'
  }
  return status >= 500 ? 'api_error' : 'invalid_request_error'
}

/** `{"type": "error", "error": {"type", "message"}, "request_id"}`: the body of an error response and of a stream's `error` event. */
export function anthropicErrorBody(error: ApiError, requestId: string | null): AnthropicErrorResponse {
  return { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message }, request_id: requestId }
}
