import { open, readFile, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'

export interface FileLockOptions {
  signal?: AbortSignal | undefined
  /** Called once per poll while another process holds the lock. */
  onWait?: () => void
  /** A lock whose heartbeat is older than this is abandoned (a killed process, another container). */
  staleMs?: number
  heartbeatMs?: number
  pollMs?: number
}

interface LockOwner {
  pid: number
  host: string
  startedAt: string
}

/**
 * An exclusive lock file (created with O_EXCL) for work two Visto processes sharing a
 * cache must never do at once: writing the same download `.part` file, or building the
 * engine into the same folder. The holder
 * touches the file every few seconds; a waiter takes over a lock whose owner is a dead
 * process on this host, or whose heartbeat stopped (an owner on another host or in
 * another PID namespace). Returns the function that releases it.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? 30_000
  const heartbeatMs = options.heartbeatMs ?? 5_000
  const pollMs = options.pollMs ?? 250
  const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }
  const ownerText = JSON.stringify(owner)

  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const handle = await open(lockPath, 'wx')
      try {
        await handle.writeFile(ownerText)
      } finally {
        await handle.close()
      }
      return holdLock(lockPath, ownerText, heartbeatMs)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    if (await takeOverIfStale(lockPath, staleMs)) continue
    options.onWait?.()
    await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : undefined)
  }
}

function holdLock(lockPath: string, ownerText: string, heartbeatMs: number): () => Promise<void> {
  const heartbeat = setInterval(() => {
    const now = new Date()
    utimes(lockPath, now, now).catch(() => undefined)
  }, heartbeatMs)
  heartbeat.unref()
  let released = false
  return async () => {
    if (released) return
    released = true
    clearInterval(heartbeat)
    // Only remove the lock if it is still ours (a waiter may have judged us stale).
    const current = await readFile(lockPath, 'utf8').catch(() => undefined)
    if (current === ownerText) await unlink(lockPath).catch(() => undefined)
  }
}

async function takeOverIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let text: string
  let mtimeMs: number
  try {
    text = await readFile(lockPath, 'utf8')
    mtimeMs = (await stat(lockPath)).mtimeMs
  } catch (error) {
    // Released between our open and our read: try again at once.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
  const owner = parseOwner(text)
  // A lock with no readable owner may be one being written right now; only age decides.
  const deadHere = owner !== undefined && owner.host === hostname() && !isProcessAlive(owner.pid)
  const silent = Date.now() - mtimeMs > staleMs
  if (!deadHere && !silent) return false
  // Narrow the race with another waiter: remove only the lock we judged.
  const again = await readFile(lockPath, 'utf8').catch(() => undefined)
  if (again !== text) return true
  await unlink(lockPath).catch(() => undefined)
  return true
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>
    return typeof value.pid === 'number' && typeof value.host === 'string' ? (value as LockOwner) : undefined
  } catch {
    return undefined
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
