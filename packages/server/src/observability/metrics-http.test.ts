import { readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { InvalidImageError } from '../errors.js'
import { ServerMetrics } from './server-metrics.js'
import { Admission } from '../serving/admission.js'
import { ResponseCache } from '../serving/response-cache.js'
import { endless, ScriptedEngine, words } from '../../../../test-support/scripted-engine.js'
import { parsePrometheusText, sample } from '../../../../test-support/prometheus-text.js'
import { testImage } from '@visto/testkit/images/test-images'
import { multipartForm } from '../../../../test-support/requests.js'
import { closeApp } from '../../../../test-support/close-app.js'

// GET /metrics and GET /v1/visto/stats: scrape, make requests, scrape again, compare.
// The engine is scripted (token counts are fixed), so every delta is exact.

let app: FastifyInstance | undefined
let metrics: ServerMetrics | undefined
afterEach(async () => {
  await closeApp(app)
  metrics?.close()
  app = undefined
})

const question = {
  model: 'qwen3-vl-4b-instruct',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ],
    },
  ],
  max_tokens: 64,
  temperature: 0.3,
}

async function setup(options: { engine?: ScriptedEngine; apiKey?: string; metricsPublic?: boolean; maxQueue?: number } = {}) {
  const engine = options.engine ?? new ScriptedEngine(words(['Hello', ' big', ' world'], 'stop', 40))
  const config = serveConfig({
    parallel: 1,
    'max-queue': options.maxQueue ?? 4,
    'max-images': 2,
    'body-limit-mb': 1,
    'response-cache': 'off',
    'metrics-public': options.metricsPublic ?? false,
    ...(options.apiKey ? { 'api-key': options.apiKey } : {}),
  })
  const composed = await composeServer(config, {
    engine,
    metrics: { processMetrics: false, loadSampleMs: 20 },
    prepareImage: async (url, where) => {
      if (url.includes('broken')) throw new InvalidImageError(`Invalid image data in ${where}: truncated JPEG`, { code: 'invalid_image' })
      return { data: Buffer.from('png'), mime: 'image/png', width: 64, height: 64, imageTokens: 4, sourceFormat: 'png' }
    },
  })
  app = composed.app
  metrics = composed.metrics
  return { app, engine, admission: composed.admission }
}

async function scrape(headers: Record<string, string> = {}) {
  const response = await app!.inject({ method: 'GET', url: '/metrics', headers })
  expect(response.statusCode).toBe(200)
  return parsePrometheusText(response.body)
}

const post = (body: unknown, url = '/v1/chat/completions') => app!.inject({ method: 'POST', url, payload: body as object })

