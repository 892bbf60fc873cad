/**
 * Which engine of a pool answers a request: pure functions of the engines' loads, the
 * request's affinity key and a counter/random source, so the same code runs in the
 * server and in the routing simulation (scripts/bench-routing.ts).
 *
 * - `affinity`: rendezvous (highest-random-weight) hashing on the key, so one image (or
 *   one conversation) keeps reaching the engine that holds its embeddings and KV cache,
 *   and adding or removing an engine moves only the keys that engine owned. A key-less
 *   request (text, no history) goes by power-of-two-choices on load.
 * - `least-loaded`: the engine with the fewest requests per slot.
 * - `round-robin`: each engine in turn.
 */

export type RoutingMode = 'affinity' | 'least-loaded' | 'round-robin'
export const routingModes: readonly RoutingMode[] = ['affinity', 'least-loaded', 'round-robin']

/** An engine as routing sees it: requests it holds now (running or queued inside it) and its slots. */
export interface RoutableEngine {
  id: string
  load: number
  slots: number
}

/**
 * How far affinity may pile requests onto the engine it prefers. An engine is full for an
 * affine request when taking it would put it above `factor` × its fair share of the pool's
 * requests (slots-weighted, the new one counted) plus `constant` requests; the request then
 * goes to the next engine in its hash order ("consistent hashing with bounded loads",
 * Mirrokni, Thorup and Zadimoghaddam 2018). The constant keeps a lightly loaded pool from
 * spilling at all: with everything idle the fair share is a fraction of one request.
 * Chosen with `npm run bench:routing` (docs/benchmarks.md).
 */
export interface LoadBound {
  factor: number
  constant: number
}

export const defaultLoadBound: LoadBound = { factor: 1.25, constant: 2 }

export interface RoutingChoice {
  /** Engines to try, best first: the first answers, the next takes a retry. */
  order: string[]
  /**
   * `affinity`: the key's own engine; `spill`: its engine was over the load bound, so a later
   * one in its hash order; `balanced`: no key, power-of-two-choices; or the mode's name.
   */
  reason: 'affinity' | 'spill' | 'balanced' | 'least-loaded' | 'round-robin'
  /** Affinity: the engine the key hashes to first, whether or not it took the request. */
  preferred?: string
}

export interface RoutingContext {
  mode: RoutingMode
  bound?: LoadBound
  /** Increments per request, for round-robin. */
  counter: number
  /** Uniform in [0, 1): power-of-two-choices' sample. */
  random: () => number
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

/** Engines by load per slot, lightest first; equal ones keep their given order. */
function byLoad(engines: readonly RoutableEngine[]): RoutableEngine[] {
  return engines.map((engine, index) => ({ engine, index })).sort((a, b) => perSlot(a.engine) - perSlot(b.engine) || a.index - b.index).map((e) => e.engine)
}

/** Whether `engine` may take one more affine request under `bound`, given the whole pool. */
export function withinLoadBound(engine: RoutableEngine, pool: readonly RoutableEngine[], bound: LoadBound): boolean {
  const totalLoad = pool.reduce((sum, e) => sum + e.load, 0)
  const totalSlots = pool.reduce((sum, e) => sum + Math.max(1, e.slots), 0)
  const fairShare = ((totalLoad + 1) * Math.max(1, engine.slots)) / totalSlots
  return engine.load + 1 <= bound.factor * fairShare + bound.constant
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
    return { order: byLoad([...engines.slice(start), ...engines.slice(0, start)]).map((e) => e.id), reason: 'least-loaded' }
  }
  if (key === undefined) {
    const first = Math.floor(context.random() * engines.length)
    let second = Math.floor(context.random() * (engines.length - 1))
    if (second >= first) second++
    const pair = engines.length === 1 ? [engines[0]!] : [engines[first]!, engines[second]!]
    const [best] = byLoad(pair)
    return { order: [best!.id, ...byLoad(engines.filter((e) => e !== best)).map((e) => e.id)], reason: 'balanced' }
  }
  const byId = new Map(engines.map((e) => [e.id, e]))
  const order = rendezvousOrder(
    key,
    engines.map((e) => e.id),
  )
  const bound = context.bound ?? defaultLoadBound
  const fits = order.findIndex((id) => withinLoadBound(byId.get(id)!, engines, bound))
  const preferred = order[0]!
  if (fits === 0) return { order, reason: 'affinity', preferred }
  if (fits > 0) return { order: [order[fits]!, ...order.filter((_, i) => i !== fits)], reason: 'spill', preferred }
  // Every engine is beyond the bound (only when the bound is tight): the lightest takes it.
  const lightest = byLoad(order.map((id) => byId.get(id)!))[0]!.id
  return { order: [lightest, ...order.filter((id) => id !== lightest)], reason: lightest === preferred ? 'affinity' : 'spill', preferred }
}
