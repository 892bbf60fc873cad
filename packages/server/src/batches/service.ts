import { InvalidRequestError, NotFoundError } from '../errors.js'
import { newId } from '../data-dir.js'
import type { FilesService } from '../files/files-service.js'
import { page, parseLimit } from '../list-page.js'
import type { BatchRunner } from './runner.js'
import type { BatchRecord, BatchStore } from './store.js'
import { isJsonObject } from '../serving/json-value.js'

export const supportedEndpoints = ['/v1/chat/completions'] as const
export const completionWindowSeconds: Record<string, number> = { '24h': 24 * 3600 }

/** OpenAI's Batch object. */
export function batchObject(batch: BatchRecord) {
  return {
    id: batch.id,
    object: 'batch' as const,
    endpoint: batch.endpoint,
    errors: batch.errors ? { object: 'list', data: batch.errors } : null,
    input_file_id: batch.input_file_id,
    completion_window: batch.completion_window,
    status: batch.status,
    output_file_id: batch.output_file_id,
    error_file_id: batch.error_file_id,
    created_at: batch.created_at,
    in_progress_at: batch.in_progress_at,
    expires_at: batch.expires_at,
    finalizing_at: batch.finalizing_at,
    completed_at: batch.completed_at,
    failed_at: batch.failed_at,
    expired_at: batch.expired_at,
    cancelling_at: batch.cancelling_at,
    cancelled_at: batch.cancelled_at,
    request_counts: { total: batch.total, completed: batch.completed, failed: batch.failed },
    usage: {
      input_tokens: batch.input_tokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: batch.output_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: batch.input_tokens + batch.output_tokens,
    },
    metadata: batch.metadata,
  }
}

function batchNotFound(id: string): NotFoundError {
  return new NotFoundError(`No such Batch object: ${id}`, { param: 'batch_id', code: 'batch_not_found' })
}

/** What the Batches routes do; the routes only parse HTTP. */
export class BatchService {
  constructor(
    readonly store: BatchStore,
    readonly files: FilesService,
    readonly runner: BatchRunner,
  ) {}

  createBatch(body: unknown): BatchRecord {
    if (!isJsonObject(body)) {
      throw new InvalidRequestError('The request body must be a JSON object with input_file_id, endpoint and completion_window', { param: 'body', code: 'invalid_request' })
    }
    const { input_file_id: inputFileId, endpoint, completion_window: window, metadata } = body
    if (typeof inputFileId !== 'string' || inputFileId === '') {
      throw new InvalidRequestError('input_file_id is required: the id of a file uploaded with purpose "batch"', { param: 'input_file_id', code: 'missing_required_parameter' })
    }
    if (typeof endpoint !== 'string' || !(supportedEndpoints as readonly string[]).includes(endpoint)) {
      throw new InvalidRequestError(`endpoint must be one of ${supportedEndpoints.join(', ')}, got ${JSON.stringify(endpoint ?? null)}`, {
        param: 'endpoint',
        code: 'invalid_value',
      })
    }
    if (typeof window !== 'string' || !(window in completionWindowSeconds)) {
      throw new InvalidRequestError(`completion_window must be one of ${Object.keys(completionWindowSeconds).join(', ')}, got ${JSON.stringify(window ?? null)}`, {
        param: 'completion_window',
        code: 'invalid_value',
      })
    }
    const file = this.files.records.get(inputFileId)
    if (!file) throw new NotFoundError(`No such File object: ${inputFileId}`, { param: 'input_file_id', code: 'file_not_found' })
    if (file.purpose !== 'batch') {
      throw new InvalidRequestError(`File ${inputFileId} has purpose "${file.purpose}"; a batch's input must be uploaded with purpose "batch"`, {
        param: 'input_file_id',
        code: 'invalid_value',
      })
    }
    const now = this.store.now()
    const batch = this.store.insertBatch({
      id: newId('batch_'),
      endpoint,
      input_file_id: inputFileId,
      completion_window: window,
      metadata: parseMetadata(metadata),
      created_at: now,
      expires_at: now + completionWindowSeconds[window]!,
    })
    this.runner.wake()
    return batch
  }

  getBatch(id: string): BatchRecord {
    const batch = this.store.getBatch(id)
    if (!batch) throw batchNotFound(id)
    return batch
  }

  listBatches(query: { after?: string | undefined; limit?: unknown }) {
    const limit = parseLimit(query.limit, 20, 100)
    const rows = this.store.listBatches({ after: query.after, limit: limit + 1 })
    return page(rows.slice(0, limit).map(batchObject), rows.length > limit)
  }

  cancelBatch(id: string): BatchRecord {
    const before = this.getBatch(id)
    if (before.status === 'cancelling' || before.status === 'cancelled') return before
    const batch = this.store.requestCancel(id)!
    if (batch.status !== 'cancelling') {
      throw new InvalidRequestError(`Batch ${id} cannot be cancelled: its status is ${batch.status}`, { param: 'batch_id', code: 'batch_not_cancellable' })
    }
    this.runner.cancel(batch)
    return batch
  }
}

/** OpenAI's metadata: at most 16 string pairs, keys up to 64 characters, values up to 512. */
function parseMetadata(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidRequestError('metadata must be an object of string values', { param: 'metadata', code: 'invalid_type' })
  const entries = Object.entries(value as Record<string, unknown>)
  if (entries.length > 16) throw new InvalidRequestError(`metadata may have at most 16 keys, got ${entries.length}`, { param: 'metadata', code: 'invalid_value' })
  for (const [key, entry] of entries) {
    if (key.length > 64)
      throw new InvalidRequestError(`metadata keys may be at most 64 characters: "${key.slice(0, 70)}…"`, { param: `metadata.${key.slice(0, 64)}`, code: 'invalid_value' })
    if (typeof entry !== 'string' || entry.length > 512) {
      throw new InvalidRequestError(`metadata.${key} must be a string of at most 512 characters`, { param: `metadata.${key}`, code: 'invalid_value' })
    }
  }
  return Object.fromEntries(entries) as Record<string, string>
}
