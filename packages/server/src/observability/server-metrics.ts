import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Engine, PoolMemberStatus } from '../engines/engine.js'
import { ApiError } from '../errors.js'
import type { Admission } from '../serving/admission.js'
import type { ChatObserver, GenerationRecord } from '../serving/chat-observer.js'
import type { ResponseCache } from '../serving/response-cache.js'
import { registerPoolMetrics } from './pool-metrics.js'
import { StatsWindow, type StatsPoint, type StatsWindowOptions } from './stats-window.js'

export interface MetricsSources {
  engine: Engine
  admission: Admission
  responseCache?: ResponseCache | undefined
  /** When the server started (ms since the epoch), for the uptime; default: when these metrics were made. */
  startedAt?: number
}

/** Batches by status, and the lines of unfinished batches by state. */
export interface BatchProgress {
  batches: Record<string, number>
  lines: { pending: number; succeeded: number; failed: number }
  /** Why batch work is paused now (`disk_full`), if it is. */
  pausedFor?: string | undefined
}

const BATCH_PAUSE_REASONS = ['disk_full'] as const

const BATCH_STATUSES = ['validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'] as const

export interface ServerMetricsOptions {
  /** prom-client's process metrics (CPU, memory, event loop) as visto_process_* / visto_nodejs_*. */
  processMetrics?: boolean
  stats?: Partial<StatsWindowOptions>
  /** How often queue and slot occupancy is sampled for the status view. */
  loadSampleMs?: number
}

/** The live status view's payload (`GET /v1/visto/stats`). */
export interface StatsSnapshot {
  model: string
  engine: { kind: string; status: string }
  /** A pool's engines (absent for a single engine): name, breaker state, requests held and slots. */
  pool?: Array<{ id: string; state: PoolMemberStatus['state']; in_flight: number; slots: number }>
  uptime_s: number
  window_s: number
  bucket_s: number
  series: StatsPoint[]
  prompt_tokens_per_second: number | null
  time_to_first_token_ms_p50: number | null
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600]
const FIRST_TOKEN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300]
const PER_TOKEN_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]
const PREPROCESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const ENGINE_STATES = ['loading', 'ready', 'unavailable'] as const

/**
 * Every number Visto exports, in its own prom-client registry (one per server, so several
 * servers in one process, as in tests, never share counters). Layers report into it: the
 * HTTP hooks (requests by route and status), the chat service (tokens, time to first token,
 * time per output token), the image preparer (formats, preprocessing time), 503 responses
 * (shed requests). Queue, engine and cache figures are read from their owners at scrape time.
 */
export class ServerMetrics implements ChatObserver {
  readonly registry = new Registry()
  readonly stats: StatsWindow
  private readonly startedAt: number
  /** Requests whose generation failed after their headers went out (a 200 carrying an error event). */
  private readonly failedAfterHeaders = new Set<string>()
  private readonly sampler: NodeJS.Timeout

  private readonly httpRequests: Counter<'method' | 'route' | 'status'>
  private readonly httpDuration: Histogram<'method' | 'route'>
  private readonly timeToFirstToken: Histogram
  private readonly timePerOutputToken: Histogram
  private readonly promptTokens: Counter
  private readonly imageTokens: Counter
  private readonly completionTokens: Counter
  private readonly generations: Counter<'outcome'>
  private readonly images: Counter<'format'>
  private readonly imagesRejected: Counter<'code'>
  private readonly imagePreprocess: Histogram<'format'>
  private readonly shed: Counter<'reason'>
  private readonly engineScrapeOk: Gauge

