import { createHash } from 'node:crypto'
import type { EngineMessage, EngineRequest } from '../engine.js'

/**
 * What a request's affinity hangs on, as the rendezvous hash reads it:
 * - its first image: the sha256 of the normalised bytes the engine receives, which is
 *   also what llama.cpp's image embedding cache keys by, so the same photo (and every
 *   later turn of a conversation about it, whose first image it stays) reaches the
 *   engine that already encoded it;
 * - a text-only conversation with history: its leading prefix (system messages and the
 *   first user message), so its turns reach the engine holding their KV cache;
 * - otherwise none: a first text-only question has nothing cached anywhere, so it goes
 *   wherever load says.
 */
export function routingKey(request: Pick<EngineRequest, 'messages'>): string | undefined {
  for (const message of request.messages) {
    for (const part of message.content) {
      if (part.type === 'image') return `image:${createHash('sha256').update(part.image.data).digest('hex')}`
    }
  }
  if (!hasHistory(request.messages)) return undefined
  const hash = createHash('sha256')
  for (const message of request.messages) {
    if (message.role === 'assistant') break
    for (const part of message.content) if (part.type === 'text') hash.update(`${message.role}\u0000${part.text}\u0000`)
    if (message.role === 'user') break
  }
  return `prefix:${hash.digest('hex')}`
}

function hasHistory(messages: readonly EngineMessage[]): boolean {
  return messages.some((m) => m.role === 'assistant') || messages.filter((m) => m.role === 'user').length > 1
}
