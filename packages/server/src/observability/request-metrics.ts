import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { ServerMetrics } from './server-metrics.js'

/** Status recorded for a response the client abandoned before its end (nginx's convention). */
const CLIENT_CLOSED = 499

/**
 * Counts every HTTP response by method, route pattern (`/ui/*`, never the raw URL, so the
 * label set stays bounded; `unmatched` for 404s) and status, and times it end to end.
 * Streams count when their last byte is written, or as 499 when the client leaves first.
 * 503s are counted as shed requests by their error code.
 */
export function installRequestMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  // The label and the chat flag come from the route's row in the route table.
  const record = (request: FastifyRequest, status: number, seconds: number): void => {
    const { metricsLabel, chatRequest } = request.routeOptions.config ?? {}
    metrics.recordHttp(request.method, metricsLabel ?? 'unmatched', status, seconds, request.id, chatRequest === true)
  }
  app.addHook('onRequest', async (request, reply) => {
    // 'finish' comes before 'close' when the response was written out; onResponse counts those.
    let finished = false
    reply.raw.once('finish', () => (finished = true))
    reply.raw.once('close', () => {
      if (!finished) record(request, CLIENT_CLOSED, reply.elapsedTime / 1000)
    })
  })
  app.addHook('onResponse', async (request, reply) => {
    record(request, reply.raw.statusCode, reply.elapsedTime / 1000)
  })
  app.addHook('onError', async (_request, _reply, error) => {
    metrics.recordError(error)
  })
}
