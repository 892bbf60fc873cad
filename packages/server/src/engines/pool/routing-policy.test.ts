import { describe, expect, it } from 'vitest'
import {
  chooseEngines,
  costOn,
  defaultLoadBound,
  hash53,
  rendezvousOrder,
  withinBalanceBound,
  withinQueueBound,
  type RoutableEngine,
  type RoutingContext,
} from './routing-policy.js'

const idle = (ids: string[], slots = 2): RoutableEngine[] => ids.map((id) => ({ id, load: 0, slots }))
const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
const affinity = (counter = 0, random = () => 0.5): RoutingContext => ({ mode: 'affinity', counter, random })

/** A deterministic uniform sequence (a small LCG) for sampling tests. */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32
  }
}

describe('rendezvous hashing', () => {
  it('orders every engine, the same way whatever order they are listed in', () => {
    const order = rendezvousOrder('image:abc', ids)
    expect([...order].sort()).toEqual(ids)
    expect(rendezvousOrder('image:abc', [...ids].reverse())).toEqual(order)
  })

  it('moves only the keys of an engine that leaves, each to its next engine in hash order', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `image:${i}`)
    const without = ids.filter((id) => id !== 'c')
    for (const key of keys) {
      const before = rendezvousOrder(key, ids)
      const after = rendezvousOrder(key, without)
      expect(after).toEqual(before.filter((id) => id !== 'c'))
    }
  })

  it('spreads keys evenly over the engines', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 8000; i++) {
      const first = rendezvousOrder(`image:${i}`, ids)[0]!
      counts.set(first, (counts.get(first) ?? 0) + 1)
    }
    for (const id of ids) expect(counts.get(id)! / 1000).toBeGreaterThan(0.85)
    for (const id of ids) expect(counts.get(id)! / 1000).toBeLessThan(1.15)
  })

  it('hashes strings stably (the order must survive restarts and versions)', () => {
    expect(hash53('visto')).toBe(hash53('visto'))
    expect(hash53('visto')).not.toBe(hash53('vista'))
    expect(hash53('visto', 1)).not.toBe(hash53('visto'))
    expect(Number.isSafeInteger(hash53('x'.repeat(1000)))).toBe(true)
  })
})

