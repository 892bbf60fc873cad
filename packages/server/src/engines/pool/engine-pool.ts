import { ApiError, EngineUnavailableError, NotFoundError, OverloadedError } from '../../errors.js'
import type { Engine, EngineEvent, EngineHistory, EngineInfo, EngineRequest, EngineState, PoolMemberStatus } from '../engine.js'
import { autoImageCacheCeilingMb } from '../llama-cpp/image-cache-size.js'
import { CircuitBreaker, defaultBreakerOptions, type BreakerOptions } from './circuit-breaker.js'
import { qwen3VlGeometry } from '../vision-geometry.js'
import { labelExposition } from './label-exposition.js'
import { routingKeys } from './routing-key.js'
import { ConversationMemory, DecayingSum, KeyMirror, defaultConversationMemory, defaultRecentWorkSeconds, mirrorEntriesFor } from './routing-memory.js'
import { chooseEngines, defaultLoadBound, type LoadBound, type RequestCost, type RoutingMode } from './routing-policy.js'

/**
 * An engine of a pool: any Engine, plus what the pool may ask of engines someone else runs.
 * `probe` asks the engine once whether it serves (an upstream's GET /models) and is how
 * such an engine is started and re-admitted; without it the pool starts the engine and
 * reads its health(). `servedModel` is the model id the engine itself reports, which
 * groups engines serving different models.
 */
export type PoolableEngine = Engine & {
  probe?(): Promise<void>
  servedModel?(): string | undefined
}

export interface PoolMember {
  /** Stable name: the upstream's URL or `replica-N`; what the hash and the `upstream` label use. */
  id: string
  engine: PoolableEngine
}

/** Where a pool's engines come from when they change at run time (DNS discovery). */
export interface MembershipSource {
  /** The members there should be now; a failure keeps the current ones. */
  list(): Promise<PoolMember[]>
  /** How often to ask, in ms. */
  intervalMs: number
}

export interface EnginePoolOptions {
  routing: RoutingMode
  bound?: LoadBound
  /**
   * How many images each engine's embedding cache holds: the size of the router's mirror of
   * it (KeyMirror). Default: what an auto-sized cache holds on a machine with memory to spare.
   */
  cacheEntries?: number
  /** How long work routed to an engine keeps counting as recent (DecayingSum's time constant), in ms. */
  recentWorkMs?: number
  breaker?: BreakerOptions
  /** How often every engine is probed, in ms. */
  probeIntervalMs?: number
  /** Model ids clients send for the pool's first model group (--model-alias). */
  modelAliases: string[]
  /** What describe() says while the pool has no engine (discovery found none yet). */
  contextLength?: number
  membership?: MembershipSource
  log?: (line: string) => void
  now?: () => number
  random?: () => number
}

/**
 * What a request is estimated to cost an engine, in requests: one, and one more where its
 * image must go through the vision encoder first (about half a photo's time to first token
 * on our CPU, docs/benchmarks.md). Text keys (a conversation's prefix) cost the same either
 * way as far as the router can tell.
 */
function requestCost(key: string | undefined): RequestCost {
  return key?.startsWith('image:') ? { hit: 1, miss: 2 } : { hit: 1, miss: 1 }
}

class Member {
  readonly breaker: CircuitBreaker
  /** Estimated work of the requests it holds (requestCost's unit). */
  work = 0
  inFlight = 0
  requests = 0
  failures = 0
  retries = 0
  affinityHits = 0
  affinitySpills = 0
  removed = false

  constructor(
    readonly id: string,
    readonly engine: PoolableEngine,
    breaker: BreakerOptions,
    /** The keys lately routed here: what its embedding cache holds, as far as the router knows. */
    readonly mirror: KeyMirror,
    /** Work routed here lately, for the balance part of the load bound. */
    readonly recentWork: DecayingSum,
  ) {
    // Out until it has started or passed a probe.
    this.breaker = new CircuitBreaker(breaker, 'open')
  }

  get available(): boolean {
    return !this.removed && this.breaker.available && this.engine.state().status === 'ready'
  }

  get model(): string {
    return this.engine.servedModel?.() ?? this.engine.describe().models[0] ?? ''
  }

