import type { FastifyInstance } from 'fastify'
import type { ServerMetrics } from '../observability/server-metrics.js'

export interface MetricsRouteDeps {
  metrics: ServerMetrics
  /** `--metrics-public`: a Prometheus that cannot send the API key may scrape without it. */
  metricsPublic: boolean
}

/**
 * `GET /metrics`: Prometheus text (Visto's own metrics, then llama-server's renamed under
 * visto_engine_llamacpp_). `GET /v1/visto/stats`: the last minutes in buckets, as JSON,
 * for the web page's live status view.
 */
export function metricsRoutes(app: FastifyInstance, { metrics, metricsPublic }: MetricsRouteDeps): void {
  app.get('/metrics', { config: { access: metricsPublic ? 'public' : 'guarded' } }, async (_request, reply) => {
    const text = await metrics.scrape()
    return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text)
  })
  app.get('/v1/visto/stats', { config: { access: 'guarded' } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return metrics.snapshot()
  })
}