describe('affinity routing', () => {
  /** An image request: 1 on an engine holding the image, 2 where it must be encoded first (the pool's estimate). */
  const image = { hit: 1, miss: 2 }
  const withImage = (counter = 0): RoutingContext => ({ ...affinity(counter), cost: image })
  const bound = { queue: 2, factor: 1.1, constant: 10 }

  it('sends the same key to the same engine every time while the pool is idle', () => {
    const engines = idle(ids)
    const first = chooseEngines(engines, 'image:photo', withImage())
    expect(first.reason).toBe('affinity')
    expect(first.preferred).toBe(first.order[0])
    for (let i = 0; i < 10; i++) expect(chooseEngines(engines, 'image:photo', withImage(i)).order[0]).toBe(first.order[0])
  })

  it('bounds the work an engine holds per slot, counting an image it must encode at its full cost', () => {
    const engine = { id: 'a', load: 1, slots: 1, work: 1 }
    // Holding one answer from cache (1), it takes a follow-up it holds the image for (1 + 1 ≤ 2 × 1), not a new image (1 + 2).
    expect(withinQueueBound({ ...engine, holdsKey: true }, image, bound)).toBe(true)
    expect(withinQueueBound({ ...engine, holdsKey: false }, image, bound)).toBe(false)
    // Twice the slots, twice the work.
    expect(withinQueueBound({ id: 'a', load: 3, slots: 2, work: 2 }, image, bound)).toBe(true)
    expect(withinQueueBound({ id: 'a', load: 3, slots: 2, work: 3 }, image, bound)).toBe(false)
  })

  it('bounds the work an engine was given lately by its share of the pool’s plus the constant', () => {
    const pool = (own: number): RoutableEngine[] => [
      { id: 'a', load: 0, slots: 1, work: 0, recentWork: own },
      ...['b', 'c', 'd'].map((id) => ({ id, load: 0, slots: 1, work: 0, recentWork: 30 })),
    ]
    // Share with the new one: (own + 90 + 2) / 4; the bound 1.1 × share + 10 ≥ own + 2 up to own = 45.9.
    expect(withinBalanceBound(pool(45)[0]!, pool(45), image, bound)).toBe(true)
    expect(withinBalanceBound(pool(46)[0]!, pool(46), image, bound)).toBe(false)
    // A bigger engine takes a bigger share.
    const mixed = [
      { id: 'big', load: 0, slots: 3, recentWork: 60 },
      { id: 'small', load: 0, slots: 1, recentWork: 60 },
    ]
    expect(withinBalanceBound(mixed[0]!, mixed, image, { ...bound, constant: 0 })).toBe(true)
    expect(withinBalanceBound(mixed[1]!, mixed, image, { ...bound, constant: 0 })).toBe(false)
  })

  it('sends a follow-up to the engine that answered its conversation before the image’s own engine, and to the image’s own when that one is beyond the bound', () => {
    const order = rendezvousOrder('image:photo', ids)
    const resumer = order[3]!
    const pool = (resumerWork: number): RoutableEngine[] =>
      ids.map((id) => ({ id, load: 0, slots: 1, work: id === resumer ? resumerWork : 0, holdsKey: id === order[0] || id === resumer, holdsConversation: id === resumer }))
    const resumed = chooseEngines(pool(0), 'image:photo', { ...withImage(), bound })
    expect(resumed).toMatchObject({ reason: 'affinity', preferred: resumer })
    expect(resumed.order.slice(0, 2)).toEqual([resumer, order[0]])
    // Busy with two answers from cache: the follow-up goes to the image's own engine instead.
    const moved = chooseEngines(pool(2), 'image:photo', { ...withImage(), bound })
    expect(moved).toMatchObject({ reason: 'spill', preferred: resumer })
    expect(moved.order[0]).toBe(order[0])
  })

  it('costs a request least where its conversation is, then where its key is', () => {
    const cost = { hit: 2, miss: 5, resume: 1 }
    expect(costOn({ id: 'a', load: 0, slots: 1, holdsKey: true, holdsConversation: true }, cost)).toBe(1)
    expect(costOn({ id: 'a', load: 0, slots: 1, holdsKey: true }, cost)).toBe(2)
    expect(costOn({ id: 'a', load: 0, slots: 1 }, cost)).toBe(5)
    expect(costOn({ id: 'a', load: 0, slots: 1, holdsConversation: true }, { hit: 2, miss: 5 })).toBe(2)
  })

  it('spills a busy engine’s image to an engine already holding it before the next engine in hash order', () => {
    const order = rendezvousOrder('image:photo', ids)
    const holder = order[3]!
    const engines = idle(ids, 1).map((e) => ({
      ...e,
      ...(e.id === order[0] ? { load: 1, work: 2, holdsKey: true } : {}),
      ...(e.id === holder ? { holdsKey: true } : {}),
    }))
    const choice = chooseEngines(engines, 'image:photo', withImage())
    expect(choice.reason).toBe('spill')
    expect(choice.preferred).toBe(order[0])
    // The holder answers; a retry goes back to the preferred engine, then the others in hash order.
    expect(choice.order).toEqual([holder, order[0], ...order.slice(1).filter((id) => id !== holder)])
  })

  it('prefers the least busy of several holders, and the next engine in hash order when every holder is beyond the bound', () => {
    const order = rendezvousOrder('image:photo', ids)
    const engines = idle(ids, 1).map((e) => {
      if (e.id === order[0]) return { ...e, load: 1, work: 2, holdsKey: true }
      if (e.id === order[2]) return { ...e, load: 1, work: 1, holdsKey: true }
      if (e.id === order[5]) return { ...e, load: 0, work: 0, holdsKey: true }
      return e
    })
    expect(chooseEngines(engines, 'image:photo', withImage()).order[0]).toBe(order[5])
    const busier = engines.map((e) => (e.id === order[5] ? { ...e, load: 1, work: 2 } : e.id === order[2] ? { ...e, work: 2 } : e))
    const choice = chooseEngines(busier, 'image:photo', withImage())
    expect(choice.order[0]).toBe(order[1])
    expect(choice.reason).toBe('spill')
  })

  it('moves a popular image off its engine once that engine did more than its share lately, even while it is idle', () => {
    const order = rendezvousOrder('image:hot', ids)
    const engines = idle(ids, 1).map((e) => ({ ...e, recentWork: e.id === order[0] ? 200 : 20, holdsKey: e.id === order[0] || e.id === order[4] }))
    // Outstanding work alone would keep it: the preferred engine is idle.
    expect(chooseEngines(engines, 'image:hot', { ...withImage(), bound: { ...bound, factor: Infinity } }).order[0]).toBe(order[0])
    const choice = chooseEngines(engines, 'image:hot', { ...withImage(), bound })
    expect(choice.order[0]).toBe(order[4])
    expect(choice.reason).toBe('spill')
  })

  it('lets balance give way before queueing: an engine within the work bound takes the request when none is within both', () => {
    const order = rendezvousOrder('image:x', ids)
    // With a factor below 1 and no constant, no engine is within the balance bound; the preferred one is beyond the work bound.
    const engines = idle(ids, 1).map((e) => ({ ...e, recentWork: 10, ...(e.id === order[0] ? { load: 1, work: 2 } : {}) }))
    const choice = chooseEngines(engines, 'image:x', { ...withImage(), bound: { queue: 2, factor: 0.5, constant: 0 } })
    expect(choice.order[0]).toBe(order[1])
  })

  it('goes to the least busy engine when every one is beyond a tight bound', () => {
    const engines = [
      { id: 'a', load: 5, slots: 1, work: 9 },
      { id: 'b', load: 2, slots: 1, work: 3 },
      { id: 'c', load: 4, slots: 1, work: 6 },
    ]
    const choice = chooseEngines(engines, 'image:x', { ...withImage(), bound: { queue: 0, factor: 0, constant: 0 } })
    expect(choice.order[0]).toBe('b')
    expect([...choice.order].sort()).toEqual(['a', 'b', 'c'])
  })

  it('keeps ten questions in a row about one photo on one engine of an otherwise quiet pool (the default constant)', () => {
    const engines: RoutableEngine[] = idle(['a', 'b', 'c'])
    let owner: string | undefined
    for (let i = 0; i < 10; i++) {
      const choice = chooseEngines(engines, 'image:photo', { ...withImage(i), bound: defaultLoadBound })
      owner ??= choice.order[0]
      expect(choice.order[0]).toBe(owner)
      const chosen = engines.find((e) => e.id === owner)!
      chosen.recentWork = (chosen.recentWork ?? 0) + (chosen.holdsKey ? 1 : 2)
      chosen.holdsKey = true
    }
  })

  it('sends key-less requests by power-of-two-choices: the less busy of two sampled engines', () => {
    const engines = [
      { id: 'a', load: 1, slots: 1, work: 9 },
      { id: 'b', load: 0, slots: 1, work: 0 },
      { id: 'c', load: 3, slots: 1, work: 5 },
    ]
    // random 0 → first sample a; then 0.99 → the second is the last of the remaining: c, lighter in work though not in requests.
    const samples = [0, 0.99]
    const choice = chooseEngines(engines, undefined, { mode: 'affinity', counter: 0, random: () => samples.shift()! })
    expect(choice.reason).toBe('balanced')
    expect(choice.order[0]).toBe('c')
    expect([...choice.order].sort()).toEqual(['a', 'b', 'c'])
  })

  it('never sends a key-less request to the most loaded of three when sampling two', () => {
    const engines = [
      { id: 'a', load: 9, slots: 1 },
      { id: 'b', load: 0, slots: 1 },
      { id: 'c', load: 5, slots: 1 },
    ]
    const random = seeded(7)
    for (let i = 0; i < 200; i++) expect(chooseEngines(engines, undefined, { mode: 'affinity', counter: i, random }).order[0]).not.toBe('a')
  })

  it('answers an empty pool with no engine', () => {
    expect(chooseEngines([], 'image:x', affinity()).order).toEqual([])
  })
})

describe('content-blind routing', () => {
  it('round-robin takes each engine in turn, whatever the key', () => {
    const engines = idle(['a', 'b', 'c'])
    const firsts = [0, 1, 2, 3].map((counter) => chooseEngines(engines, 'image:same', { mode: 'round-robin', counter, random: Math.random }).order[0])
    expect(firsts).toEqual(['a', 'b', 'c', 'a'])
  })

  it('least-loaded takes the engine with the fewest requests per slot, equal ones in turn', () => {
    const engines = [
      { id: 'a', load: 4, slots: 4 },
      { id: 'b', load: 2, slots: 1 },
      { id: 'c', load: 1, slots: 2 },
    ]
    expect(chooseEngines(engines, 'image:x', { mode: 'least-loaded', counter: 0, random: Math.random }).order).toEqual(['c', 'a', 'b'])
    const even = idle(['a', 'b', 'c'])
    expect([0, 1, 2].map((counter) => chooseEngines(even, undefined, { mode: 'least-loaded', counter, random: Math.random }).order[0])).toEqual(['a', 'b', 'c'])
  })
})
