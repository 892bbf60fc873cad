import type { FastifyInstance, FastifyRequest } from 'fastify'
import { batchObject, type BatchService } from '../batches/service.js'
import { BatchesUnavailableError } from '../errors.js'

const guarded = { config: { access: 'guarded' } } as const

type IdParams = { Params: { batch_id: string } }

/** OpenAI's Batch API: create, retrieve, list (newest first, `after`/`limit`), cancel. */
export function batchesRoutes(app: FastifyInstance, service: BatchService): void {
  app.post('/v1/batches', guarded, async (request) => batchObject(service.createBatch(request.body)))
  app.get('/v1/batches', guarded, async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) =>
    service.listBatches({ after: request.query.after, limit: request.query.limit }),
  )
  app.get('/v1/batches/:batch_id', guarded, async (request: FastifyRequest<IdParams>) => batchObject(service.getBatch(request.params.batch_id)))
  app.post('/v1/batches/:batch_id/cancel', guarded, async (request: FastifyRequest<IdParams>) => batchObject(service.cancelBatch(request.params.batch_id)))
}

/** The same paths when this server has no batch data directory of its own. */
export function batchesUnavailableRoutes(app: FastifyInstance): void {
  const unavailable = async (): Promise<never> => {
    throw new BatchesUnavailableError()
  }
  for (const url of ['/v1/files', '/v1/files/*', '/v1/batches', '/v1/batches/*']) app.all(url, guarded, unavailable)
}
