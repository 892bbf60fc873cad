/**
 * Multi-turn chat with images: keeps the history, attaches images to the next turn, and
 * only commits a turn once the server answered (a failed turn can simply be retried).
 */
import type { ChatMessage, ContentPart, ImageDetail, ImageUrlPart } from '@visto/protocol'
import { complete, type AskOptions, type AskResult } from './ask.js'
import type { VistoClient } from './client.js'
import { imagePart, type ImageInput } from './images.js'

export interface ConversationOptions extends Omit<AskOptions, 'onToken' | 'signal'> {
  system?: string
}

export interface SendOptions {
  images?: ImageInput | readonly ImageInput[]
  signal?: AbortSignal
  onToken?: (text: string) => void
}

export class Conversation {
  private history: ChatMessage[] = []
  private pending: ImageUrlPart[] = []

  constructor(
    readonly client: VistoClient,
    readonly options: ConversationOptions = {},
  ) {}

  /** A copy of the turns so far (system message included). */
  get messages(): ChatMessage[] {
    return structuredClone(this.baseMessages())
  }

  get turns(): number {
    return this.history.filter((message) => message.role === 'user').length
  }

  get pendingImages(): number {
    return this.pending.length
  }

  /** Reads and encodes images now (so a bad path fails here) and sends them with the next turn. */
  async attach(images: ImageInput | readonly ImageInput[], detail?: ImageDetail): Promise<void> {
    const list = Array.isArray(images) ? images : [images as ImageInput]
    const chosen = detail ?? this.options.detail
    const parts: ImageUrlPart[] = []
    for (const image of list) parts.push(await imagePart(image, chosen ? { detail: chosen } : {}))
    this.pending.push(...parts)
  }

  /** Forgets the history and any pending images; the system message stays. */
  reset(): void {
    this.history = []
    this.pending = []
  }

  async send(text: string, options: SendOptions = {}): Promise<AskResult> {
    if (options.images !== undefined) await this.attach(options.images)
    const content: ContentPart[] = [{ type: 'text', text }, ...this.pending]
    const user: ChatMessage = { role: 'user', content }
    const askOptions: AskOptions = { ...this.options }
    if (options.signal) askOptions.signal = options.signal
    if (options.onToken) askOptions.onToken = options.onToken
    // Conversations change every turn; caching them would only fill the cache.
    askOptions.cache = false
    const result = await complete(this.client, [...this.baseMessages(), user], askOptions)
    this.history.push(user, { role: 'assistant', content: result.text })
    this.pending = []
    return result
  }

  private baseMessages(): ChatMessage[] {
    return this.options.system ? [{ role: 'system', content: this.options.system }, ...this.history] : [...this.history]
  }
}
