/**
 * Monitoring: every request's latency, outcome and
 * tokens, and a summary (p50/p95/p99, success rate, throughput) as data or as text.
 */
import { formatDuration, percentile } from '@visto/protocol'

export type Outcome = 'success' | 'error' | 'cached'

export interface RequestMetric {
  /** Epoch milliseconds when the call started (before any retries). */
  startedAt: number
  /** Whole call, retries and backoff included. */
  latencyMs: number
  outcome: Outcome
  attempts: number
  stream: boolean
  status?: number
  /** Error class name (e.g. `OverloadedError`) for failures. */
  error?: string
  promptTokens?: number
  completionTokens?: number
  totalTokens?: number
  /** Streams only: time until the first content token. */
  timeToFirstTokenMs?: number
}

export interface LatencyStats {
  min: number
  mean: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface MetricsSummary {
  requests: number
  succeeded: number
  failed: number
  /** Answered from the result cache (counted as succeeded too). */
  cached: number
  /** succeeded / requests, 0..1; 1 when there were no requests. */
  successRate: number
  /** Over successful requests that reached the server; null when there were none. */
  latencyMs: LatencyStats | null
  timeToFirstTokenMs: LatencyStats | null
  tokens: { prompt: number; completion: number; total: number }
  /** From the first start to the last finish. */
  elapsedMs: number
  throughput: { requestsPerSecond: number; completionTokensPerSecond: number }
  /** Failures by error class. */
  errors: Record<string, number>
}

function stats(values: number[]): LatencyStats | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    min: sorted[0]!,
    mean: sum / sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
  }
}

export function summarize(metrics: readonly RequestMetric[]): MetricsSummary {
  let succeeded = 0
  let cached = 0
  const errors: Record<string, number> = {}
  const latencies: number[] = []
  const ttft: number[] = []
  const tokens = { prompt: 0, completion: 0, total: 0 }
  let first = Infinity
  let last = -Infinity
  for (const m of metrics) {
    first = Math.min(first, m.startedAt)
    last = Math.max(last, m.startedAt + m.latencyMs)
    if (m.outcome === 'error') {
      const name = m.error ?? 'Error'
      errors[name] = (errors[name] ?? 0) + 1
      continue
    }
    succeeded++
    if (m.outcome === 'cached') {
      cached++
      continue
    }
    latencies.push(m.latencyMs)
    if (m.timeToFirstTokenMs !== undefined) ttft.push(m.timeToFirstTokenMs)
    tokens.prompt += m.promptTokens ?? 0
    tokens.completion += m.completionTokens ?? 0
    tokens.total += m.totalTokens ?? (m.promptTokens ?? 0) + (m.completionTokens ?? 0)
  }
  const elapsedMs = metrics.length === 0 ? 0 : last - first
  const seconds = elapsedMs / 1000
  return {
    requests: metrics.length,
    succeeded,
    failed: metrics.length - succeeded,
    cached,
    successRate: metrics.length === 0 ? 1 : succeeded / metrics.length,
    latencyMs: stats(latencies),
    timeToFirstTokenMs: stats(ttft),
    tokens,
    elapsedMs,
    throughput: {
      requestsPerSecond: seconds > 0 ? metrics.length / seconds : 0,
      completionTokensPerSecond: seconds > 0 ? tokens.completion / seconds : 0,
    },
    errors,
  }
}

function formatStats(s: LatencyStats): string {
  return `p50 ${formatDuration(s.p50)} · p95 ${formatDuration(s.p95)} · p99 ${formatDuration(s.p99)} · mean ${formatDuration(s.mean)} · max ${formatDuration(s.max)}`
}

export function formatSummary(summary: MetricsSummary): string {
  const parts = [`${summary.succeeded} ok`, `${summary.failed} failed`]
  if (summary.cached > 0) parts.push(`${summary.cached} cached`)
  const lines = [
    `requests    ${summary.requests} (${parts.join(', ')}) · success rate ${(summary.successRate * 100).toFixed(1)}%`,
    `latency     ${summary.latencyMs ? formatStats(summary.latencyMs) : '–'}`,
  ]
  if (summary.timeToFirstTokenMs) lines.push(`first token ${formatStats(summary.timeToFirstTokenMs)}`)
  lines.push(
    `throughput  ${summary.throughput.requestsPerSecond.toFixed(2)} req/s · ${summary.throughput.completionTokensPerSecond.toFixed(1)} completion tokens/s over ${formatDuration(summary.elapsedMs)}`,
  )
  if (summary.tokens.total > 0) lines.push(`tokens      ${summary.tokens.prompt} prompt + ${summary.tokens.completion} completion = ${summary.tokens.total}`)
  const errors = Object.entries(summary.errors)
  if (errors.length > 0) lines.push(`errors      ${errors.map(([name, count]) => `${name} ×${count}`).join(', ')}`)
  return lines.join('\n')
}

/** Collects RequestMetric records; keeps the most recent `maxEntries`. */
export class MetricsRecorder {
  private readonly records: RequestMetric[] = []
  private readonly listeners = new Set<(metric: RequestMetric) => void>()

  constructor(readonly maxEntries = 10_000) {}

  record(metric: RequestMetric): void {
    this.records.push(metric)
    if (this.records.length > this.maxEntries) this.records.splice(0, this.records.length - this.maxEntries)
    for (const listener of this.listeners) listener(metric)
  }

  /** Called for every recorded request; returns an unsubscribe function. */
  onRecord(listener: (metric: RequestMetric) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get entries(): readonly RequestMetric[] {
    return [...this.records]
  }

  summary(): MetricsSummary {
    return summarize(this.records)
  }

  format(): string {
    return formatSummary(this.summary())
  }

  reset(): void {
    this.records.length = 0
  }
}