  constructor(
    private readonly sources: MetricsSources,
    options: ServerMetricsOptions = {},
  ) {
    const registers = [this.registry]
    this.startedAt = sources.startedAt ?? Date.now()
    this.stats = new StatsWindow(options.stats)
    const { engine, admission, responseCache } = sources

    this.httpRequests = new Counter({
      name: 'visto_http_requests_total',
      help: 'HTTP requests by method, route pattern and status (499: the client left before the response ended).',
      labelNames: ['method', 'route', 'status'],
      registers,
    })
    this.httpDuration = new Histogram({
      name: 'visto_http_request_duration_seconds',
      help: 'End-to-end latency of HTTP requests, from arrival to the last byte (whole event streams included).',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    })

    this.timeToFirstToken = new Histogram({
      name: 'visto_chat_time_to_first_token_seconds',
      help: 'From receiving a chat request to its first generated token (images, queue and prompt included).',
      buckets: FIRST_TOKEN_BUCKETS,
      registers,
    })
    this.timePerOutputToken = new Histogram({
      name: 'visto_chat_time_per_output_token_seconds',
      help: 'Mean time between generated tokens after the first, per request.',
      buckets: PER_TOKEN_BUCKETS,
      registers,
    })
    this.promptTokens = new Counter({ name: 'visto_chat_prompt_tokens_total', help: 'Prompt tokens of finished generations (image tokens included).', registers })
    this.imageTokens = new Counter({ name: 'visto_chat_image_tokens_total', help: 'The part of the prompt tokens that images took.', registers })
    this.completionTokens = new Counter({ name: 'visto_chat_completion_tokens_total', help: 'Generated tokens of finished generations.', registers })
    this.generations = new Counter({
      name: 'visto_chat_generations_total',
      help: 'Generations on the engine by outcome (finished, failed); cache hits and cancellations are not counted.',
      labelNames: ['outcome'],
      registers,
    })

    this.images = new Counter({
      name: 'visto_images_total',
      help: 'Images preprocessed (decoded, normalised, re-encoded), by the format read from their bytes.',
      labelNames: ['format'],
      registers,
    })
    this.imagesRejected = new Counter({
      name: 'visto_images_rejected_total',
      help: 'Images refused by the pipeline, by error code (invalid_base64, unsupported_image_format, image_too_large, …).',
      labelNames: ['code'],
      registers,
    })
    this.imagePreprocess = new Histogram({
      name: 'visto_image_preprocess_seconds',
      help: 'Time to preprocess one image, waiting for a decode slot included.',
      labelNames: ['format'],
      buckets: PREPROCESS_BUCKETS,
      registers,
    })

    new Gauge({
      name: 'visto_queue_depth',
      help: 'Requests waiting for an engine slot.',
      registers,
      collect() {
        this.set(admission.queued)
      },
    })
    new Gauge({
      name: 'visto_requests_running',
      help: 'Requests holding an engine slot.',
      registers,
      collect() {
        this.set(admission.running)
      },
    })
    this.shed = new Counter({
      name: 'visto_requests_shed_total',
      help: 'Requests answered 503 with Retry-After, by reason (queue_full, shutting_down, model_loading, engine_unavailable).',
      labelNames: ['reason'],
      registers,
    })

    new Gauge({
      name: 'visto_engine_info',
      help: 'Always 1; the engine kind and default model as labels.',
      labelNames: ['kind', 'model'],
      registers,
      collect() {
        const info = engine.describe()
        this.reset()
        this.set({ kind: info.kind, model: info.models[0] ?? '' }, 1)
      },
    })
    new Gauge({
      name: 'visto_engine_state',
      help: 'Engine state: 1 for the current one of loading, ready, unavailable.',
      labelNames: ['state'],
      registers,
      collect() {
        const state = engine.state().status
        for (const s of ENGINE_STATES) this.set({ state: s }, s === state ? 1 : 0)
      },
    })
    new Gauge({
      name: 'visto_engine_load_progress',
      help: 'Model load progress while loading (0..1); 1 when ready.',
      registers,
      collect() {
        const state = engine.state()
        this.set(state.status === 'loading' ? state.progress : state.status === 'ready' ? 1 : 0)
      },
    })
    new Counter({
      name: 'visto_engine_restarts_total',
      help: 'Engine restarts after it stopped unexpectedly.',
      registers,
      collect() {
        this.reset()
        this.inc(engine.history?.().restarts ?? 0)
      },
    })
    new Gauge({
      name: 'visto_engine_load_seconds',
      help: 'How long the last successful engine start (model load) took.',
      registers,
      collect() {
        const seconds = engine.history?.().lastLoadSeconds
        if (seconds === undefined) this.reset()
        else this.set(seconds)
      },
    })
    this.engineScrapeOk = new Gauge({
      name: 'visto_engine_metrics_up',
      help: '1 when the engine’s own metrics (visto_engine_llamacpp_*) were included in this scrape, 0 when it could not be asked.',
      registers,
    })
    registerPoolMetrics(registers, engine)

    if (responseCache) {
      const cache = responseCache
      const counter = (name: string, help: string, read: () => number) =>
        new Counter({
          name,
          help,
          registers,
          collect() {
            this.reset()
            this.inc(read())
          },
        })
      const gauge = (name: string, help: string, read: () => number) =>
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(read())
          },
        })
      counter('visto_response_cache_hits_total', 'Requests answered from the response cache.', () => cache.hits)
      counter('visto_response_cache_misses_total', 'Cacheable requests not found in the response cache.', () => cache.misses)
      counter('visto_response_cache_bypasses_total', 'Cacheable requests that skipped the lookup (Cache-Control: no-cache or no-store).', () => cache.bypasses)
      counter('visto_response_cache_stores_total', 'Answers stored in the response cache.', () => cache.stores)
      counter('visto_response_cache_evictions_total', 'Answers evicted to make room (least recently used first).', () => cache.evictions)
      gauge('visto_response_cache_bytes', 'Memory the response cache holds, in bytes (its own estimate).', () => cache.bytes)
      gauge('visto_response_cache_capacity_bytes', 'The response cache’s limit (--response-cache-mb), in bytes; 0 when off.', () => (cache.enabled ? cache.options.maxBytes : 0))
      gauge('visto_response_cache_entries', 'Answers in the response cache.', () => cache.size)
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'visto_' })

    this.sampler = setInterval(() => this.stats.sampleLoad(admission.queued, admission.running), options.loadSampleMs ?? 1000)
    this.sampler.unref()
  }

  /** Batch progress, read at scrape time: called once the batch system exists (servers without one export no batch figures). */
  watchBatches(batchProgress: () => BatchProgress): void {
    new Gauge({
      name: 'visto_batches',
      help: 'Batches on this server by status (validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled).',
      labelNames: ['status'],
      registers: [this.registry],
      collect() {
        const progress = batchProgress()
        for (const status of BATCH_STATUSES) this.set({ status }, progress.batches[status] ?? 0)
      },
    })
    new Gauge({
      name: 'visto_batch_lines',
      help: 'Request lines of unfinished batches by state (pending, succeeded, failed).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const lines = batchProgress().lines
        for (const state of ['pending', 'succeeded', 'failed'] as const) this.set({ state }, lines[state] ?? 0)
      },
    })
    new Gauge({
      name: 'visto_batch_work_paused',
      help: 'Whether batch work is paused, by reason: disk_full (the data directory has no space; it resumes by itself when space returns).',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        const pausedFor = batchProgress().pausedFor
        for (const reason of BATCH_PAUSE_REASONS) this.set({ reason }, pausedFor === reason ? 1 : 0)
      },
    })
  }

  /**
   * A finished HTTP response (`status` 499 when the client left first), labelled by its
   * route's path; `chatRequest` (the route table's `chat`) counts it in the status view.
   */
  recordHttp(method: string, route: string, status: number, seconds: number, requestId: string, chatRequest: boolean): void {
    this.httpRequests.inc({ method, route, status: String(status) })
    if (status !== 499) this.httpDuration.observe({ method, route }, seconds)
    const failedLate = this.failedAfterHeaders.delete(requestId)
    if (chatRequest) {
      this.stats.sampleLoad(this.sources.admission.queued, this.sources.admission.running)
      this.stats.recordRequest(status === 499 ? undefined : seconds * 1000, failedLate || (status >= 400 && status !== 499))
    }
  }

  /** An error on its way to the client: 503s are requests shed under load or while the engine is away. */
  recordError(error: unknown): void {
    if (error instanceof ApiError && error.status === 503) this.shed.inc({ reason: error.code ?? 'unavailable' })
  }

  generationFinished(record: GenerationRecord): void {
    this.generations.inc({ outcome: 'finished' })
    this.promptTokens.inc(record.promptTokens)
    this.imageTokens.inc(record.imageTokens)
    this.completionTokens.inc(record.completionTokens)
    this.timeToFirstToken.observe(record.timeToFirstTokenSeconds)
    if (record.completionTokens > 1) this.timePerOutputToken.observe(record.generationSeconds / (record.completionTokens - 1))
    this.stats.recordGeneration({
      promptTokens: record.promptTokens,
      completionTokens: record.completionTokens,
      promptSeconds: record.promptSeconds,
      generationSeconds: record.generationSeconds,
      timeToFirstTokenMs: record.timeToFirstTokenSeconds * 1000,
    })
  }

  generationFailed(requestId: string): void {
    this.generations.inc({ outcome: 'failed' })
    this.failedAfterHeaders.add(requestId)
  }

  imagePrepared(format: string, seconds: number): void {
    this.images.inc({ format })
    this.imagePreprocess.observe({ format }, seconds)
  }

  imageRefused(code: string): void {
    this.imagesRejected.inc({ code })
  }

  /** Prometheus text: Visto's registry, then the engine's own metrics under their prefix. */
  async scrape(): Promise<string> {
    const engineText = (await this.sources.engine.prometheusMetrics?.()) ?? undefined
    this.engineScrapeOk.set(engineText === undefined ? 0 : 1)
    const own = await this.registry.metrics()
    return engineText ? `${own}${own.endsWith('\n') ? '' : '\n'}${engineText}` : own
  }

  get contentType(): string {
    return this.registry.contentType
  }

  snapshot(): StatsSnapshot {
    const info = this.sources.engine.describe()
    return {
      model: info.models[0] ?? '',
      engine: { kind: info.kind, status: this.sources.engine.state().status },
      ...(this.sources.engine.poolStatus ? { pool: this.sources.engine.poolStatus().map((m) => ({ id: m.id, state: m.state, in_flight: m.inFlight, slots: m.slots })) } : {}),
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      window_s: this.stats.options.windowSeconds,
      bucket_s: this.stats.options.bucketSeconds,
      series: this.stats.series(),
      prompt_tokens_per_second: this.stats.promptTokensPerSecond(),
      time_to_first_token_ms_p50: this.stats.timeToFirstTokenP50Ms(),
    }
  }

  close(): void {
    clearInterval(this.sampler)
  }
}
