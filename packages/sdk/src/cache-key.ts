/**
 * The cache key: sha256 over the model, the normalised messages (image bytes included,
 * their MIME label not) and the sampling parameters. Two requests that would make the
 * server do the same work get the same key, however they were spelled.
 */
import type { ChatCompletionRequest, ContentPart } from '@visto/protocol'
import { sha256Hex } from './sha256.js'

/** Fields that change the answer. `stream`, `user` and `stream_options` do not. */
const SAMPLING_FIELDS = ['temperature', 'top_p', 'top_k', 'min_p', 'repeat_penalty', 'presence_penalty', 'frequency_penalty', 'seed', 'stop', 'n', 'response_format'] as const

type NormalisedPart =
  | { type: 'text'; text: string }
  | { type: 'image'; url: string; detail: string }
  | { type: 'file'; data?: string; filename?: string; file_id?: string; pages?: string; detail?: string }
  | { type: 'video'; url?: string; file_id?: string; fps?: number; max_frames?: number; detail: string }

function normaliseUrl(url: string): string {
  const comma = url.indexOf(',')
  // The bytes decide what the image is, so a relabelled data URL is the same image.
  if (/^data:/i.test(url) && comma > 0 && /;base64$/i.test(url.slice(0, comma))) {
    return `data:;base64,${url.slice(comma + 1).replace(/\s+/g, '')}`
  }
  return url
}

function normalisePart(part: ContentPart): NormalisedPart {
  if (part.type === 'text') return { type: 'text', text: part.text }
  if (part.type === 'file') {
    const { file_data: data, ...rest } = part.file
    return { type: 'file', ...rest, ...(data === undefined ? {} : { data: normaliseUrl(data) }) }
  }
  if (part.type === 'video_url') {
    const { url, ...rest } = typeof part.video_url === 'string' ? { url: part.video_url } : part.video_url
    return { type: 'video', ...rest, ...(url === undefined ? {} : { url: normaliseUrl(url) }), detail: rest.detail ?? 'auto' }
  }
  const image = typeof part.image_url === 'string' ? { url: part.image_url } : part.image_url
  return { type: 'image', url: normaliseUrl(image.url), detail: image.detail ?? 'auto' }
}

function normaliseContent(content: ChatCompletionRequest['messages'][number]['content']): NormalisedPart[] {
  if (content === null) return []
  if (typeof content === 'string') return [{ type: 'text', text: content }]
  return content.map(normalisePart)
}

/** JSON with sorted keys and no undefined/null noise, so key order never changes the hash. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((item) => stableStringify(item === undefined ? null : item)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && v !== null)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`
}

/** What the key is computed over; exported so tests and tools can inspect it. */
export function normaliseForCache(request: ChatCompletionRequest): unknown {
  const sampling: Record<string, unknown> = {}
  for (const field of SAMPLING_FIELDS) {
    const value = request[field]
    if (value !== undefined && value !== null) sampling[field] = value
  }
  const maxTokens = request.max_completion_tokens ?? request.max_tokens
  if (maxTokens !== undefined && maxTokens !== null) sampling.max_tokens = maxTokens
  return {
    v: 1,
    model: request.model,
    messages: request.messages.map((message) => ({
      role: message.role,
      name: message.name,
      content: normaliseContent(message.content),
    })),
    sampling,
  }
}

export async function cacheKey(request: ChatCompletionRequest): Promise<string> {
  return sha256Hex(new TextEncoder().encode(stableStringify(normaliseForCache(request))))
}
