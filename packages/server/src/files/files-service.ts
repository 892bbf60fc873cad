import type { Readable } from 'node:stream'
import { MiB, type ServeConfig } from '../config.js'
import { newId, systemClock, type Clock, type DataDir } from '../data-dir.js'
import { InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js'
import { page, parseLimit } from '../list-page.js'
import { FileRecords, type FileRecord } from './file-records.js'
import { storedFileName } from './file-name.js'
import { FileStorage, UploadTooLargeError } from './file-storage.js'

export interface FileLimits {
  maxFileBytes: number
  /** All stored files together (uploads and batch output). */
  diskBytes: number
}

export function fileLimitsFrom(config: ServeConfig): FileLimits {
  return { maxFileBytes: Math.round(config['batch-max-file-mb'] * MiB), diskBytes: Math.round(config['batch-disk-gb'] * 1024 * MiB) }
}

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

function fileNotFound(id: string): NotFoundError {
  return new NotFoundError(`No such File object: ${id}`, { param: 'file_id', code: 'file_not_found' })
}

function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 0)} MiB`
}

/**
 * OpenAI's Files API: stored files (their rows in the data directory's database, their
 * bytes in `<data dir>/files`) under the upload limits. Chat requests read documents from
 * here by `file_id`; the batch system reads its input files and writes its output here.
 */
export class FilesService {
  /** Checks that refuse deleting a file still needed (a batch's input while it runs). */
  private readonly deletionChecks: Array<(id: string) => void> = []

  constructor(
    readonly records: FileRecords,
    readonly storage: FileStorage,
    readonly limits: FileLimits,
    readonly now: Clock = systemClock,
  ) {}

  /** Receives an upload's bytes under the file-size and disk limits. */
  async receiveUpload(stream: Readable): Promise<{ tempPath: string; bytes: number }> {
    const remaining = Math.max(0, this.limits.diskBytes - this.records.totalBytes())
    const limit = Math.min(this.limits.maxFileBytes, remaining)
    try {
      return await this.storage.receive(stream, limit)
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
      await this.storage.discard(upload.tempPath)
      throw new InvalidRequestError(
        fields.purpose === undefined
          ? 'purpose is missing; send purpose=batch (batch input) or purpose=user_data (a PDF for chat requests)'
          : `purpose must be "batch" or "user_data", got "${fields.purpose.slice(0, 40)}"`,
        { param: 'purpose', code: fields.purpose === undefined ? 'missing_required_parameter' : 'invalid_value' },
      )
    }
    const now = this.now()
    const record: FileRecord = {
      id: newId('file-'),
      purpose: fields.purpose,
      filename: storedFileName(fields.filename, fields.purpose === 'batch' ? 'upload.jsonl' : 'upload'),
      bytes: upload.bytes,
      created_at: now,
      expires_at: fields.expiresAfterSeconds === undefined ? null : now + fields.expiresAfterSeconds,
    }
    // Renamed into place first: a crash before the insert leaves an orphan that start-up removes.
    await this.storage.commit(upload.tempPath, record.id)
    this.records.insert(record)
    return record
  }

  /** The file, or a 404 naming `file_id`. */
  get(id: string): FileRecord {
    const file = this.records.get(id)
    if (!file) throw fileNotFound(id)
    return file
  }

  list(query: { after?: string | undefined; limit?: unknown; order?: unknown; purpose?: unknown }) {
    const limit = parseLimit(query.limit, 10_000, 10_000)
    const order = query.order === undefined ? 'desc' : query.order
    if (order !== 'asc' && order !== 'desc') throw new InvalidRequestError(`order must be "asc" or "desc", got ${JSON.stringify(order)}`, { param: 'order', code: 'invalid_value' })
    const purpose = typeof query.purpose === 'string' && query.purpose !== '' ? query.purpose : undefined
    const rows = this.records.list({ after: query.after, limit: limit + 1, order, purpose })
    return page(rows.slice(0, limit).map(fileObject), rows.length > limit)
  }

  /** `check` throws the error a client gets when deleting a file it says is still needed. */
  refuseDeletionWhen(check: (id: string) => void): void {
    this.deletionChecks.push(check)
  }

  /** DELETE /v1/files/{id}: refused while something still needs the file. */
  async delete(id: string) {
    this.get(id)
    for (const check of this.deletionChecks) check(id)
    await this.remove(id)
    return { id, object: 'file' as const, deleted: true }
  }

  /** Forgets a file and removes its bytes, unconditionally (expiry, a batch's retention). */
  async remove(id: string): Promise<void> {
    this.records.delete(id)
    await this.storage.remove(id)
  }

  /** An uploaded file's bytes (for `file_id` in chat requests), or undefined when there is none. */
  async read(id: string): Promise<Buffer | undefined> {
    const record = this.records.get(id)
    return record === undefined ? undefined : this.storage.readRange(id, 0, record.bytes)
  }
}

/** The Files API over an open data directory; half-received uploads from before are removed. */
export async function openFiles(dataDir: DataDir, options: { limits: FileLimits; clock?: Clock | undefined; log?: ((line: string) => void) | undefined }): Promise<FilesService> {
  const records = new FileRecords(dataDir.db)
  const storage = new FileStorage(dataDir.dir)
  await storage.init()
  // Half-received uploads and files written by a batch finalize that never committed.
  const removed = await storage.removeOrphans(records.allIds())
  if (removed.length > 0) options.log?.(`files: removed ${removed.length} unfinished files from ${storage.dir}`)
  return new FilesService(records, storage, options.limits, options.clock ?? systemClock)
}
