import type { FastifyInstance } from 'fastify'
import { installRequestMetrics } from './request-metrics.js'
import type { ServerMetrics } from './server-metrics.js'

/**
 * The hooks observability adds to an app, in one call: request metrics on the root (so
 * they see every route, whatever scope registers it: call this before registering the
 * routes, and after the access rule is installed), and stopping the load sampler when
 * the app closes. Its routes (`GET /metrics`, `GET /v1/visto/stats`) are in the route table.
 */
export function installObservability(app: FastifyInstance, metrics: ServerMetrics): void {
  installRequestMetrics(app, metrics)
  app.addHook('onClose', async () => metrics.close())
}
