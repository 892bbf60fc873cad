import type { FastifyRequest } from 'fastify'
import { batchObject, type BatchService } from '../batches/service.js'
import { BatchesUnavailableError } from '../errors.js'

type IdParams = { Params: { batch_id: string } }

/** OpenAI's Batch API: create, retrieve, list (newest first, `after`/`limit`), cancel. */
export function batchesHandlers(service: BatchService) {
  return {
    create: async (request: FastifyRequest) => batchObject(service.createBatch(request.body)),
    list: async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>) => service.listBatches({ after: request.query.after, limit: request.query.limit }),
    retrieve: async (request: FastifyRequest<IdParams>) => batchObject(service.getBatch(request.params.batch_id)),
    cancel: async (request: FastifyRequest<IdParams>) => batchObject(service.cancelBatch(request.params.batch_id)),
  }
}

/** What the Files and Batch paths answer when this server has no data directory of its own. */
export async function dataDirUnavailable(): Promise<never> {
  throw new BatchesUnavailableError()
}
