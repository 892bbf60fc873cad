import { afterEach, describe, expect, it, vi } from 'vitest'
import { ProgressTracker, ProgressWatchdog, slotProgress, type SlotProgress } from './progress-watchdog.js'

const busy = (id: number, taskId: number, promptTokensProcessed: number, tokensDecoded: number): SlotProgress => ({
  id,
  processing: true,
  taskId,
  promptTokensProcessed,
  tokensDecoded,
})
const idle = (id: number): SlotProgress => ({ id, processing: false })

describe('ProgressTracker', () => {
  it('declares a stall when a busy slot reports the same counters for the whole limit', () => {
    const tracker = new ProgressTracker(120_000, 0)
    tracker.observeSlots([busy(0, 7, 512, 3), idle(1)], 5_000)
    for (let t = 10_000; t < 125_000; t += 5_000) {
      tracker.observeSlots([busy(0, 7, 512, 3), idle(1)], t)
      expect(tracker.stalledFor(t)).toBeUndefined()
    }
    tracker.observeSlots([busy(0, 7, 512, 3), idle(1)], 125_000)
    expect(tracker.stalledFor(125_000)).toBe(120_000)
  })

  it('counts prompt batches as progress, so a long prefill that streams nothing is no stall', () => {
    const tracker = new ProgressTracker(120_000, 0)
    // A big photo on a CPU: polled every 5 s, a batch of prompt tokens done every 100 s, no token for 400 s.
    for (let t = 0; t <= 400_000; t += 5_000) {
      tracker.observeSlots([busy(0, 7, 2048 * Math.floor(t / 100_000), 0)], t)
      expect(tracker.stalledFor(t)).toBeUndefined()
    }
  })

  it('counts decoded tokens, a new task on a slot and a slot going idle as progress', () => {
    const tracker = new ProgressTracker(10_000, 0)
    tracker.observeSlots([busy(0, 7, 100, 1), busy(1, 8, 50, 0)], 1_000)
    tracker.observeSlots([busy(0, 7, 100, 2), busy(1, 8, 50, 0)], 9_000)
    expect(tracker.stalledFor(18_000)).toBeUndefined()
    tracker.observeSlots([busy(0, 9, 100, 2), busy(1, 8, 50, 0)], 17_000)
    expect(tracker.stalledFor(26_000)).toBeUndefined()
    tracker.observeSlots([idle(0), busy(1, 8, 50, 0)], 25_000)
    expect(tracker.stalledFor(34_000)).toBeUndefined()
    expect(tracker.stalledFor(35_000)).toBe(10_000)
  })

  it('counts tokens that reached Visto as progress even when /slots never answers', () => {
    const tracker = new ProgressTracker(3_000, 0)
    tracker.progressed(2_500)
    expect(tracker.stalledFor(5_000)).toBeUndefined()
    expect(tracker.stalledFor(5_500)).toBe(3_000)
  })

  it('treats an engine that answers with no busy slot as holding no work', () => {
    const tracker = new ProgressTracker(3_000, 0)
    tracker.observeSlots([idle(0), idle(1)], 2_000)
    tracker.observeSlots([idle(0), idle(1)], 4_000)
    expect(tracker.stalledFor(6_000)).toBeUndefined()
  })

  it('stalls when nothing answers from the start (a SIGSTOPped engine)', () => {
    const tracker = new ProgressTracker(3_000, 1_000)
    expect(tracker.stalledFor(3_999)).toBeUndefined()
    expect(tracker.stalledFor(4_000)).toBe(3_000)
  })
})

describe('slotProgress', () => {
  it("reads llama-server's /slots fields and skips what is not a slot", () => {
    const json = [
      { id: 0, is_processing: true, id_task: 12, n_prompt_tokens_processed: 1029, next_token: [{ n_decoded: 4, n_remain: 28 }] },
      { id: 1, is_processing: false, n_ctx: 2048 },
      'garbage',
    ]
    expect(slotProgress(json)).toEqual([
      { id: 0, processing: true, taskId: 12, promptTokensProcessed: 1029, tokensDecoded: 4 },
      { id: 1, processing: false, taskId: undefined, promptTokensProcessed: undefined, tokensDecoded: undefined },
    ])
    expect(slotProgress({ error: 'not an array' })).toEqual([])
  })
})

describe('ProgressWatchdog', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('polls while work is held, reports a stall once with the request ids, and polls no more', async () => {
    vi.useFakeTimers()
    const readSlots = vi.fn((signal: AbortSignal) => new Promise<SlotProgress[]>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))))
    const stalls: Array<[number, string[]]> = []
    const watchdog = new ProgressWatchdog({ stallMs: 3_000, readSlots, onStall: (ms, ids) => stalls.push([ms, ids]) })
    watchdog.begin('req-1')
    watchdog.begin('req-2').end()
    await vi.advanceTimersByTimeAsync(6_000)
    expect(stalls).toHaveLength(1)
    expect(stalls[0]![0]).toBeGreaterThanOrEqual(3_000)
    expect(stalls[0]![1]).toEqual(['req-1'])
    const polls = readSlots.mock.calls.length
    await vi.advanceTimersByTimeAsync(10_000)
    expect(readSlots.mock.calls.length).toBe(polls)
  })

  it('stops polling once the work has ended and the engine shows every slot idle', async () => {
    vi.useFakeTimers()
    const readSlots = vi.fn(async () => [idle(0)])
    const watchdog = new ProgressWatchdog({ stallMs: 3_000, readSlots, onStall: () => expect.fail('no stall expected') })
    const work = watchdog.begin('req-1')
    await vi.advanceTimersByTimeAsync(2_000)
    work.end()
    await vi.advanceTimersByTimeAsync(1_000)
    const polls = readSlots.mock.calls.length
    await vi.advanceTimersByTimeAsync(10_000)
    expect(readSlots.mock.calls.length).toBe(polls)
  })

  it('keeps watching an engine that still holds a request its client gave up on', async () => {
    vi.useFakeTimers()
    const readSlots = vi.fn(async () => [busy(0, 3, 40, 5)])
    const stalls: string[][] = []
    const watchdog = new ProgressWatchdog({ stallMs: 3_000, readSlots, onStall: (_ms, ids) => stalls.push(ids) })
    watchdog.begin('req-1').end()
    await vi.advanceTimersByTimeAsync(5_000)
    expect(stalls).toEqual([[]])
  })
})
