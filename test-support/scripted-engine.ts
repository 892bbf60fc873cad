import { EngineUnavailableError } from '../packages/server/src/errors.js'
import type { Engine, EngineEvent, EngineInfo, EngineRequest, EngineState } from '../packages/server/src/engines/engine.js'
import { qwen3VlGeometry } from '../packages/server/src/engines/vision-geometry.js'

export type Script = (request: EngineRequest, signal: AbortSignal) => AsyncIterable<EngineEvent>

/**
 * A scripted engine for testing serving and HTTP logic only (chunk order, errors,
 * admission). Everything that touches the model runs the real llama-server instead.
 */
export class ScriptedEngine implements Engine {
  readonly id = 'scripted'
  readonly requests: EngineRequest[] = []
  aborted = 0
  currentState: EngineState = { status: 'ready' }

  constructor(
    public script: Script = words(['Hello', ' world']),
    private readonly info: Partial<EngineInfo> = {},
  ) {}

  describe(): EngineInfo {
    return { models: ['qwen3-vl-4b-instruct'], contextLength: 4096, parallel: 1, vision: true, geometry: qwen3VlGeometry, kind: 'scripted', ...this.info }
  }

  state(): EngineState {
    return this.currentState
  }

  async health(): Promise<void> {
    if (this.currentState.status !== 'ready') throw new EngineUnavailableError('The model is not ready: loading.', { code: 'model_loading' })
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    this.requests.push(request)
    signal.addEventListener('abort', () => this.aborted++, { once: true })
    yield* this.script(request, signal)
  }

  async start(): Promise<void> {}
  async close(): Promise<void> {}
  kill(): void {}
}

/** Accepts the prompt, emits the given deltas, then done(stop) with fixed token counts. */
export function words(deltas: string[], finishReason: 'stop' | 'length' = 'stop', promptTokens = 20): Script {
  return async function* () {
    yield { type: 'accepted' }
    for (const text of deltas) yield { type: 'text', text }
    yield { type: 'done', finishReason, promptTokens, completionTokens: deltas.length }
  }
}

/** Accepts the prompt, then emits deltas slowly until aborted: for disconnect and queue tests. */
export function endless(intervalMs = 20): Script {
  return async function* (_request, signal) {
    yield { type: 'accepted' }
    while (!signal.aborted) {
      yield { type: 'text', text: 'x' }
      await new Promise((r) => setTimeout(r, intervalMs))
    }
    throw signal.reason
  }
}

/** Throws a fresh `makeError()` before any event, as an engine that refuses the prompt outright. */
export function throwing(makeError: () => Error): Script {
  return () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(makeError()) }) })
}
