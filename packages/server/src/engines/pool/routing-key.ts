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
  return routingKeys(request).key
}

/**
 * The routing key, and the conversation the request belongs to: a hash of its leading
 * prefix (system messages and the first user message, its images by their bytes), which
 * every later turn repeats (undefined without a user message). The engine that answered
 * one turn holds the KV cache the next can resume from; many conversations about one
 * popular photo share its key but not this. `followUp`: the request continues one (it has
 * history), so there is a previous turn to resume.
 */
export function routingKeys(request: Pick<EngineRequest, 'messages'>): { key: string | undefined; conversation: string | undefined; followUp: boolean } {
  const prefix = createHash('sha256')
  // The text-only conversations' key hashes the same messages' text in its own (older) format.
  const textPrefix = createHash('sha256')
  let firstImage: string | undefined
  let hasUser = false
  for (const message of request.messages) {
    if (message.role === 'assistant') break
    for (const part of message.content) {
      if (part.type === 'text') {
        prefix.update(`${message.role}\u0000text\u0000${part.text}\u0000`)
        textPrefix.update(`${message.role}\u0000${part.text}\u0000`)
      } else if (part.type === 'image') {
        const digest = createHash('sha256').update(part.image.data).digest('hex')
        firstImage ??= digest
        prefix.update(`${message.role}\u0000image\u0000${digest}\u0000`)
      }
    }
    if (message.role === 'user') {
      hasUser = true
      break
    }
  }
  const conversation = hasUser ? `conversation:${prefix.digest('hex')}` : undefined
  const followUp = hasHistory(request.messages)
  if (firstImage === undefined) firstImage = laterImage(request.messages)
  if (firstImage !== undefined) return { key: `image:${firstImage}`, conversation, followUp }
  if (!followUp) return { key: undefined, conversation, followUp }
  return { key: `prefix:${textPrefix.digest('hex')}`, conversation, followUp }
}

/** The sha256 of the first image past the leading prefix (one sent in a later turn), if any. */
function laterImage(messages: readonly EngineMessage[]): string | undefined {
  for (const message of messages) {
    for (const part of message.content) {
      if (part.type === 'image') return createHash('sha256').update(part.image.data).digest('hex')
    }
  }
  return undefined
}

function hasHistory(messages: readonly EngineMessage[]): boolean {
  return messages.some((m) => m.role === 'assistant') || messages.filter((m) => m.role === 'user').length > 1
}
