import type { Readable } from 'node:stream'
import { InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js'
import { UploadTooLargeError, type FileStorage } from './files.js'
import type { BatchRunner } from './runner.js'
import { newId, type BatchRecord, type BatchStore, type FileRecord } from './store.js'
import { isJsonObject } from '../serving/json-value.js'

export interface BatchLimits {
  maxFileBytes: number
  /** All batch files together (inputs and outputs). */
  diskBytes: number
}

export const supportedEndpoints = ['/v1/chat/completions'] as const
export const completionWindowSeconds: Record<string, number> = { '24h': 24 * 3600 }

/** OpenAI's File object. */
export function fileObject(file: FileRecord) {
  return {
    id: file.id,
    object: 'file' as const,
    bytes: file.bytes,
    created_at: file.created_at,
    expires_at: file.expires_at,
    filename: file.filename,
    purpose: file.purpose,
    status: 'processed' as const,
    status_details: null,
  }
}

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

function fileNotFound(id: string): NotFoundError {
  return new NotFoundError(`No such File object: ${id}`, { param: 'file_id', code: 'file_not_found' })
}

function batchNotFound(id: string): NotFoundError {
  return new NotFoundError(`No such Batch object: ${id}`, { param: 'batch_id', code: 'batch_not_found' })
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`
}

export function parseLimit(raw: unknown, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidRequestError(`limit must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`, { param: 'limit', code: 'invalid_value' })
  }
  return value
}

/** What the Files and Batches routes do; the routes only parse HTTP. */
export class BatchService {
  constructor(
    readonly store: BatchStore,
    readonly files: FileStorage,
    readonly runner: BatchRunner,
    readonly limits: BatchLimits,
  ) {}

  /** Receives an upload's bytes under the file-size and disk limits. */
  async receiveUpload(stream: Readable): Promise<{ tempPath: string; bytes: number }> {
    const remaining = Math.max(0, this.limits.diskBytes - this.store.totalFileBytes())
    const limit = Math.min(this.limits.maxFileBytes, remaining)
    try {
      return await this.files.receive(stream, limit)
    } catch (error) {
      if (!(error instanceof UploadTooLargeError)) throw error
      if (limit < this.limits.maxFileBytes) {
        throw new PayloadTooLargeError(
          `Not enough batch storage for this file: ${formatMiB(remaining)} of the ${formatMiB(this.limits.diskBytes)} for batch files is free (--batch-disk-gb). Delete files you no longer need.`,
          { param: 'file', code: 'storage_full' },
        )
      }
      throw new PayloadTooLargeError(`File too large: the limit is ${formatMiB(this.limits.maxFileBytes)} (--batch-max-file-mb)`, { param: 'file', code: 'file_too_large' })
    }
  }

  async storeUpload(upload: { tempPath: string; bytes: number }, fields: { filename: string; purpose: string | undefined; expiresAfterSeconds?: number | undefined }): Promise<FileRecord> {
    if (fields.purpose !== 'batch' && fields.purpose !== 'user_data') {
      await this.files.discard(upload.tempPath)
      throw new InvalidRequestError(
        fields.purpose === undefined
          ? 'purpose is missing; send purpose=batch (batch input) or purpose=user_data (a PDF for chat requests)'
          : `purpose must be "batch" or "user_data", got "${fields.purpose.slice(0, 40)}"`,
        { param: 'purpose', code: fields.purpose === undefined ? 'missing_required_parameter' : 'invalid_value' },
      )
    }
    const now = this.store.now()
    const record: FileRecord = {
      id: newId('file-'),
      purpose: fields.purpose,
      filename: fields.filename.slice(0, 255) || (fields.purpose === 'batch' ? 'upload.jsonl' : 'upload'),
      bytes: upload.bytes,
      created_at: now,
      expires_at: fields.expiresAfterSeconds === undefined ? null : now + fields.expiresAfterSeconds,
    }
    // Renamed into place first: a crash before the insert leaves an orphan that start-up removes.
    await this.files.commit(upload.tempPath, record.id)
    this.store.insertFile(record)
    return record
  }

  getFile(id: string): FileRecord {
    const file = this.store.getFile(id)
    if (!file) throw fileNotFound(id)
    return file
  }

  listFiles(query: { after?: string | undefined; limit?: unknown; order?: unknown; purpose?: unknown }) {
    const limit = parseLimit(query.limit, 10_000, 10_000)
    const order = query.order === undefined ? 'desc' : query.order
    if (order !== 'asc' && order !== 'desc') throw new InvalidRequestError(`order must be "asc" or "desc", got ${JSON.stringify(order)}`, { param: 'order', code: 'invalid_value' })
    const purpose = typeof query.purpose === 'string' && query.purpose !== '' ? query.purpose : undefined
    const rows = this.store.listFiles({ after: query.after, limit: limit + 1, order, purpose })
    return page(rows.slice(0, limit).map(fileObject), rows.length > limit)
  }

  async deleteFile(id: string) {
    this.getFile(id)
    const users = this.store.activeBatchesUsing(id)
    if (users.length > 0) {
      throw new InvalidRequestError(`File ${id} is the input of batch ${users[0]}, which has not ended; cancel the batch first`, { param: 'file_id', code: 'file_in_use' })
    }
    this.store.deleteFile(id)
    await this.files.remove(id)
    return { id, object: 'file' as const, deleted: true }
  }

  createBatch(body: unknown): BatchRecord {
    if (!isJsonObject(body)) {
      throw new InvalidRequestError('The request body must be a JSON object with input_file_id, endpoint and completion_window', { param: 'body', code: 'invalid_request' })
    }
    const { input_file_id: inputFileId, endpoint, completion_window: window, metadata } = body
    if (typeof inputFileId !== 'string' || inputFileId === '') {
      throw new InvalidRequestError('input_file_id is required: the id of a file uploaded with purpose "batch"', { param: 'input_file_id', code: 'missing_required_parameter' })
    }
    if (typeof endpoint !== 'string' || !(supportedEndpoints as readonly string[]).includes(endpoint)) {
      throw new InvalidRequestError(`endpoint must be one of ${supportedEndpoints.join(', ')}, got ${JSON.stringify(endpoint ?? null)}`, { param: 'endpoint', code: 'invalid_value' })
    }
    if (typeof window !== 'string' || !(window in completionWindowSeconds)) {
      throw new InvalidRequestError(`completion_window must be one of ${Object.keys(completionWindowSeconds).join(', ')}, got ${JSON.stringify(window ?? null)}`, {
        param: 'completion_window',
        code: 'invalid_value',
      })
    }
    const file = this.store.getFile(inputFileId)
    if (!file) throw new NotFoundError(`No such File object: ${inputFileId}`, { param: 'input_file_id', code: 'file_not_found' })
    if (file.purpose !== 'batch') {
      throw new InvalidRequestError(`File ${inputFileId} has purpose "${file.purpose}"; a batch's input must be uploaded with purpose "batch"`, { param: 'input_file_id', code: 'invalid_value' })
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

function page<T extends { id: string }>(data: T[], hasMore: boolean) {
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore }
}

/** OpenAI's metadata: at most 16 string pairs, keys up to 64 characters, values up to 512. */
function parseMetadata(value: unknown): Record<string, string> | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidRequestError('metadata must be an object of string values', { param: 'metadata', code: 'invalid_type' })
  const entries = Object.entries(value as Record<string, unknown>)
  if (entries.length > 16) throw new InvalidRequestError(`metadata may have at most 16 keys, got ${entries.length}`, { param: 'metadata', code: 'invalid_value' })
  for (const [key, entry] of entries) {
    if (key.length > 64) throw new InvalidRequestError(`metadata keys may be at most 64 characters: "${key.slice(0, 70)}…"`, { param: `metadata.${key.slice(0, 64)}`, code: 'invalid_value' })
    if (typeof entry !== 'string' || entry.length > 512) {
      throw new InvalidRequestError(`metadata.${key} must be a string of at most 512 characters`, { param: `metadata.${key}`, code: 'invalid_value' })
    }
  }
  return Object.fromEntries(entries) as Record<string, string>
}
