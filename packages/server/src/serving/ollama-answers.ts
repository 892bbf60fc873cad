import { performance } from 'node:perf_hooks'
import type { OllamaChatResponse, OllamaGenerateResponse, OllamaLogprob, OllamaStats, OllamaToolCall } from '@visto/protocol'
import type { EngineToolCall, TokenLogprob } from '../engines/engine.js'
import { ChoiceAssembler, type ChoiceEvent, type ChoiceFinishReason } from './choice-events.js'

/** Which of Ollama's two generation endpoints an answer is for: they differ only in where the text goes. */
export type OllamaEndpoint = 'chat' | 'generate'

export type OllamaAnswer = OllamaChatResponse | OllamaGenerateResponse

/**
 * One object of an answer: `message` (chat) or `response` (generate) holding `text`.
 * `created_at` is when it was written, as Ollama's.
 */
function answerObject(
  endpoint: OllamaEndpoint,
  name: string,
  text: string,
  extra: { toolCalls?: OllamaToolCall[]; logprobs?: OllamaLogprob[] },
  done: false | (Partial<OllamaStats> & { done_reason: OllamaStats['done_reason'] }),
): OllamaAnswer {
  const head =
    endpoint === 'chat'
      ? { model: name, created_at: new Date().toISOString(), message: { role: 'assistant' as const, content: text, ...(extra.toolCalls ? { tool_calls: extra.toolCalls } : {}) } }
      : { model: name, created_at: new Date().toISOString(), response: text }
  const logprobs = extra.logprobs ? { logprobs: extra.logprobs } : {}
  return done === false ? { ...head, ...logprobs, done: false } : { ...head, ...logprobs, done: true, ...done }
}

/** Ollama's answer to a request without messages or prompt: the model is (and stays) loaded. */
export function loadedAnswer(endpoint: OllamaEndpoint, name: string): OllamaAnswer {
  return answerObject(endpoint, name, '', {}, { done_reason: 'load' })
}

/**
 * When an answer's phases ended, in performance.now() milliseconds, for Ollama's
 * nanosecond durations. `load_duration` is Visto's time before the engine took the
 * prompt (reading images, waiting for a slot): the model itself is always loaded.
 */
class AnswerClock {
  private acceptedAt: number | undefined
  private firstTokenAt: number | undefined

  constructor(private readonly startedAt: number) {}

  saw(event: ChoiceEvent): void {
    const now = performance.now()
    if (event.type === 'accepted') this.acceptedAt ??= now
    else if (event.type === 'text' || event.type === 'tool_call' || event.type === 'logprobs') this.firstTokenAt ??= now
  }

  stats(finishReason: ChoiceFinishReason, promptTokens: number, completionTokens: number): OllamaStats {
    const doneAt = performance.now()
    const acceptedAt = this.acceptedAt ?? this.startedAt
    const firstTokenAt = this.firstTokenAt ?? doneAt
    const ns = (ms: number): number => Math.max(0, Math.round(ms * 1e6))
    return {
      // Ollama says "stop" for an answer that ends in tool calls too.
      done_reason: finishReason === 'length' ? 'length' : 'stop',
      total_duration: ns(doneAt - this.startedAt),
      load_duration: ns(acceptedAt - this.startedAt),
      prompt_eval_count: promptTokens,
      prompt_eval_duration: ns(firstTokenAt - acceptedAt),
      eval_count: completionTokens,
      eval_duration: ns(doneAt - firstTokenAt),
    }
  }
}

/** A call as Ollama writes it: arguments as an object. */
function toOllamaToolCall(call: EngineToolCall, index: number): OllamaToolCall {
  let args: unknown
  try {
    args = JSON.parse(call.arguments)
  } catch {
    args = undefined
  }
  // A call cut off by the token limit has no whole arguments; Ollama's shape has no room for the fragment.
  const object = typeof args === 'object' && args !== null && !Array.isArray(args) ? (args as Record<string, unknown>) : {}
  return { id: call.id, function: { index, name: call.name, arguments: object } }
}

function toOllamaLogprobs(tokens: readonly TokenLogprob[]): OllamaLogprob[] {
  return tokens.map((t) => ({
    token: t.token,
    logprob: t.logprob,
    bytes: t.bytes,
    top_logprobs: t.top.map((top) => ({ token: top.token, logprob: top.logprob, bytes: top.bytes })),
  }))
}

/**
 * A whole answer from a job's events (one choice: Ollama has no `n`), as the single
 * object of a non-streamed response. `startedAt`: when the service received the request.
 */
export async function collectOllamaAnswer(
  endpoint: OllamaEndpoint,
  name: string,
  startedAt: number,
  events: AsyncIterable<ChoiceEvent>,
  withLogprobs: boolean,
): Promise<OllamaAnswer> {
  const clock = new AnswerClock(startedAt)
  const assembler = new ChoiceAssembler(withLogprobs)
  for await (const event of events) {
    clock.saw(event)
    assembler.add(event)
  }
  const { choices, usage } = assembler.result()
  const choice = choices[0]!
  const toolCalls = choice.toolCalls.map(toOllamaToolCall)
  return answerObject(
    endpoint,
    name,
    choice.text,
    { ...(toolCalls.length > 0 ? { toolCalls } : {}), ...(choice.logprobs ? { logprobs: toOllamaLogprobs(choice.logprobs) } : {}) },
    clock.stats(choice.finishReason, usage.promptTokens, usage.completionTokens),
  )
}

/**
 * A job's events as Ollama's stream: an object per piece of text (`done: false`), one per
 * tool call once its arguments are whole, and a last one with `done: true`, the reason
 * and the statistics. Logprobs ride with the text they scored.
 */
export async function* streamOllamaAnswer(endpoint: OllamaEndpoint, name: string, startedAt: number, events: AsyncIterable<ChoiceEvent>): AsyncGenerator<OllamaAnswer> {
  const clock = new AnswerClock(startedAt)
  let logprobs: TokenLogprob[] | undefined
  let call: EngineToolCall | undefined
  let callIndex = -1
  const flushCall = (): OllamaAnswer | undefined => {
    if (!call) return undefined
    const object = answerObject(endpoint, name, '', { toolCalls: [toOllamaToolCall(call, callIndex)] }, false)
    call = undefined
    return object
  }
  for await (const event of events) {
    clock.saw(event)
    if (event.type === 'logprobs') {
      logprobs = [...(logprobs ?? []), ...event.tokens]
      continue
    }
    if (event.type === 'tool_call_arguments') {
      if (call) call.arguments += event.text
      continue
    }
    const pendingCall = flushCall()
    if (pendingCall) yield pendingCall
    if (logprobs && event.type !== 'text') {
      yield answerObject(endpoint, name, '', { logprobs: toOllamaLogprobs(logprobs) }, false)
      logprobs = undefined
    }
    switch (event.type) {
      case 'text':
        yield answerObject(endpoint, name, event.text, logprobs ? { logprobs: toOllamaLogprobs(logprobs) } : {}, false)
        logprobs = undefined
        break
      case 'tool_call':
        call = { id: event.id, name: event.name, arguments: '' }
        callIndex = event.index
        break
      case 'done':
        yield answerObject(endpoint, name, '', {}, clock.stats(event.finishReason, event.promptTokens, event.completionTokens))
        break
    }
  }
}
