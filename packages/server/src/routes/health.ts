import type { HealthStatus } from '@visto/protocol'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Engine } from '../engines/engine.js'
import { redactUrlCredentials } from '../redact.js'
import type { BatchPause } from '../batches/runner.js'
import type { Admission } from '../serving/admission.js'

/**
 * `GET /health` is public liveness for load balancers and the page: the status and load
 * progress only, nothing about the engine's internals or addresses. `GET /v1/health`
 * (guarded) adds the engine's message and the queue, and a pool's engines.
 */
export function healthHandlers({ engine, admission, batchPause }: { engine: Engine; admission: Admission; batchPause?: (() => BatchPause | undefined) | undefined }) {
  const status = (reply: FastifyReply): HealthStatus => {
    const state = engine.state()
    if (state.status !== 'ready') reply.code(503).header('retry-after', '5')
    if (state.status === 'ready') return { status: 'ok' }
    if (state.status === 'loading') return { status: 'loading', progress: state.progress }
    return { status: 'unavailable' }
  }
  return {
    liveness: async (_request: FastifyRequest, reply: FastifyReply) => status(reply),
    detailed: async (_request: FastifyRequest, reply: FastifyReply) => {
      const state = engine.state()
      // Engine states quote URLs (an upstream's); none may carry its credentials out.
      const pool = engine.poolStatus?.()
      return {
        ...status(reply),
        ...('message' in state ? { message: redactUrlCredentials(state.message) } : {}),
        running: admission.running,
        queued: admission.queued,
        // A pool lists each engine: its name (URL without credentials), breaker state and load.
        ...(pool ? { capacity: admission.capacity, engines: pool.map((m) => ({ ...m, ...(m.reason !== undefined ? { reason: redactUrlCredentials(m.reason) } : {}) })) } : {}),
        ...(batchPause ? { batches: batchWork(batchPause()) } : {}),
      }
    },
  }
}

/** Batch work as /v1/health shows it: running, or paused with the reason and since when. */
function batchWork(pause: BatchPause | undefined) {
  if (!pause) return { status: 'running' as const }
  return { status: 'paused' as const, reason: pause.reason, message: pause.message, since: Math.floor(pause.since / 1000), unwritten_results: pause.unwrittenResults }
}
