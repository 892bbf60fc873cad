import type { ResponsesLogprob, ResponsesOutputItem, ResponsesOutputMessage, ResponsesOutputText, ResponsesResponse, ResponsesUsage } from '@visto/protocol'
import { newId } from '../data-dir.js'
import type { EngineToolCall, TokenLogprob } from '../engines/engine.js'
import type { ChoiceFinishReason, JobResult, JobUsage } from '../serving/choice-events.js'
import type { ResponsesRequest } from './responses-request.js'

/** What every response object of one request shares, whatever its state. */
export interface ResponseIdentity {
  id: string
  createdAt: number
  model: string
  store: boolean
  request: ResponsesRequest
}

/** The response object before any output: `status` in_progress, as `response.created` shows it. */
export function responseSkeleton(identity: ResponseIdentity): ResponsesResponse {
  const { request } = identity
  return {
    id: identity.id,
    object: 'response',
    created_at: identity.createdAt,
    status: 'in_progress',
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: request.instructions,
    max_output_tokens: request.echo.maxOutputTokens,
    model: identity.model,
    output: [],
    parallel_tool_calls: request.echo.parallelToolCalls,
    previous_response_id: request.previousResponseId,
    store: identity.store,
    temperature: request.sampling.temperature ?? null,
    text: { format: request.echo.textFormat },
    tool_choice: request.echo.toolChoice,
    tools: request.echo.tools,
    top_p: request.sampling.topP ?? null,
    truncation: request.echo.truncation,
    usage: null,
    metadata: request.echo.metadata,
    user: request.echo.user,
  }
}

/** The response once the answer is whole: `incomplete` when it stopped at max_output_tokens. */
export function finishedResponse(skeleton: ResponsesResponse, output: ResponsesOutputItem[], finishReason: ChoiceFinishReason, usage: JobUsage, now: number): ResponsesResponse {
  const incomplete = finishReason === 'length'
  return {
    ...skeleton,
    status: incomplete ? 'incomplete' : 'completed',
    completed_at: incomplete ? null : now,
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    output,
    usage: responsesUsage(usage),
  }
}

/** The output items of a whole answer: its text as one message (omitted when the answer is only calls), then each call. */
export function outputItems(result: JobResult): { output: ResponsesOutputItem[]; finishReason: ChoiceFinishReason } {
  const choice = result.choices[0]
  if (!choice) return { output: [outputMessage(newId('msg_'), '', undefined, 'completed')], finishReason: 'stop' }
  const status = choice.finishReason === 'length' ? 'incomplete' : 'completed'
  const output: ResponsesOutputItem[] = []
  if (choice.text !== '' || choice.toolCalls.length === 0) output.push(outputMessage(newId('msg_'), choice.text, choice.logprobs, status))
  for (const call of choice.toolCalls) output.push(functionCallItem(newId('fc_'), call, status))
  return { output, finishReason: choice.finishReason }
}

export function outputMessage(id: string, text: string, logprobs: readonly TokenLogprob[] | undefined, status: ResponsesOutputMessage['status']): ResponsesOutputMessage {
  return { type: 'message', id, role: 'assistant', status, content: [outputText(text, logprobs)] }
}

export function outputText(text: string, logprobs: readonly TokenLogprob[] | undefined): ResponsesOutputText {
  return { type: 'output_text', text, annotations: [], ...(logprobs ? { logprobs: responsesLogprobs(logprobs) } : {}) }
}

export function functionCallItem(id: string, call: EngineToolCall, status: ResponsesOutputMessage['status']): ResponsesOutputItem {
  return { type: 'function_call', id, call_id: call.id, name: call.name, arguments: call.arguments, status }
}

export function responsesLogprobs(tokens: readonly TokenLogprob[]): ResponsesLogprob[] {
  return tokens.map((t) => ({
    token: t.token,
    logprob: t.logprob,
    bytes: t.bytes,
    top_logprobs: t.top.map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes })),
  }))
}

export function responsesUsage(usage: JobUsage): ResponsesUsage {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.promptTokens + usage.completionTokens,
  }
}
