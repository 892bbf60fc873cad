import { describe, expect, it } from 'vitest'
import { chooseEngines, hash53, rendezvousOrder, withinLoadBound, type RoutableEngine, type RoutingContext } from './routing-policy.js'

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
  it('sends the same key to the same engine every time while the pool is idle', () => {
    const engines = idle(ids)
    const first = chooseEngines(engines, 'image:photo', affinity())
    expect(first.reason).toBe('affinity')
    expect(first.preferred).toBe(first.order[0])
    for (let i = 0; i < 10; i++) expect(chooseEngines(engines, 'image:photo', affinity(i)).order[0]).toBe(first.order[0])
  })

  it('spills to the next engine in hash order once the preferred one is beyond the bound, and comes back when it is not', () => {
    const order = rendezvousOrder('image:photo', ids)
    const loaded = idle(ids).map((e) => (e.id === order[0] ? { ...e, load: 6 } : { ...e, load: 1 }))
    // Fair share with the new one: (6 + 7 + 1) × 2 / 16 = 1.75; 1.25 × 1.75 + 2 ≈ 4.2 < 7.
    const choice = chooseEngines(loaded, 'image:photo', affinity())
    expect(choice).toEqual({ order: [order[1], order[0], ...order.slice(2)], reason: 'spill', preferred: order[0] })
    const lighter = loaded.map((e) => (e.id === order[0] ? { ...e, load: 2 } : e))
    expect(chooseEngines(lighter, 'image:photo', affinity()).reason).toBe('affinity')
  })

  it('bounds an engine by its fair share of the pool plus the constant', () => {
    const pool = idle(['a', 'b'])
    expect(withinLoadBound({ id: 'a', load: 2, slots: 2 }, [{ id: 'a', load: 2, slots: 2 }, pool[1]!], { factor: 1.25, constant: 0 })).toBe(false)
    expect(withinLoadBound({ id: 'a', load: 2, slots: 2 }, [{ id: 'a', load: 2, slots: 2 }, pool[1]!], { factor: 1.25, constant: 2 })).toBe(true)
    // A bigger engine takes a bigger share.
    const mixed = [{ id: 'big', load: 2, slots: 6 }, { id: 'small', load: 2, slots: 2 }]
    expect(withinLoadBound(mixed[0]!, mixed, { factor: 1.25, constant: 1 })).toBe(true)
    expect(withinLoadBound(mixed[1]!, mixed, { factor: 1.25, constant: 1 })).toBe(false)
  })

  it('goes to the lightest engine when every one is beyond a tight bound', () => {
    const engines = [{ id: 'a', load: 5, slots: 1 }, { id: 'b', load: 2, slots: 1 }, { id: 'c', load: 4, slots: 1 }]
    const choice = chooseEngines(engines, 'image:x', { ...affinity(), bound: { factor: 0, constant: 0 } })
    expect(choice.order[0]).toBe('b')
    expect(choice.order).toHaveLength(3)
  })

  it('sends key-less requests by power-of-two-choices: the lighter of two sampled engines', () => {
    const engines = [{ id: 'a', load: 9, slots: 1 }, { id: 'b', load: 0, slots: 1 }, { id: 'c', load: 5, slots: 1 }]
    // random 0 → first sample a; then 0.99 → the second is the last of the remaining: c.
    const samples = [0, 0.99]
    const choice = chooseEngines(engines, undefined, { mode: 'affinity', counter: 0, random: () => samples.shift()! })
    expect(choice.reason).toBe('balanced')
    expect(choice.order[0]).toBe('c')
    expect([...choice.order].sort()).toEqual(['a', 'b', 'c'])
  })

  it('never sends a key-less request to the most loaded of three when sampling two', () => {
    const engines = [{ id: 'a', load: 9, slots: 1 }, { id: 'b', load: 0, slots: 1 }, { id: 'c', load: 5, slots: 1 }]
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
    const engines = [{ id: 'a', load: 4, slots: 4 }, { id: 'b', load: 2, slots: 1 }, { id: 'c', load: 1, slots: 2 }]
    expect(chooseEngines(engines, 'image:x', { mode: 'least-loaded', counter: 0, random: Math.random }).order).toEqual(['c', 'a', 'b'])
    const even = idle(['a', 'b', 'c'])
    expect([0, 1, 2].map((counter) => chooseEngines(even, undefined, { mode: 'least-loaded', counter, random: Math.random }).order[0])).toEqual(['a', 'b', 'c'])
  })
})
