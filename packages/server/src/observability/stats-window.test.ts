import { describe, expect, it } from 'vitest'
import { StatsWindow } from './stats-window.js'

describe('StatsWindow', () => {
  it('puts requests in the bucket of their time, with latency percentiles and error counts', () => {
    let now = 1_000_000_000_000
    const window = new StatsWindow({ windowSeconds: 60, bucketSeconds: 10, now: () => now })
    for (let i = 1; i <= 20; i++) window.recordRequest(i * 10, i === 20)
    now += 10_000
    window.recordRequest(500, false)
    const series = window.series()
    expect(series).toHaveLength(6)
    expect(series.map((p) => p.t)).toEqual([0, 1, 2, 3, 4, 5].map((i) => 1_000_000_000 - 40 + i * 10))
    const [previous, current] = series.slice(-2)
    expect(previous).toMatchObject({ requests: 20, errors: 1, latency_p50_ms: 100, latency_p95_ms: 190 })
    expect(current).toMatchObject({ requests: 1, errors: 0, latency_p50_ms: 500, latency_p95_ms: 500 })
    expect(series[0]).toEqual({
      t: series[0]!.t,
      requests: 0,
      errors: 0,
      latency_p50_ms: null,
      latency_p95_ms: null,
      completion_tokens_per_s: null,
      prompt_tokens_per_s: null,
      queued: 0,
      running: 0,
    })
  })

  it('measures token speeds and time to first token from finished generations, and forgets what left the window', () => {
    let now = 2_000_000_000_000
    const window = new StatsWindow({ windowSeconds: 30, bucketSeconds: 10, now: () => now })
    window.recordGeneration({ promptTokens: 100, completionTokens: 11, promptSeconds: 4, generationSeconds: 2, timeToFirstTokenMs: 4200 })
    window.recordGeneration({ promptTokens: 300, completionTokens: 1, promptSeconds: 6, generationSeconds: 0, timeToFirstTokenMs: 6100 })
    window.sampleLoad(3, 2)
    window.sampleLoad(1, 1)
    expect(window.series().at(-1)).toMatchObject({ prompt_tokens_per_s: 40, completion_tokens_per_s: 5, queued: 3, running: 2 })
    expect(window.promptTokensPerSecond()).toBe(40)
    expect(window.timeToFirstTokenP50Ms()).toBe(4200)
    now += 40_000
    expect(window.promptTokensPerSecond()).toBeNull()
    expect(window.timeToFirstTokenP50Ms()).toBeNull()
    expect(window.series().every((p) => p.requests === 0 && p.prompt_tokens_per_s === null)).toBe(true)
  })

  it('keeps a bounded number of latency samples per bucket', () => {
    const window = new StatsWindow({ samplesPerBucket: 50, now: () => 5_000_000 })
    for (let i = 0; i < 10_000; i++) window.recordRequest(i % 100, false)
    const point = window.series().at(-1)!
    expect(point.requests).toBe(10_000)
    expect(point.latency_p50_ms).toBeGreaterThanOrEqual(0)
    expect(point.latency_p50_ms).toBeLessThan(100)
  })
})
