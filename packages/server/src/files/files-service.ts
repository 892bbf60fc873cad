import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { MiB, type ServeConfig } from '../config.js'
import { newId, systemClock, type Clock, type DataDir } from '../data-dir.js'
import { DiskReserve, diskSpaceOf, isDiskFull, type DiskSpace } from '../disk-space.js'
import { InsufficientStorageError, InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js'
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

/** Room an upload leaves on the disk: 1 % of it, at most 64 MiB. */
export function uploadReserveBytes(diskSize: number): number {
  return Math.min(64 * MiB, Math.floor(diskSize / 100))
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
    /** Space held back so that deleting works on a full disk (see DiskReserve). */
    readonly diskReserve?: DiskReserve,
  ) {}

  /** Free space where the files are; replaceable so tests can make the disk look full. */
  diskSpace: () => Promise<DiskSpace> = () => diskSpaceOf(this.storage.dir)

  /** Receives an upload's bytes under the file-size and disk limits, and what the disk really has free. */
  async receiveUpload(stream: Readable): Promise<{ tempPath: string; bytes: number }> {
    const remaining = Math.max(0, this.limits.diskBytes - this.records.totalBytes())
    const disk = await this.diskSpace()
    // What an upload may take of the real disk: batch results and the database need room too.
    const diskRoom = Math.max(0, disk.free - uploadReserveBytes(disk.size))
    const limit = Math.min(this.limits.maxFileBytes, remaining, diskRoom)
    const diskFullError = () =>
      new InsufficientStorageError(
        `Not enough free disk space for this file: ${formatMiB(disk.free)} is free on the disk of the data directory (--data-dir), and uploads leave ${formatMiB(uploadReserveBytes(disk.size))} of it for batch results. Delete files you no longer need or free space on the disk.`,
        { param: 'file' },
      )
    try {
      return await this.storage.receive(stream, limit)
    } catch (error) {
      if (isDiskFull(error)) throw diskFullError()
      if (!(error instanceof UploadTooLargeError)) throw error
      if (diskRoom < Math.min(this.limits.maxFileBytes, remaining)) throw diskFullError()
      if (limit < this.limits.maxFileBytes) {
        throw new PayloadTooLargeError(
          `Not enough batch storage for this file: ${formatMiB(remaining)} of the ${formatMiB(this.limits.diskBytes)} for batch files is free (--batch-disk-gb). Delete files you no longer need.`,
          { param: 'file', code: 'storage_full' },
        )
      }
      throw new PayloadTooLargeError(`File too large: the limit is ${formatMiB(this.limits.maxFileBytes)} (--batch-max-file-mb)`, { param: 'file', code: 'file_too_large' })
    }
  }

  async storeUpload(
    upload: { tempPath: string; bytes: number },
    fields: { filename: string; purpose: string | undefined; expiresAfterSeconds?: number | undefined },
  ): Promise<FileRecord> {
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
    try {
      this.records.insert(record)
    } catch (error) {
      // A full disk refuses the database write: the bytes go too, so nothing half-stored is left.
      await this.storage.remove(record.id)
      throw error
    }
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

  /**
   * Forgets a file and removes its bytes, unconditionally (expiry, a batch's retention).
   * Bytes first: on a full disk the database write may need the space they free. A crash
   * in between leaves a row without bytes, which start-up drops.
   */
  async remove(id: string): Promise<void> {
    await this.storage.remove(id)
    try {
      this.records.delete(id)
    } catch (error) {
      // The disk is so full that even this write has no room (a small file frees less than SQLite needs).
      if (!isDiskFull(error) || !this.diskReserve?.release()) throw error
      this.records.delete(id)
    }
    void this.diskReserve?.ensure()
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
  // Rows whose bytes a deletion removed just before the server stopped.
  const missing = [...records.allIds()].filter((id) => !existsSync(storage.path(id)))
  for (const id of missing) records.delete(id)
  if (missing.length > 0) options.log?.(`files: forgot ${missing.length} files whose bytes were already deleted`)
  const diskReserve = new DiskReserve(join(dataDir.dir, 'disk-reserve'))
  await diskReserve.ensure()
  return new FilesService(records, storage, options.limits, options.clock ?? systemClock, diskReserve)
}
