import { existsSync, rmSync } from 'node:fs'
import { open, rename, rm, statfs } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * A write failed for lack of space: Node's ENOSPC (EDQUOT: over a quota) and SQLite's
 * SQLITE_FULL. Such a write can succeed later, once space is freed: batch work pauses and
 * retries it, and a request gets a 507 saying so, never a 500.
 */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL'
}

export interface DiskSpace {
  /** Bytes an unprivileged process may still write. */
  free: number
  /** The file system's size. */
  size: number
}

/** Free space on the file system holding `dir` (statfs). */
export async function diskSpaceOf(dir: string): Promise<DiskSpace> {
  const stats = await statfs(dir)
  return { free: stats.bavail * stats.bsize, size: stats.blocks * stats.bsize }
}

/**
 * A file of real blocks kept in the data directory so that a full disk still has a way
 * out: deleting a file is a database write, and SQLite needs a few pages of WAL even to
 * delete a row. When that write fails for lack of space, the reserve is released and the
 * write retried; it is made again once there is room. 1 MiB, or 2 % of a small disk.
 */
export class DiskReserve {
  private making: Promise<void> | undefined

  constructor(readonly path: string) {}

  /** Makes the reserve if it is missing and there is room for it; never fails. */
  ensure(): Promise<void> {
    this.making ??= this.make().finally(() => (this.making = undefined))
    return this.making
  }

  private async make(): Promise<void> {
    if (existsSync(this.path)) return
    const temp = `${this.path}.incoming`
    try {
      const { size, free } = await diskSpaceOf(dirname(this.path))
      const bytes = Math.min(1024 * 1024, Math.floor(size / 50))
      // Only from space nobody else is about to need.
      if (free < bytes * 4) return
      const handle = await open(temp, 'w', 0o600)
      try {
        await handle.write(Buffer.alloc(bytes))
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(temp, this.path)
    } catch {
      await rm(temp, { force: true }).catch(() => {})
    }
  }

  /** Frees the reserve's space; false when there was none to free. */
  release(): boolean {
    if (!existsSync(this.path)) return false
    rmSync(this.path, { force: true })
    return true
  }
}