  get slots(): number {
    return this.engine.describe().parallel
  }

  /** Sizes the mirror as the engine says its cache is, when it says (else the pool's assumption stands): on admission and after each passed probe. */
  syncMirror(): void {
    const bytes = this.engine.describe().imageCacheBytes
    if (bytes !== undefined) this.mirror.resize(mirrorEntriesFor(bytes / (1024 * 1024)))
  }
}

/** Worth another engine: it never reached a model (refused, died, 5xx) or the engine was busy. A 4xx is the request's own fault. */
function isEngineFailure(error: unknown): boolean {
  return !(error instanceof ApiError) || error.status >= 500 || error.status === 429
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Many engines behind one Engine: each request goes to the engine its routing policy
 * picks among the healthy ones of its model's group; a failure before any text reached
 * the client is retried once on the next; engines that fail are taken out by their
 * circuit breaker and put back when a probe passes. Its `parallel` is the sum of the
 * healthy engines' slots, which admission follows (watchCapacity).
 */
export class EnginePool implements Engine {
  readonly id = 'pool'
  private readonly members = new Map<string, Member>()
  /** Which engine answered each conversation's latest turn (affinity routing). */
  private readonly conversations = new ConversationMemory(defaultConversationMemory)
  private counter = 0
  private probeTimer: NodeJS.Timeout | undefined
  private membershipTimer: NodeJS.Timeout | undefined
  private closed = false
  private readonly capacityListeners: Array<(parallel: number) => void> = []
  private lastCapacity = -1
  private readonly now: () => number
  private readonly random: () => number
  private probing: Promise<void> | undefined
  countPromptTokens?: Engine['countPromptTokens']
  countTextTokens?: Engine['countTextTokens']

  constructor(
    initial: readonly PoolMember[],
    private readonly options: EnginePoolOptions,
  ) {
    this.now = options.now ?? Date.now
    this.random = options.random ?? Math.random
    for (const member of initial) this.add(member)
    // Serving counts a prompt without a slot only where the engine can count it. That holds
    // for a pool only when every engine it will ever have can: a fixed pool of such engines
    // (--replicas of Visto's build). A pool that discovers engines, or holds one that cannot
    // count, has neither, so counting runs one token in a slot as it would on such an engine.
    if (!options.membership && initial.length > 0 && initial.every((m) => m.engine.countPromptTokens && m.engine.countTextTokens)) {
      this.countPromptTokens = (request, signal) => this.countingEngine(request.model).countPromptTokens!(request, signal)
      this.countTextTokens = (texts, signal) => this.countingEngine(undefined).countTextTokens!(texts, signal)
    }
  }

  /** An available engine of the model's group (the first group without a model), least busy first: counting costs it no slot. */
  private countingEngine(model: string | undefined): PoolableEngine {
    const available = this.groupFor(model)
      .filter((m) => m.available)
      .sort((a, b) => a.inFlight - b.inFlight)
    if (available[0]) return available[0].engine
    throw new EngineUnavailableError(`No engine${model === undefined ? '' : ` serving "${model}"`} is available to count tokens. Retry shortly.`, { retryAfterSeconds: 5 })
  }

  private add({ id, engine }: PoolMember): Member {
    const member = new Member(
      id,
      engine,
      this.options.breaker ?? defaultBreakerOptions,
      new KeyMirror(this.options.cacheEntries ?? mirrorEntriesFor(autoImageCacheCeilingMb)),
      new DecayingSum(this.options.recentWorkMs ?? defaultRecentWorkSeconds * 1000),
    )
    this.members.set(id, member)
    return member
  }

  /** The engine failed, restarted or left: what the router believed it cached may be gone. */
  private forgetCaches(member: Member): void {
    member.mirror.forget()
    this.conversations.forgetEngine(member.id)
  }

  private get list(): Member[] {
    return [...this.members.values()]
  }

  /** Starts (or first probes) every engine; resolves once each has answered or failed, if any serves. */
  async start(): Promise<void> {
    if (this.options.membership) await this.refreshMembership()
    const results = await Promise.allSettled(this.list.map((member) => this.startMember(member)))
    this.probeTimer = setInterval(() => void this.probeAll(), this.options.probeIntervalMs ?? 5000)
    this.probeTimer.unref()
    if (this.options.membership) {
      this.membershipTimer = setInterval(() => void this.refreshMembership(), this.options.membership.intervalMs)
      this.membershipTimer.unref()
    }
    this.capacityMayHaveChanged()
    if (!this.list.some((m) => m.available)) {
      const reasons = results.map((r, i) => (r.status === 'rejected' ? `${this.list[i]?.id}: ${describeError(r.reason)}` : undefined)).filter(Boolean)
      throw new Error(`no engine of the pool could start${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`)
    }
  }

  private async startMember(member: Member): Promise<void> {
    try {
      if (member.engine.probe) await member.engine.probe()
      else await member.engine.start()
      this.admit(member)
    } catch (error) {
      member.breaker.startFailed(this.now(), describeError(error))
      this.options.log?.(`[visto] engine ${member.id} did not start: ${describeError(error)}`)
      throw error
    }
  }

  /** A member that just started or passed its first probe serves at once. */
  private admit(member: Member): void {
    member.syncMirror()
    member.breaker.admit()
    this.capacityMayHaveChanged()
  }

  /** One round of probes; rounds never overlap. */
  probeAll(): Promise<void> {
    this.probing ??= (async () => {
      try {
        await Promise.all(this.list.map((member) => this.probe(member)))
      } finally {
        this.probing = undefined
        this.capacityMayHaveChanged()
      }
    })()
    return this.probing
  }

  private async probe(member: Member): Promise<void> {
    const now = this.now()
    const state = member.breaker.state
    // An open breaker is not retried before its delay.
    if (state === 'open' && !member.breaker.probeDue(now)) return
    try {
      if (member.engine.probe) await member.engine.probe()
      else await member.engine.health()
      const wasOut = state === 'open'
      // A probe may have read the engine's settings again (an upstream re-reads them after a failure).
      member.syncMirror()
      member.breaker.probePassed(this.now())
      if (wasOut && member.breaker.available) this.options.log?.(`[visto] engine ${member.id} answers again: back in the pool`)
    } catch (error) {
      const wasIn = state !== 'open'
      member.breaker.probeFailed(this.now(), describeError(error))
      // Whatever comes back may be a restarted engine with an empty cache.
      this.forgetCaches(member)
      if (wasIn) this.options.log?.(`[visto] engine ${member.id} taken out: ${describeError(error)}`)
    }
  }

  private async refreshMembership(): Promise<void> {
    const source = this.options.membership
    if (!source || this.closed) return
    let wanted: PoolMember[]
    try {
      wanted = await source.list()
    } catch (error) {
      this.options.log?.(`[visto] engine discovery failed (keeping ${this.members.size} engines): ${describeError(error)}`)
      return
    }
    const ids = new Set(wanted.map((m) => m.id))
    for (const member of this.list) {
      if (ids.has(member.id)) continue
      member.removed = true
      this.members.delete(member.id)
      this.conversations.forgetEngine(member.id)
      this.options.log?.(`[visto] engine ${member.id} left the pool`)
      void member.engine.close()
    }
    const joined = wanted.filter((m) => !this.members.has(m.id)).map((m) => this.add(m))
    for (const member of joined) {
      this.options.log?.(`[visto] engine ${member.id} joined the pool`)
      // When the pool is already running; start() starts the first ones itself.
      if (this.probeTimer) this.startMember(member).catch(() => {})
    }
    this.capacityMayHaveChanged()
  }

  private capacityMayHaveChanged(): void {
    const capacity = this.describe().parallel
    if (capacity === this.lastCapacity) return
    this.lastCapacity = capacity
    for (const listener of this.capacityListeners) listener(capacity)
  }

  /** Calls `listener` with the pool's slots whenever engines come or go. */
  watchCapacity(listener: (parallel: number) => void): void {
    this.capacityListeners.push(listener)
  }

  /** Engines grouped by the model they serve, in the order they were configured. */
  private groups(): Map<string, Member[]> {
    const groups = new Map<string, Member[]>()
    for (const member of this.list) {
      const model = member.model
      groups.set(model, [...(groups.get(model) ?? []), member])
    }
    return groups
  }

  /** The engines a request for `model` may go to: its group, or the first group for one of --model-alias or for no model. */
  private groupFor(model: string | undefined): Member[] {
    const groups = this.groups()
    const named = model === undefined || this.options.modelAliases.includes(model) ? undefined : groups.get(model)
    if (named) return named
    return [...groups.values()][0] ?? []
  }

  describe(): EngineInfo {
    const members = this.list
    const serving = members.filter((m) => m.available)
    const reference = serving[0] ?? members[0]
    const info = reference?.engine.describe()
    const groupIds = [...this.groups().keys()]
    const models = groupIds.length > 1 ? [...this.options.modelAliases, ...groupIds.filter((id) => !this.options.modelAliases.includes(id))] : this.options.modelAliases
    return {
      models,
      contextLength: members.length > 0 ? Math.min(...members.map((m) => m.engine.describe().contextLength)) : (this.options.contextLength ?? 0),
      parallel: serving.reduce((sum, m) => sum + m.slots, 0),
      vision: members.some((m) => m.engine.describe().vision),
      geometry: info?.geometry ?? qwen3VlGeometry,
      kind: info?.kind ?? 'pool',
    }
  }

  state(): EngineState {
    if (this.closed) return { status: 'unavailable', message: 'shutting down' }
    const members = this.list
    if (members.some((m) => m.available)) return { status: 'ready' }
    const loading = members.map((m) => m.engine.state()).filter((s): s is Extract<EngineState, { status: 'loading' }> => s.status === 'loading')
    if (loading.length > 0 && members.every((m) => m.breaker.reason === undefined || m.engine.state().status === 'loading')) {
      return { status: 'loading', progress: Math.max(...loading.map((s) => s.progress)), message: loading[0]!.message }
    }
    return { status: 'unavailable', message: this.outMessage() }
  }

  private outMessage(): string {
    const members = this.list
    if (members.length === 0) return 'no engines (discovery found none)'
    return `all ${members.length} engines are out (${members.map((m) => `${m.id}: ${m.breaker.reason ?? m.engine.state().status}`).join('; ')})`
  }

  async health(): Promise<void> {
    if (this.list.some((m) => m.available)) return
    const retryMs = Math.min(...this.list.map((m) => m.breaker.retryInMs(this.now())), this.options.probeIntervalMs ?? 5000)
    const loading = this.state().status === 'loading'
    throw new EngineUnavailableError(loading ? 'The model is not ready: the engines are loading.' : `No engine can take the request: ${this.outMessage()}. Retry shortly.`, {
      code: loading ? 'model_loading' : 'engine_unavailable',
      retryAfterSeconds: Math.max(1, Math.ceil(retryMs / 1000)),
    })
  }

  async *generate(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const group = this.groupFor(request.model)
    if (group.length === 0) throw new NotFoundError(`No engine serves the model "${request.model}".`, { param: 'model', code: 'model_not_found' })
    const candidates = group.filter((m) => m.available)
    if (candidates.length === 0) {
      await this.health()
      throw new EngineUnavailableError(`No engine serving "${request.model}" is available. Retry shortly.`, { retryAfterSeconds: 5 })
    }
    const byId = new Map(candidates.map((m) => [m.id, m]))
    const { key, conversation, followUp } = this.options.routing === 'affinity' ? routingKeys(request) : { key: undefined, conversation: undefined, followUp: false }
    const cost = requestCost(key)
    const resumer = conversation !== undefined && key !== undefined && followUp ? this.conversations.engineOf(conversation) : undefined
    const now = this.now()
    const choice = chooseEngines(
      candidates.map((m) => ({
        id: m.id,
        load: m.inFlight,
        slots: m.slots,
        work: m.work,
        recentWork: m.recentWork.valueAt(now),
        holdsKey: key !== undefined && m.mirror.has(key),
        holdsConversation: m.id === resumer,
      })),
      key,
      { mode: this.options.routing, bound: this.options.bound ?? defaultLoadBound, counter: this.counter++, random: this.random, cost },
    )
    if (choice.reason === 'affinity') byId.get(choice.order[0]!)!.affinityHits++
    if (choice.reason === 'spill' && choice.preferred) byId.get(choice.preferred)!.affinitySpills++
    // The first choice, then one retry on the next engine in order.
    const attempts = choice.order.slice(0, 2).map((id) => byId.get(id)!)
    let accepted = false
    for (let attempt = 0; attempt < attempts.length; attempt++) {
      const member = attempts[attempt]!
      let answered = false
      const work = key !== undefined && (member.mirror.has(key) || member.id === resumer) ? cost.hit : cost.miss
      if (key !== undefined) member.mirror.record(key)
      // A first text-only question has no key, but its follow-up should still find its KV cache.
      if (conversation !== undefined) this.conversations.record(conversation, member.id)
      member.work += work
      member.recentWork.add(work, this.now())
      member.inFlight++
      member.requests++
      if (attempt > 0) member.retries++
      try {
        for await (const event of member.engine.generate(request, signal)) {
          if (event.type === 'accepted') {
            if (accepted) continue
            accepted = true
          } else {
            answered = true
          }
          yield event
        }
        member.breaker.succeeded()
        return
      } catch (error) {
        if (signal.aborted) throw error
        if (!isEngineFailure(error)) {
          // The engine answered, if with a refusal: it works.
          member.breaker.succeeded()
          throw error
        }
        member.failures++
        // A busy engine is not a broken one; a broken one may have lost what it cached.
        if (!(error instanceof OverloadedError)) {
          member.breaker.failed(this.now(), describeError(error))
          this.forgetCaches(member)
        }
        this.capacityMayHaveChanged()
        const next = attempts[attempt + 1]
        // Text the client has seen cannot be taken back; a non-streamed answer's can.
        if ((answered && !request.restartable) || !next || !next.available) {
          if (error instanceof ApiError) throw error
          throw new EngineUnavailableError(`The engine ${member.id} failed${answered ? ' mid-answer' : ''}: ${describeError(error)}`, { cause: error })
        }
        this.options.log?.(`[visto] ${request.requestId}: engine ${member.id} failed before the client saw an answer (${describeError(error)}); retrying on ${next.id}`)
        if (answered) yield { type: 'restart' }
      } finally {
        member.inFlight--
        member.work -= work
      }
    }
  }

  /** Each engine's figures, in configuration order. */
  poolStatus(): PoolMemberStatus[] {
    return this.list.map((m) => ({
      id: m.id,
      model: m.model,
      state: m.breaker.state,
      engineState: m.engine.state().status,
      ...(m.breaker.reason !== undefined && !m.breaker.available ? { reason: m.breaker.reason } : {}),
      slots: m.slots,
      inFlight: m.inFlight,
      requests: m.requests,
      failures: m.failures,
      retries: m.retries,
      ejections: m.breaker.ejections,
      affinityHits: m.affinityHits,
      affinitySpills: m.affinitySpills,
      imageCacheEntries: m.mirror.capacity,
    }))
  }

  history(): EngineHistory {
    const histories = this.list.map((m) => m.engine.history?.()).filter((h): h is EngineHistory => h !== undefined)
    const loads = histories.map((h) => h.lastLoadSeconds).filter((s): s is number => s !== undefined)
    return { restarts: histories.reduce((n, h) => n + h.restarts, 0), lastLoadSeconds: loads.length > 0 ? Math.max(...loads) : undefined }
  }

  /** Every engine's own metrics, each sample labelled with its `upstream`. */
  async prometheusMetrics(): Promise<string | undefined> {
    const texts = await Promise.all(this.list.map(async (m) => ({ id: m.id, text: await m.engine.prometheusMetrics?.().catch(() => undefined) })))
    const present = texts.filter((t): t is { id: string; text: string } => t.text !== undefined)
    if (present.length === 0) return undefined
    return labelExposition(present.map((t) => ({ label: t.id, text: t.text })))
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.probeTimer)
    clearInterval(this.membershipTimer)
    await Promise.all(this.list.map((m) => m.engine.close()))
  }

  kill(): void {
    this.closed = true
    clearInterval(this.probeTimer)
    clearInterval(this.membershipTimer)
    for (const member of this.list) member.engine.kill()
  }
}
