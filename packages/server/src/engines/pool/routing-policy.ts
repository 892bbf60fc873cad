/**
 * Which engine of a pool answers a request: pure functions of what the router knows about
 * the engines (requests and estimated work they hold, work routed to them lately, whether
 * they hold the request's image), the request's affinity key and cost, and a counter/random
 * source, so the same code runs in the server and in the routing simulation
 * (scripts/bench-routing.js).
 *
 * - `affinity`: rendezvous (highest-random-weight) hashing on the key, so one image (or
 *   one conversation) keeps reaching the engine that holds its embeddings and KV cache,
 *   and adding or removing an engine moves only the keys that engine owned. When that
 *   engine is beyond the load bound, the request goes first to another engine that already
 *   holds the key (a popular image so gets copied onto a few engines, and no more), then to
 *   the next in its hash order. A follow-up goes before all of these to the engine that
 *   answered its conversation's previous turn, which holds that turn's KV cache: a popular
 *   image's conversations are spread over its engines, and each must find its own again.
 *   A key-less request (text, no history) goes by power-of-two-choices on work.
 * - `least-loaded`: the engine with the fewest requests per slot.
 * - `round-robin`: each engine in turn.
 */

export type RoutingMode = 'affinity' | 'least-loaded' | 'round-robin'
export const routingModes: readonly RoutingMode[] = ['affinity', 'least-loaded', 'round-robin']

/**
 * An engine as routing sees it. Work is in the unit of RequestCost (the server counts a
 * request 1 and an image to encode 1 more; the simulation counts seconds); an engine that
 * does not say its work or recent work is taken to have `load` of each.
 */
export interface RoutableEngine {
  id: string
  /** Requests it holds now (running or queued inside it). */
  load: number
  slots: number
  /** Estimated service time of the requests it holds. */
  work?: number
  /** Work routed to it lately, fading with time (DecayingSum). */
  recentWork?: number
  /** Whether it holds the request's key, as far as the router knows (KeyMirror). */
  holdsKey?: boolean
  /** Whether it answered the previous turn of the request's conversation (ConversationMemory). */
  holdsConversation?: boolean
}

/**
 * What a request is estimated to cost an engine that holds its key, and one that does not
 * (it encodes the image); and the engine that holds its conversation (it evaluates only
 * the new turn), `hit` when not given.
 */
export interface RequestCost {
  hit: number
  miss: number
  resume?: number
}

const unitCost: RequestCost = { hit: 1, miss: 1 }

/**
 * How far affinity may pile work onto the engines it prefers; an engine takes an affine
 * request only within both bounds.
 *
 * - Outstanding work (queueing, hence time to first token): the work it holds, this
 *   request's counted, at most `queue` × the request's hit cost per slot. At 2, a one-slot
 *   engine busy with one answer from cache still takes a follow-up (waiting for it costs
 *   less than encoding the image elsewhere), one busy encoding an image does not.
 * - Recent work (balance over time): at most `factor` × its slots-weighted share of the
 *   pool's recent work, plus `constant` × the request's hit cost. Outstanding work alone
 *   cannot bound this: an idle engine always fits it, so the first engine in a popular
 *   image's hash order takes that image whenever it is idle, and ends up the busiest of
 *   the pool. This is "consistent hashing with bounded loads" (Mirrokni, Thorup and
 *   Zadimoghaddam 2018) with load measured as work routed lately, rather than held.
 *   The constant keeps a quiet pool from spilling at all: ten questions in a row about
 *   one photo stay on one engine.
 *
 * Chosen with `npm run bench:routing` (docs/benchmarks.md).
 */
export interface LoadBound {
  queue: number
  factor: number
  constant: number
}

export const defaultLoadBound: LoadBound = { queue: 2, factor: 1.1, constant: 10 }

export interface RoutingChoice {
  /** Engines to try, best first: the first answers, the next takes a retry. */
  order: string[]
  /**
   * `affinity`: the engine of the request's conversation, else the key's own; `spill`: that engine was over the load bound, so another
   * (one holding the key, else the next in hash order); `balanced`: no key,
   * power-of-two-choices; or the mode's name.
   */
  reason: 'affinity' | 'spill' | 'balanced' | 'least-loaded' | 'round-robin'
  /** Affinity: the engine of the request's conversation, else the one its key hashes to first, whether or not it took the request. */
  preferred?: string
}

export interface RoutingContext {
  mode: RoutingMode
  bound?: LoadBound
  /** Increments per request, for round-robin. */
  counter: number
  /** Uniform in [0, 1): power-of-two-choices' sample. */
  random: () => number
  /** The request's estimated cost; 1 either way when not given. */
  cost?: RequestCost
}

/**
 * 53 well-mixed bits of a string (cyrb53: two 32-bit multiply-xorshift lanes), seeded.
 * Rendezvous hashing needs a hash that is fast, stable across processes and versions
 * (engines must agree after a restart), and uniform; cryptographic strength is not needed.
 */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

