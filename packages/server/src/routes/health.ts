import type { HealthStatus } from '@visto/protocol'
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Engine } from '../engines/engine.js'
import type { Admission } from '../serving/admission.js'

/**
 * `GET /health` is public liveness for load balancers and the page: the status and load
 * progress only, nothing about the engine's internals or addresses. `GET /v1/health`
 * (guarded) adds the engine's message and the queue.
 */
export function healthRoutes(app: FastifyInstance, { engine, admission }: { engine: Engine; admission: Admission }): void {
  const status = (reply: FastifyReply): HealthStatus => {
    const state = engine.state()
    if (state.status !== 'ready') reply.code(503).header('retry-after', '5')
    if (state.status === 'ready') return { status: 'ok' }
    if (state.status === 'loading') return { status: 'loading', progress: state.progress }
    return { status: 'unavailable' }
  }
  app.get('/health', { config: { access: 'public' } }, async (_request, reply) => status(reply))
  app.get('/v1/health', { config: { access: 'guarded' } }, async (_request, reply) => {
    const state = engine.state()
    return { ...status(reply), ...('message' in state ? { message: state.message } : {}), running: admission.running, queued: admission.queued }
  })
}