describe('GET /metrics', () => {
  it('is Prometheus text from prom-client, with every family described', async () => {
    await setup()
    const response = await app!.inject({ method: 'GET', url: '/metrics' })
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    for (const name of ['visto_http_requests_total', 'visto_chat_time_to_first_token_seconds', 'visto_queue_depth', 'visto_engine_state', 'visto_requests_shed_total']) {
      expect(response.body).toContain(`# HELP ${name} `)
    }
  })

  it('counts requests by route pattern and status, and times them', async () => {
    await setup()
    const before = await scrape()
    await post(question)
    await post(question, '/chat/completions')
    await post({ ...question, temperature: 9 })
    await app!.inject({ method: 'GET', url: '/no/such/page?x=1' })
    await app!.inject({ method: 'GET', url: '/no/other/page' })
    const after = await scrape()
    const delta = (labels: Record<string, string>) => sample(after, 'visto_http_requests_total', labels) - sample(before, 'visto_http_requests_total', labels)
    expect(delta({ method: 'POST', route: '/v1/chat/completions', status: '200' })).toBe(1)
    expect(delta({ method: 'POST', route: '/chat/completions', status: '200' })).toBe(1)
    expect(delta({ method: 'POST', route: '/v1/chat/completions', status: '400' })).toBe(1)
    // Unknown URLs share one label instead of one series each.
    expect(delta({ method: 'GET', route: 'unmatched', status: '404' })).toBe(2)
    expect([...after.keys()].some((key) => key.includes('/no/'))).toBe(false)
    // The previous scrape itself was counted.
    expect(sample(after, 'visto_http_requests_total', { method: 'GET', route: '/metrics', status: '200' })).toBe(1)
    expect(sample(after, 'visto_http_request_duration_seconds_count', { method: 'POST', route: '/v1/chat/completions' })).toBe(2)
  })

  it('counts tokens, time to first token and time per output token of finished generations', async () => {
    await setup()
    const before = await scrape()
    await post(question)
    await post({ ...question, stream: true })
    const after = await scrape()
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels)
    expect(delta('visto_chat_prompt_tokens_total')).toBe(80)
    expect(delta('visto_chat_image_tokens_total')).toBe(8)
    expect(delta('visto_chat_completion_tokens_total')).toBe(6)
    expect(delta('visto_chat_generations_total', { outcome: 'finished' })).toBe(2)
    expect(delta('visto_chat_time_to_first_token_seconds_count')).toBe(2)
    expect(delta('visto_chat_time_per_output_token_seconds_count')).toBe(2)
    expect(sample(after, 'visto_chat_time_to_first_token_seconds_bucket', { le: '+Inf' })).toBe(2)
  })

  it('counts images by format, their preprocessing time, and refused images by code', async () => {
    await setup()
    await post(question)
    await post({ ...question, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,broken' } }] }] })
    const after = await scrape()
    expect(sample(after, 'visto_images_total', { format: 'png' })).toBe(1)
    expect(sample(after, 'visto_image_preprocess_seconds_count', { format: 'png' })).toBe(1)
    expect(sample(after, 'visto_images_rejected_total', { code: 'invalid_image' })).toBe(1)
  })

  it('counts uploads to /v1/images/describe as images too', async () => {
    await setup()
    const jpeg = await testImage(64, 48, 'jpeg')
    const upload = (data: Buffer) =>
      app!.inject({
        method: 'POST',
        url: '/v1/images/describe',
        ...multipartForm([
          { name: 'image', filename: 'a.jpg', data },
          { name: 'temperature', value: '0' },
        ]),
      })
    expect((await upload(jpeg)).statusCode).toBe(200)
    expect((await upload(jpeg.subarray(0, 200))).statusCode).toBe(400)
    const after = await scrape()
    expect(sample(after, 'visto_images_total', { format: 'jpeg' })).toBe(1)
    expect(sample(after, 'visto_image_preprocess_seconds_count', { format: 'jpeg' })).toBe(1)
    expect(sample(after, 'visto_images_rejected_total', { code: 'truncated_image' })).toBe(1)
  })

  it('reports queue depth and running requests, and counts requests shed with 503 by reason', async () => {
    const { admission } = await setup({ engine: new ScriptedEngine(endless(10)), maxQueue: 0 })
    const url = await app!.listen({ port: 0, host: '127.0.0.1' })
    const controller = new AbortController()
    await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...question, stream: true }),
      headers: { 'content-type': 'application/json' },
      signal: controller.signal,
    })
    expect(admission.running).toBe(1)
    const shed = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(question), headers: { 'content-type': 'application/json' } })
    expect(shed.status).toBe(503)
    const during = await scrape()
    expect(sample(during, 'visto_requests_running')).toBe(1)
    expect(sample(during, 'visto_queue_depth')).toBe(0)
    expect(sample(during, 'visto_requests_shed_total', { reason: 'queue_full' })).toBe(1)
    controller.abort()
    await expect.poll(() => admission.running).toBe(0)
    // The abandoned stream is counted as 499, not as a success.
    await expect.poll(async () => sample(await scrape(), 'visto_http_requests_total', { method: 'POST', route: '/v1/chat/completions', status: '499' })).toBe(1)
  })

  it('reports the engine state and counts 503s while it loads', async () => {
    const { engine } = await setup()
    expect(sample(await scrape(), 'visto_engine_state', { state: 'ready' })).toBe(1)
    expect(sample(await scrape(), 'visto_engine_info', { kind: 'scripted', model: 'qwen3-vl-4b-instruct' })).toBe(1)
    engine.currentState = { status: 'loading', progress: 0.4, message: 'loading weights' }
    expect((await post(question)).statusCode).toBe(503)
    const loading = await scrape()
    expect(sample(loading, 'visto_engine_state', { state: 'ready' })).toBe(0)
    expect(sample(loading, 'visto_engine_state', { state: 'loading' })).toBe(1)
    expect(sample(loading, 'visto_engine_load_progress')).toBe(0.4)
    expect(sample(loading, 'visto_requests_shed_total', { reason: 'model_loading' })).toBe(1)
    // A scripted engine has no metrics of its own to relay.
    expect(sample(loading, 'visto_engine_metrics_up')).toBe(0)
  })

  it('needs the API key like the rest of the API, unless --metrics-public', async () => {
    await setup({ apiKey: 'sekrit' })
    expect((await app!.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401)
    expect((await app!.inject({ method: 'GET', url: '/v1/visto/stats' })).statusCode).toBe(401)
    expect((await app!.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer sekrit' } })).statusCode).toBe(200)
    await closeApp(app)
    metrics!.close()
    await setup({ apiKey: 'sekrit', metricsPublic: true })
    expect((await app!.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200)
    // The status view's numbers stay guarded either way.
    expect((await app!.inject({ method: 'GET', url: '/v1/visto/stats' })).statusCode).toBe(401)
  })

  it('keeps one registry per server: two servers in one process count separately', async () => {
    await setup()
    const first = app!
    const firstMetrics = metrics!
    await post(question)
    await setup()
    await post(question)
    await post(question)
    const count = (samples: Map<string, number>) => sample(samples, 'visto_http_requests_total', { method: 'POST', route: '/v1/chat/completions', status: '200' })
    expect(count(parsePrometheusText((await first.inject({ method: 'GET', url: '/metrics' })).body))).toBe(1)
    expect(count(await scrape())).toBe(2)
    await first.close()
    firstMetrics.close()
  })
})

describe('metric documentation', () => {
  it('names only metrics that exist, in the README table and in the Grafana dashboard, and the README lists every one', async () => {
    const engine = new ScriptedEngine()
    const admission = new Admission(1, 1)
    metrics = new ServerMetrics({
      engine,
      admission,
      responseCache: new ResponseCache({ maxBytes: 1, mode: 'deterministic', maxImageBytes: 1 }),
    })
    metrics.watchBatches(() => ({ batches: {}, lines: { pending: 0, succeeded: 0, failed: 0 } }))
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name))
    const root = new URL('../../../../', import.meta.url)
    const readme = readFileSync(new URL('README.md', root), 'utf8')
    const dashboard = readFileSync(new URL('docs/grafana-dashboard.json', root), 'utf8')
    JSON.parse(dashboard)
    const base = (name: string) => name.replace(/_(bucket|count|sum)$/, '')
    const documented = new Set([...readme.matchAll(/^\| `(visto_[a-z_]+)/gm)].map((m) => m[1]!))
    const charted = new Set([...dashboard.matchAll(/\b(visto_[a-z_]+)/g)].map((m) => base(m[1]!)))
    // Families documented as groups: prom-client's process metrics and llama-server's own.
    expect(documented.size).toBeGreaterThan(25)
    expect(charted.size).toBeGreaterThan(15)
    const grouped = (name: string) => /^visto_(process|nodejs)_/.test(name) || name.startsWith('visto_engine_llamacpp_')
    for (const name of documented) expect(exported.has(name) || grouped(name), `README names ${name}`).toBe(true)
    for (const name of charted) expect(exported.has(name) || grouped(name), `dashboard charts ${name}`).toBe(true)
    for (const name of exported) if (!grouped(name)) expect(documented.has(name), `README lacks ${name}`).toBe(true)
  })
})

describe('GET /v1/visto/stats', () => {
  it('returns the model, engine, uptime and a series of buckets that shows recent requests', async () => {
    await setup()
    await post(question)
    await post(question)
    await post({ ...question, temperature: 9 })
    const response = await app!.inject({ method: 'GET', url: '/v1/visto/stats' })
    expect(response.statusCode).toBe(200)
    const stats = response.json()
    expect(stats).toMatchObject({ model: 'qwen3-vl-4b-instruct', engine: { kind: 'scripted', status: 'ready' }, window_s: 600, bucket_s: 10 })
    expect(stats.uptime_s).toBeGreaterThanOrEqual(0)
    expect(stats.series).toHaveLength(60)
    const last = stats.series.at(-1)
    expect(last.t).toBeLessThanOrEqual(Date.now() / 1000)
    expect(last.t % 10).toBe(0)
    // Buckets are 10 s wide; the three requests may straddle a boundary.
    const recent = stats.series.slice(-2)
    const total = (key: string) => recent.reduce((n: number, p: Record<string, number>) => n + p[key]!, 0)
    expect(total('requests')).toBe(3)
    expect(total('errors')).toBe(1)
    expect(recent.some((p: { latency_p50_ms: number | null }) => p.latency_p50_ms !== null)).toBe(true)
    expect(recent.some((p: { prompt_tokens_per_s: number | null }) => p.prompt_tokens_per_s !== null && p.prompt_tokens_per_s > 0)).toBe(true)
    expect(stats.prompt_tokens_per_second).toBeGreaterThan(0)
    expect(stats.time_to_first_token_ms_p50).toBeGreaterThanOrEqual(0)
    for (const point of stats.series) {
      expect(Object.keys(point).sort()).toEqual([
        'completion_tokens_per_s',
        'errors',
        'latency_p50_ms',
        'latency_p95_ms',
        'prompt_tokens_per_s',
        'queued',
        'requests',
        'running',
        't',
      ])
    }
  })
})
