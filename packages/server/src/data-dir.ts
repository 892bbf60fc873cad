import Database from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync } from 'node:fs'
import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'

/** Seconds since the epoch, as OpenAI's objects carry them. Injectable so tests can move time. */
export type Clock = () => number
export const systemClock: Clock = () => Math.floor(Date.now() / 1000)

export function newId(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`
}

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError'
}

/**
 * The data directory (`--data-dir`, 0700): the SQLite database the Files and Batch APIs
 * share, so that a batch's end and the registration of its output files commit in one
 * transaction. WAL, synchronous=FULL (a commit is on disk when it returns, so an
 * acknowledged upload, batch or finished line survives a power cut), and an exclusive
 * lock so a second server cannot share the directory. One connection, one writer:
 * better-sqlite3 is synchronous, so transactions never interleave.
 */
export interface DataDir {
  readonly dir: string
  readonly db: Database.Database
  close(): void
}

export async function openDataDir(dir: string): Promise<DataDir> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  // The name dates from when only batches lived here; data directories in use keep it.
  const path = join(dir, 'batches.sqlite')
  const existed = existsSync(path)
  const db = new Database(path, { timeout: 0 })
  if (!existed) chmodSync(path, 0o600)
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec('BEGIN IMMEDIATE; COMMIT')
  } catch (error) {
    db.close()
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new DataDirInUseError(`The data directory ${dir} is in use by another Visto server (--data-dir)`)
    }
    throw error
  }
  return {
    dir,
    db,
    close: () => {
      if (db.open) db.close()
    },
  }
}

/**
 * A second server on the same cache (another model, another port) still serves chat; only
 * one may own the data directory, so the other says where its files and batches are not.
 */
export async function openDataDirUnlessInUse(dir: string, log: (line: string) => void): Promise<DataDir | undefined> {
  try {
    return await openDataDir(dir)
  } catch (error) {
    if (!(error instanceof DataDirInUseError)) throw error
    log(`WARNING: ${error.message}; the Files and Batch APIs are off on this server (give it its own --data-dir)`)
    return undefined
  }
}
