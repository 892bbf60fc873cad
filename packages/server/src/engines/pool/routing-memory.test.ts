import { describe, expect, it } from 'vitest'
import { ConversationMemory, DecayingSum, KeyMirror, mirrorEntriesFor } from './routing-memory.js'

describe('the mirror of an engine’s embedding cache', () => {
  it('holds the most recently routed keys, dropping the least recently used past its capacity', () => {
    const mirror = new KeyMirror(2)
    mirror.record('a')
    mirror.record('b')
    // Using a again makes b the least recent.
    mirror.record('a')
    mirror.record('c')
    expect(['a', 'b', 'c'].map((k) => mirror.has(k))).toEqual([true, false, true])
    expect(mirror.size).toBe(2)
  })

  it('forgets everything when its engine failed, and holds nothing at capacity 0 (cache off)', () => {
    const mirror = new KeyMirror(3)
    mirror.record('a')
    mirror.forget()
    expect(mirror.has('a')).toBe(false)
    const off = new KeyMirror(0)
    off.record('a')
    expect(off.has('a')).toBe(false)
  })

  it('is sized like the engine’s cache: the default 256 MiB holds six 40.5 MiB photos', () => {
    expect(mirrorEntriesFor(256)).toBe(6)
    expect(mirrorEntriesFor(0)).toBe(0)
    expect(mirrorEntriesFor(1024)).toBe(25)
  })
})

describe('recent work', () => {
  it('adds up, and fades by e⁻¹ every time constant', () => {
    const sum = new DecayingSum(100)
    expect(sum.valueAt(0)).toBe(0)
    sum.add(2, 0)
    sum.add(1, 0)
    expect(sum.valueAt(0)).toBe(3)
    expect(sum.valueAt(100)).toBeCloseTo(3 / Math.E, 10)
    sum.add(1, 100)
    expect(sum.valueAt(200)).toBeCloseTo((3 / Math.E + 1) / Math.E, 10)
  })

  it('does not grow when the clock steps back', () => {
    const sum = new DecayingSum(100)
    sum.add(5, 1000)
    expect(sum.valueAt(900)).toBe(5)
  })
})

describe('the key mirror, resized', () => {
  it('drops the least recently routed keys beyond the size an engine reports, and keeps to it', () => {
    const mirror = new KeyMirror(4)
    for (const key of ['a', 'b', 'c', 'd']) mirror.record(key)
    mirror.resize(2)
    expect([mirror.has('a'), mirror.has('b'), mirror.has('c'), mirror.has('d')]).toEqual([false, false, true, true])
    mirror.record('e')
    expect([mirror.size, mirror.has('c'), mirror.capacity]).toEqual([2, false, 2])
    mirror.resize(0)
    mirror.record('f')
    expect(mirror.size).toBe(0)
  })
})

describe('the conversation memory', () => {
  it('remembers the engine of each conversation’s latest turn, the most recent ones only', () => {
    const memory = new ConversationMemory(2)
    memory.record('c1', 'a')
    memory.record('c2', 'b')
    memory.record('c1', 'c')
    expect(memory.engineOf('c1')).toBe('c')
    memory.record('c3', 'a')
    // c2 was the least recently routed.
    expect([memory.engineOf('c1'), memory.engineOf('c2'), memory.engineOf('c3')]).toEqual(['c', undefined, 'a'])
    expect(memory.size).toBe(2)
  })

  it('forgets the conversations of an engine that failed, and none of the others', () => {
    const memory = new ConversationMemory(10)
    memory.record('c1', 'a')
    memory.record('c2', 'b')
    memory.record('c3', 'a')
    memory.forgetEngine('a')
    expect([memory.engineOf('c1'), memory.engineOf('c2'), memory.engineOf('c3')]).toEqual([undefined, 'b', undefined])
  })

  it('remembers nothing with no capacity', () => {
    const memory = new ConversationMemory(0)
    memory.record('c1', 'a')
    expect(memory.engineOf('c1')).toBeUndefined()
  })
})
