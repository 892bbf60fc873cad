import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ServerMetrics } from '../observability/server-metrics.js'

/**
 * `GET /metrics`: Prometheus text (Visto's own metrics, then llama-server's renamed under
 * visto_engine_llamacpp_). `GET /v1/visto/stats`: the last minutes in buckets, as JSON,
 * for the web page's live status view.
 */
export function metricsHandlers(metrics: ServerMetrics) {
  return {
    scrape: async (_request: FastifyRequest, reply: FastifyReply) => {
      const text = await metrics.scrape()
      return reply.header('cache-control', 'no-store').type(metrics.contentType).send(text)
    },
    stats: async (_request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store')
      return metrics.snapshot()
    },
  }
}
