/**
 * The last minutes of the server's own numbers, in fixed time buckets, for the live status
 * view (`GET /v1/visto/stats`). Small and bounded: one bucket per `bucketSeconds`, at most
 * `samplesPerBucket` latency samples each (a uniform reservoir beyond that).
 */

export interface StatsPoint {
  /** Bucket start, unix seconds. */
  t: number
  requests: number
  errors: number
  latency_p50_ms: number | null
  latency_p95_ms: number | null
  /** Generation speed of the requests that finished in the bucket (tokens after the first ÷ their time). */
  completion_tokens_per_s: number | null
  /** Prompt processing speed of those requests (prompt tokens ÷ time from engine start to first token). */
  prompt_tokens_per_s: number | null
  /** The most requests seen waiting / running during the bucket. */
  queued: number
  running: number
}

interface Bucket {
  start: number
  requests: number
  errors: number
  latencies: number[]
  latencySeen: number
  timeToFirstToken: number[]
  timeToFirstTokenSeen: number
  decodeTokens: number
  decodeSeconds: number
  promptTokens: number
  promptSeconds: number
  queued: number
  running: number
}

export interface StatsWindowOptions {
  windowSeconds: number
  bucketSeconds: number
  samplesPerBucket: number
  /** Unix milliseconds; tests move time themselves. */
  now: () => number
}

export const defaultStatsWindowOptions: StatsWindowOptions = { windowSeconds: 600, bucketSeconds: 10, samplesPerBucket: 1000, now: () => Date.now() }

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

function addSample(samples: number[], seen: number, value: number, cap: number): void {
  if (samples.length < cap) samples.push(value)
  else {
    const slot = Math.floor(Math.random() * seen)
    if (slot < cap) samples[slot] = value
  }
}

const round = (value: number | null, digits = 1): number | null => (value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits)

export class StatsWindow {
  readonly options: StatsWindowOptions
  private readonly buckets = new Map<number, Bucket>()

  constructor(options: Partial<StatsWindowOptions> = {}) {
    this.options = { ...defaultStatsWindowOptions, ...options }
  }

  private bucketStart(ms: number): number {
    const size = this.options.bucketSeconds
    return Math.floor(ms / 1000 / size) * size
  }

  private current(): Bucket {
    const start = this.bucketStart(this.options.now())
    let bucket = this.buckets.get(start)
    if (!bucket) {
      bucket = {
        start,
        requests: 0,
        errors: 0,
        latencies: [],
        latencySeen: 0,
        timeToFirstToken: [],
        timeToFirstTokenSeen: 0,
        decodeTokens: 0,
        decodeSeconds: 0,
        promptTokens: 0,
        promptSeconds: 0,
        queued: 0,
        running: 0,
      }
      this.buckets.set(start, bucket)
      const oldest = start - this.options.windowSeconds
      for (const key of this.buckets.keys()) if (key <= oldest) this.buckets.delete(key)
    }
    return bucket
  }

  /** A chat request finished (or failed); `latencyMs` undefined when the client left before the end. */
  recordRequest(latencyMs: number | undefined, error: boolean): void {
    const bucket = this.current()
    bucket.requests++
    if (error) bucket.errors++
    if (latencyMs !== undefined) addSample(bucket.latencies, ++bucket.latencySeen, latencyMs, this.options.samplesPerBucket)
  }

  /** A generation finished on the engine: its prompt and generation speed, and its time to first token. */
  recordGeneration(sample: { promptTokens: number; completionTokens: number; promptSeconds: number; generationSeconds: number; timeToFirstTokenMs: number }): void {
    const bucket = this.current()
    bucket.promptTokens += sample.promptTokens
    bucket.promptSeconds += sample.promptSeconds
    if (sample.completionTokens > 1) {
      bucket.decodeTokens += sample.completionTokens - 1
      bucket.decodeSeconds += sample.generationSeconds
    }
    addSample(bucket.timeToFirstToken, ++bucket.timeToFirstTokenSeen, sample.timeToFirstTokenMs, this.options.samplesPerBucket)
  }

  /** Queue and slot occupancy right now; each bucket keeps the highest it saw. */
  sampleLoad(queued: number, running: number): void {
    const bucket = this.current()
    bucket.queued = Math.max(bucket.queued, queued)
    bucket.running = Math.max(bucket.running, running)
  }

  /** One point per bucket over the whole window, oldest first, the current (partial) bucket last. */
  series(): StatsPoint[] {
    const { windowSeconds, bucketSeconds } = this.options
    const last = this.bucketStart(this.options.now())
    const points: StatsPoint[] = []
    for (let t = last - windowSeconds + bucketSeconds; t <= last; t += bucketSeconds) {
      const bucket = this.buckets.get(t)
      if (!bucket) {
        points.push({ t, requests: 0, errors: 0, latency_p50_ms: null, latency_p95_ms: null, completion_tokens_per_s: null, prompt_tokens_per_s: null, queued: 0, running: 0 })
        continue
      }
      const sorted = [...bucket.latencies].sort((a, b) => a - b)
      points.push({
        t,
        requests: bucket.requests,
        errors: bucket.errors,
        latency_p50_ms: round(percentile(sorted, 50)),
        latency_p95_ms: round(percentile(sorted, 95)),
        completion_tokens_per_s: round(bucket.decodeSeconds > 0 ? bucket.decodeTokens / bucket.decodeSeconds : null, 2),
        prompt_tokens_per_s: round(bucket.promptSeconds > 0 ? bucket.promptTokens / bucket.promptSeconds : null, 2),
        queued: bucket.queued,
        running: bucket.running,
      })
    }
    return points
  }

  /** Prompt tokens ÷ prompt seconds over the whole window: what the next prompt will likely run at. */
  promptTokensPerSecond(): number | null {
    let tokens = 0
    let seconds = 0
    for (const bucket of this.windowBuckets()) {
      tokens += bucket.promptTokens
      seconds += bucket.promptSeconds
    }
    return round(seconds > 0 ? tokens / seconds : null, 2)
  }

  timeToFirstTokenP50Ms(): number | null {
    const samples = [...this.windowBuckets()].flatMap((bucket) => bucket.timeToFirstToken).sort((a, b) => a - b)
    return round(percentile(samples, 50))
  }

  private *windowBuckets(): Iterable<Bucket> {
    const oldest = this.bucketStart(this.options.now()) - this.options.windowSeconds
    for (const bucket of this.buckets.values()) if (bucket.start > oldest) yield bucket
  }
}
