import { createHash } from 'node:crypto'
import type { FinishReason } from '@visto/protocol'
import type { SamplingParams } from '../engines/engine.js'
import { chatImageLocation } from '../images/image-errors.js'
import { parseImageSource, type ImageSource } from '../images/image-source.js'
import type { ChatJobMessage, ChatJobTools } from './chat-job.js'
import type { ChoiceEvent } from './choice-events.js'

/**
 * Identical requests answered from memory: a bounded LRU of finished generations, sized
 * in bytes. Requests are keyed by a hash of their canonical form (the parsed request, so
 * JSON key order, `max_tokens` vs `max_completion_tokens`, a stop string vs a one-element
 * list make no difference), with each image replaced by the sha256 of its submitted bytes:
 * base64 whitespace or alphabet variants do not change the key, and a hit never decodes
 * an image. Only complete generations are stored; failures and cancellations never are.
 */

/** `deterministic`: only requests whose answer is reproducible (temperature 0 or an explicit seed). */
export type ResponseCacheMode = 'deterministic' | 'all' | 'off'

export interface ResponseCacheOptions {
  maxBytes: number
  mode: ResponseCacheMode
  /** The per-image limit: parsing for the key refuses the same oversized images the pipeline does. */
  maxImageBytes: number
}

/**
 * What a finished generation needs to be told again: the deltas as they came, and its
 * usage (the whole job's). An answer that is more than one choice of text (tool calls,
 * logprobs, several choices) keeps every event instead, in `events`, and no `deltas`.
 */
export interface CachedResponse {
  deltas: string[]
  finishReason: FinishReason
  promptTokens: number
  completionTokens: number
  events?: ChoiceEvent[] | undefined
}

/** How a request asked to use the cache (`Cache-Control` request directives). */
export type CacheDirective = 'use' | 'refresh' | 'skip'

/** `Cache-Control: no-cache` recomputes (and stores the fresh answer); `no-store` neither reads nor writes. */
export function cacheDirective(cacheControl: string | string[] | undefined): CacheDirective {
  const value = (Array.isArray(cacheControl) ? cacheControl.join(',') : (cacheControl ?? '')).toLowerCase()
  const directives = new Set(value.split(',').map((d) => d.trim().split('=')[0]))
  if (directives.has('no-store')) return 'skip'
  if (directives.has('no-cache')) return 'refresh'
  return 'use'
}

/** Every sampling parameter, in a fixed order, so the key's canonical form cannot depend on object layout. */
const SAMPLING_FIELDS = [
  'maxTokens',
  'temperature',
  'topP',
  'topK',
  'minP',
  'repeatPenalty',
  'presencePenalty',
  'frequencyPenalty',
  'seed',
  'stop',
  'ignoreEos',
  'jsonSchema',
  'logprobs',
] as const satisfies ReadonlyArray<keyof SamplingParams>
// A sampling parameter added to SamplingParams but not to the key stops the build here.
const everySamplingField: [Exclude<keyof SamplingParams, (typeof SAMPLING_FIELDS)[number]>] extends [never] ? true : never = true
void everySamplingField

/** JSON with object keys sorted, so user-supplied objects (a json_schema) hash the same whatever their key order. */
function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null'
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

const KEY_VERSION = 1
/** Map bookkeeping, the key string and the entry object: a fair per-entry charge on top of the text. */
const ENTRY_OVERHEAD_BYTES = 256
const DELTA_OVERHEAD_BYTES = 32

export function entryBytes(response: CachedResponse): number {
  let bytes = ENTRY_OVERHEAD_BYTES
  for (const delta of response.deltas) bytes += DELTA_OVERHEAD_BYTES + Buffer.byteLength(delta)
  for (const event of response.events ?? []) bytes += DELTA_OVERHEAD_BYTES + Buffer.byteLength(JSON.stringify(event))
  return bytes
}

/**
 * The digest of a PDF's bytes written as `data:application/pdf;base64,…`: what an inline
 * file part of the same PDF, as clients write it, is keyed by. Base64 of whole 3-byte
 * groups concatenates exactly, so the URL is hashed piece by piece, never built.
 */
function pdfDataUrlDigest(bytes: Buffer): string {
  const hash = createHash('sha256').update('data:application/pdf;base64,')
  const step = 3 * 64 * 1024
  for (let offset = 0; offset < bytes.length; offset += step) hash.update(bytes.subarray(offset, offset + step).toString('base64'))
  return hash.digest('hex')
}

