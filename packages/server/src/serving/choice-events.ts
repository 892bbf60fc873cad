import type { EngineEvent, EngineToolCall, TokenLogprob } from '../engines/engine.js'

/**
 * What a running chat job tells every API adapter: the engine's events, each tagged with
 * the choice (one of the job's `n` answers) it belongs to. Each choice starts with
 * `accepted` (the service adds one when an engine has no such point), then its text,
 * tool calls and logprobs, and ends with its `done`; choices come one after another.
 * A streaming adapter maps them as they come; a non-streaming one collects them with
 * `ChoiceAssembler`.
 */
export type ChoiceEvent = EngineEvent & { choice: number }

export type ChoiceFinishReason = Extract<EngineEvent, { type: 'done' }>['finishReason']

/** One answer, whole. */
export interface AssembledChoice {
  index: number
  text: string
  /** In the order the model made them; `arguments` is JSON text. */
  toolCalls: EngineToolCall[]
  /** Every generated token's, when the job asked for logprobs; undefined otherwise. */
  logprobs: TokenLogprob[] | undefined
  finishReason: ChoiceFinishReason
  /** The request's stop string that ended this answer, when one did (APIs that report it: Anthropic's). */
  stopSequence?: string | undefined
}

/** Tokens for the whole job: the prompt counted once (every choice reads the same one), the completions of all choices summed. */
export interface JobUsage {
  promptTokens: number
  completionTokens: number
}

export interface JobResult {
  choices: AssembledChoice[]
  usage: JobUsage
}

/** Adds up the events of a job into its answers and usage. */
export class ChoiceAssembler {
  private readonly choices: AssembledChoice[] = []
  private readonly usage: JobUsage = { promptTokens: 0, completionTokens: 0 }
  private sawPrompt = false

  constructor(private readonly withLogprobs: boolean) {}

  add(event: ChoiceEvent): void {
    const choice = this.choice(event.choice)
    switch (event.type) {
      case 'accepted':
        return
      case 'restart':
        choice.text = ''
        choice.toolCalls.length = 0
        choice.logprobs?.splice(0)
        return
      case 'text':
        choice.text += event.text
        return
      case 'tool_call':
        choice.toolCalls[event.index] = { id: event.id, name: event.name, arguments: '' }
        return
      case 'tool_call_arguments': {
        const call = choice.toolCalls[event.index]
        // Arguments before their call would be an engine bug; they are kept rather than lost.
        if (call) call.arguments += event.text
        else choice.toolCalls[event.index] = { id: '', name: '', arguments: event.text }
        return
      }
      case 'logprobs':
        choice.logprobs?.push(...event.tokens)
        return
      case 'done':
        choice.finishReason = event.finishReason
        if (event.stopSequence !== undefined) choice.stopSequence = event.stopSequence
        if (!this.sawPrompt) this.usage.promptTokens = event.promptTokens
        this.sawPrompt = true
        this.usage.completionTokens += event.completionTokens
    }
  }

  result(): JobResult {
    return { choices: this.choices.map((c) => ({ ...c, toolCalls: c.toolCalls.filter(Boolean) })), usage: { ...this.usage } }
  }

  private choice(index: number): AssembledChoice {
    while (this.choices.length <= index) {
      this.choices.push({ index: this.choices.length, text: '', toolCalls: [], logprobs: this.withLogprobs ? [] : undefined, finishReason: 'stop' })
    }
    return this.choices[index]!
  }
}