/** Engine ids by their rendezvous weight for `key`, highest first (ties by id, so the order is total). */
export function rendezvousOrder(key: string, ids: readonly string[]): string[] {
  const weighted = ids.map((id) => ({ id, weight: hash53(`${id}\u0000${key}`) }))
  weighted.sort((a, b) => b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return weighted.map((w) => w.id)
}

function perSlot(engine: RoutableEngine): number {
  return engine.load / Math.max(1, engine.slots)
}

function workOf(engine: RoutableEngine): number {
  return engine.work ?? engine.load
}

function workPerSlot(engine: RoutableEngine): number {
  return workOf(engine) / Math.max(1, engine.slots)
}

/** Stable sort of engines by `measure`, smallest first: equal ones keep their given order. */
function sortedBy(engines: readonly RoutableEngine[], measure: (engine: RoutableEngine) => number): RoutableEngine[] {
  return engines
    .map((engine, index) => ({ engine, index }))
    .sort((a, b) => measure(a.engine) - measure(b.engine) || a.index - b.index)
    .map((e) => e.engine)
}

/** What the request costs `engine`: less where its key is held, least where its conversation is. */
export function costOn(engine: RoutableEngine, cost: RequestCost): number {
  if (engine.holdsConversation) return cost.resume ?? cost.hit
  return engine.holdsKey ? cost.hit : cost.miss
}

/** Whether `engine` may take the request without holding more than the bound's outstanding work per slot. */
export function withinQueueBound(engine: RoutableEngine, cost: RequestCost, bound: LoadBound): boolean {
  return workOf(engine) + costOn(engine, cost) <= bound.queue * cost.hit * Math.max(1, engine.slots)
}

/** Whether `engine` may take the request without its recent work going beyond the bound's share of the pool's. */
export function withinBalanceBound(engine: RoutableEngine, pool: readonly RoutableEngine[], cost: RequestCost, bound: LoadBound): boolean {
  const recent = (e: RoutableEngine): number => e.recentWork ?? workOf(e)
  const own = costOn(engine, cost)
  const totalRecent = pool.reduce((sum, e) => sum + recent(e), 0)
  const totalSlots = pool.reduce((sum, e) => sum + Math.max(1, e.slots), 0)
  const share = ((totalRecent + own) * Math.max(1, engine.slots)) / totalSlots
  return recent(engine) + own <= bound.factor * share + bound.constant * cost.hit
}

/**
 * The engines to try for one request, best first; empty when `engines` is. `key` is the
 * request's affinity key (see routingKey), undefined when it has none.
 */
export function chooseEngines(engines: readonly RoutableEngine[], key: string | undefined, context: RoutingContext): RoutingChoice {
  if (engines.length === 0) return { order: [], reason: context.mode === 'affinity' ? 'balanced' : context.mode }
  if (context.mode === 'round-robin') {
    const start = context.counter % engines.length
    return { order: [...engines.slice(start), ...engines.slice(0, start)].map((e) => e.id), reason: 'round-robin' }
  }
  if (context.mode === 'least-loaded') {
    // Rotate first so that equally loaded engines take turns instead of the first always winning.
    const start = context.counter % engines.length
    return { order: sortedBy([...engines.slice(start), ...engines.slice(0, start)], perSlot).map((e) => e.id), reason: 'least-loaded' }
  }
  if (key === undefined) {
    const first = Math.floor(context.random() * engines.length)
    let second = Math.floor(context.random() * (engines.length - 1))
    if (second >= first) second++
    const pair = engines.length === 1 ? [engines[0]!] : [engines[first]!, engines[second]!]
    const [best] = sortedBy(pair, workPerSlot)
    return {
      order: [
        best!.id,
        ...sortedBy(
          engines.filter((e) => e !== best),
          workPerSlot,
        ).map((e) => e.id),
      ],
      reason: 'balanced',
    }
  }
  const byId = new Map(engines.map((e) => [e.id, e]))
  const hashOrder = rendezvousOrder(
    key,
    engines.map((e) => e.id),
  ).map((id) => byId.get(id)!)
  const [preferred, ...others] = hashOrder as [RoutableEngine, ...RoutableEngine[]]
  // Where its conversation is, then its own engine, then those already holding the key (the least busy first), then the rest in hash order.
  const resumer = hashOrder.find((e) => e.holdsConversation)
  const holders = sortedBy(
    others.filter((e) => e.holdsKey && e !== resumer),
    workPerSlot,
  )
  const candidates = [...(resumer ? [resumer] : []), ...(preferred === resumer ? [] : [preferred]), ...holders, ...others.filter((e) => !e.holdsKey && e !== resumer)]
  const bound = context.bound ?? defaultLoadBound
  const cost = context.cost ?? unitCost
  const fitsQueue = (e: RoutableEngine): boolean => withinQueueBound(e, cost, bound)
  const chosen =
    candidates.find((e) => fitsQueue(e) && withinBalanceBound(e, engines, cost, bound)) ??
    // Balance gives way before queueing does: the whole pool is busy or badly skewed.
    candidates.find(fitsQueue) ??
    // Every engine is beyond the bound (only when it is tight): the least busy takes it.
    sortedBy(candidates, workPerSlot)[0]!
  const first = resumer ?? preferred
  return {
    order: [chosen, ...candidates.filter((e) => e !== chosen)].map((e) => e.id),
    reason: chosen === first ? 'affinity' : 'spill',
    preferred: first.id,
  }
}
