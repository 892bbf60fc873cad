/**
 * One JSON file per key under a directory. Writes go to a temporary file that is then
 * renamed over the target, so a reader (or a killed writer) never sees half a file.
 */
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { ChatCompletion } from '@visto/protocol'
import type { ResultCache } from '../cache.js'

interface Entry {
  key: string
  storedAt: string
  completion: ChatCompletion
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'visto', 'results')
}

let tempCounter = 0

export class DiskCache implements ResultCache {
  private dirReady = false

  constructor(readonly dir: string) {}

  pathFor(key: string): string {
    if (!/^[0-9a-f]{16,128}$/i.test(key)) throw new TypeError(`cache keys are hex digests, got "${key}"`)
    return join(this.dir, `${key}.json`)
  }

  async get(key: string): Promise<ChatCompletion | undefined> {
    let text: string
    try {
      text = await readFile(this.pathFor(key), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
    try {
      const entry = JSON.parse(text) as Entry
      return entry.key === key && entry.completion ? entry.completion : undefined
    } catch {
      // A file we cannot parse is a miss; the next set() replaces it.
      return undefined
    }
  }

  async set(key: string, completion: ChatCompletion): Promise<void> {
    const target = this.pathFor(key)
    // Cached answers describe the user's images: private to the user, like ssh keys.
    if (!this.dirReady) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 })
      await chmod(this.dir, 0o700)
      this.dirReady = true
    }
    const temp = `${target}.${process.pid}.${++tempCounter}.tmp`
    const entry: Entry = { key, storedAt: new Date().toISOString(), completion }
    try {
      await writeFile(temp, JSON.stringify(entry), { encoding: 'utf8', mode: 0o600 })
      await rename(temp, target)
    } catch (error) {
      await unlink(temp).catch(() => {})
      throw error
    }
  }
}