export class ResponseCache {
  private readonly entries = new Map<string, { response: CachedResponse; bytes: number }>()
  private usedBytes = 0
  hits = 0
  misses = 0
  evictions = 0
  stores = 0
  /** Cacheable requests that skipped the lookup (`Cache-Control: no-cache` or `no-store`). */
  bypasses = 0

  constructor(readonly options: ResponseCacheOptions) {}

  get enabled(): boolean {
    return this.options.mode !== 'off' && this.options.maxBytes > 0
  }

  get bytes(): number {
    return this.usedBytes
  }

  get size(): number {
    return this.entries.size
  }

  /**
   * The cache key of a request, or undefined when it may not be cached: the cache is off,
   * the answer is sampled (in `deterministic` mode), an image is remote (its content can
   * change) or unparseable (the pipeline will refuse it with the proper error).
   * Bytes a job already holds (uploads) are keyed as the same bytes sent inline would be.
   */
  keyFor(model: string, request: { messages: readonly ChatJobMessage[]; tools?: ChatJobTools | undefined; n?: number | undefined }, sampling: SamplingParams): string | undefined {
    if (!this.enabled) return undefined
    if (this.options.mode === 'deterministic' && sampling.temperature !== 0 && sampling.seed === undefined) return undefined
    const messages: unknown[] = []
    for (const message of request.messages) {
      const parts: unknown[] = []
      for (const part of message.parts) {
        if (part.type === 'text') {
          parts.push(['text', part.text])
          continue
        }
        if (part.type === 'file') {
          // Inline PDFs by their data as sent; a file behind an id may change, so it is never cached.
          const digest =
            part.bytes !== undefined ? pdfDataUrlDigest(part.bytes) : part.fileData !== undefined ? createHash('sha256').update(part.fileData).digest('hex') : undefined
          if (digest === undefined) return undefined
          parts.push(['file', digest, part.pages ?? null, part.detail])
          continue
        }
        if (part.type === 'video') {
          // Inline videos by their bytes or data as sent; a remote URL or an uploaded file may change, so those are never cached.
          const inline = part.url !== undefined && !/^https?:/i.test(part.url.trim()) ? createHash('sha256').update(part.url.trim()).digest('hex') : undefined
          const digest = part.bytes !== undefined ? part.sha256 : inline
          if (digest === undefined) return undefined
          parts.push(['video', digest, part.fps ?? null, part.maxFrames ?? null, part.detail])
          continue
        }
        if (part.bytes !== undefined) {
          parts.push(['image', part.sha256, part.detail])
          continue
        }
        let source: ImageSource
        try {
          source = parseImageSource(part.url, chatImageLocation(part.where), this.options.maxImageBytes)
        } catch {
          return undefined
        }
        if (source.kind !== 'inline') return undefined
        parts.push(['image', createHash('sha256').update(source.bytes).digest('hex'), part.detail])
      }
      messages.push([message.role, parts, message.toolCalls ?? null, message.toolCallId ?? null])
    }
    const canonical = [KEY_VERSION, model, messages, SAMPLING_FIELDS.map((field) => sampling[field] ?? null), request.tools ?? null, request.n ?? 1]
    return createHash('sha256').update(canonicalJson(canonical)).digest('hex')
  }

  /** A stored answer, which becomes the most recently used; counts a hit or a miss. */
  get(key: string): CachedResponse | undefined {
    const entry = this.entries.get(key)
    if (!entry) {
      this.misses++
      return undefined
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    this.hits++
    return entry.response
  }

  /** Stores a finished answer, evicting the least recently used until it fits; an answer bigger than the whole cache is not kept. */
  set(key: string, response: CachedResponse): void {
    if (!this.enabled) return
    const bytes = entryBytes(response)
    const previous = this.entries.get(key)
    if (previous) {
      this.entries.delete(key)
      this.usedBytes -= previous.bytes
    }
    if (bytes > this.options.maxBytes) return
    while (this.usedBytes + bytes > this.options.maxBytes) {
      const oldest = this.entries.keys().next()
      if (oldest.done) break
      this.usedBytes -= this.entries.get(oldest.value)!.bytes
      this.entries.delete(oldest.value)
      this.evictions++
    }
    this.entries.set(key, { response, bytes })
    this.usedBytes += bytes
    this.stores++
  }

  has(key: string): boolean {
    return this.entries.has(key)
  }
}
