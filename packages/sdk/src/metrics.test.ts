import { describe, expect, it } from 'vitest'
import { formatSummary, MetricsRecorder, summarize, type RequestMetric } from './index.js'

const metric = (over: Partial<RequestMetric>): RequestMetric => ({ startedAt: 0, latencyMs: 100, outcome: 'success', attempts: 1, stream: false, ...over })

describe('metrics', () => {
  it('summarises success rate, latency over real requests, tokens and throughput', () => {
    const summary = summarize([
      metric({ startedAt: 0, latencyMs: 1000, completionTokens: 10, promptTokens: 5, totalTokens: 15 }),
      metric({ startedAt: 500, latencyMs: 1500, completionTokens: 30, promptTokens: 5, totalTokens: 35 }),
      metric({ startedAt: 1000, latencyMs: 1, outcome: 'cached' }),
      metric({ startedAt: 1000, latencyMs: 1000, outcome: 'error', error: 'OverloadedError' }),
    ])
    expect(summary).toMatchObject({ requests: 4, succeeded: 3, failed: 1, cached: 1, successRate: 0.75, elapsedMs: 2000 })
    expect(summary.latencyMs).toMatchObject({ min: 1000, p50: 1000, p99: 1500, max: 1500, mean: 1250 })
    expect(summary.tokens).toEqual({ prompt: 10, completion: 40, total: 50 })
    expect(summary.throughput.requestsPerSecond).toBe(2)
    expect(summary.throughput.completionTokensPerSecond).toBe(20)
    expect(summary.errors).toEqual({ OverloadedError: 1 })
  })

  it('formats the summary as readable text', () => {
    const text = formatSummary(summarize([metric({ latencyMs: 1234 }), metric({ outcome: 'error', error: 'TimeoutError', latencyMs: 10 })]))
    expect(text).toContain('requests    2 (1 ok, 1 failed) · success rate 50.0%')
    expect(text).toContain('p50 1.23 s · p95 1.23 s · p99 1.23 s')
    expect(text).toContain('errors      TimeoutError ×1')
  })

  it('reports an empty run without dividing by zero', () => {
    const summary = new MetricsRecorder().summary()
    expect(summary).toMatchObject({ requests: 0, successRate: 1, latencyMs: null, elapsedMs: 0 })
    expect(formatSummary(summary)).toContain('latency     –')
  })

  it('keeps only the most recent entries and notifies listeners', () => {
    const recorder = new MetricsRecorder(2)
    const heard: number[] = []
    recorder.onRecord((m) => heard.push(m.latencyMs))
    for (const latencyMs of [1, 2, 3]) recorder.record(metric({ latencyMs }))
    expect(recorder.entries.map((m) => m.latencyMs)).toEqual([2, 3])
    expect(heard).toEqual([1, 2, 3])
  })
})
