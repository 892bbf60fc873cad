import type { HealthStatus } from '@visto/protocol'
import type { FastifyInstance } from 'fastify'
import type { AppDeps } from '../app.js'
import { redactUrlCredentials } from '../redact.js'

/** 200 when the model can answer; 503 with load progress while loading or restarting. */
export function healthRoutes(app: FastifyInstance, { engine, admission }: AppDeps): void {
  const handler = async (_request: unknown, reply: import('fastify').FastifyReply) => {
    const state = engine.state()
    // Engine states quote URLs (an upstream's); none may carry its credentials out.
    const message = 'message' in state ? redactUrlCredentials(state.message) : ''
    const body: HealthStatus & { running: number; queued: number } =
      state.status === 'ready'
        ? { status: 'ok', running: admission.running, queued: admission.queued }
        : state.status === 'loading'
          ? { status: 'loading', progress: state.progress, message, running: 0, queued: 0 }
          : { status: 'unavailable', message, running: admission.running, queued: admission.queued }
    if (state.status !== 'ready') reply.code(503).header('retry-after', '5')
    return body
  }
  app.get('/health', handler)
  app.get('/v1/health', handler)
}
