import type { FastifyInstance } from 'fastify'
import { metricsRoutes } from '../routes/metrics.js'
import { installRequestMetrics } from './request-metrics.js'
import type { ServerMetrics } from './server-metrics.js'

/**
 * Everything observability adds to an app, in one call: the request hooks on the root (so
 * they see every route, whatever scope registers it: call this before registering the
 * other routes, and after the access rule is installed), `GET /metrics` and
 * `GET /v1/visto/stats`, and stopping the load sampler when the app closes.
 */
export function installObservability(app: FastifyInstance, options: { metrics: ServerMetrics; metricsPublic: boolean }): void {
  installRequestMetrics(app, options.metrics)
  metricsRoutes(app, options)
  app.addHook('onClose', async () => options.metrics.close())
}
