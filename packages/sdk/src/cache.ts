/**
 * Result caches. The client consults one (when given) before every non-streaming request,
 * so the same image and question are not paid for twice. Browsers get `MemoryCache`;
 * Node can also use `DiskCache` from `@visto/sdk/node`.
 */
import type { ChatCompletion } from '@visto/protocol'
import { isNode, loadNodeHelpers } from './runtime.js'

export interface ResultCache {
  get(key: string): Promise<ChatCompletion | undefined>
  set(key: string, completion: ChatCompletion): Promise<void>
}

/** In-memory, least-recently-used eviction once `maxEntries` is reached. */
export class MemoryCache implements ResultCache {
  private readonly entries = new Map<string, ChatCompletion>()

  constructor(private readonly maxEntries = 1000) {}

  get size(): number {
    return this.entries.size
  }

  async get(key: string): Promise<ChatCompletion | undefined> {
    const value = this.entries.get(key)
    if (value === undefined) return undefined
    this.entries.delete(key)
    this.entries.set(key, value)
    return structuredClone(value)
  }

  async set(key: string, completion: ChatCompletion): Promise<void> {
    this.entries.delete(key)
    this.entries.set(key, structuredClone(completion))
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }
}

/**
 * `true` → the platform default (a disk cache under ~/.cache/visto/results in Node,
 * memory in browsers); a string → a disk cache in that directory (Node only); a
 * `ResultCache` → itself; false/undefined → no cache.
 */
export type CacheOption = boolean | string | ResultCache | undefined

export async function resolveCache(option: CacheOption): Promise<ResultCache | undefined> {
  if (option === undefined || option === false) return undefined
  if (typeof option === 'object') return option
  if (option === true) {
    if (!isNode()) return new MemoryCache()
    const node = await loadNodeHelpers('A disk cache')
    return new node.DiskCache(node.defaultCacheDir())
  }
  const node = await loadNodeHelpers('A disk cache')
  return new node.DiskCache(option)
}
