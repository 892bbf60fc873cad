/**
 * The one Server-Sent Events parser: the server reads its engines' streams with it, the
 * SDK reads the server's, and the web page imports it as `/protocol/sse.js`. So it uses
 * only what fetch and browsers have (no `node:` imports). It follows the WHATWG rules
 * where servers disagree: `\n`, `\r\n` or `\r` line ends, a line or a UTF-8 character
 * split across network chunks, comments (`: ping`), multi-line `data:`, and a last event
 * with no blank line.
 */

export interface SseEvent {
  event: string
  data: string
  id?: string
}

async function* chunksOf(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (Symbol.asyncIterator in body) {
    yield* body as AsyncIterable<Uint8Array>
    return
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      yield value
    }
  } finally {
    // Reached early when the consumer stops iterating: tell the server we are gone.
    await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
}

export class SseLineDecoder {
  private pending = ''
  private data: string[] = []
  private event = ''
  private id: string | undefined

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    this.pending += text
    const events: SseEvent[] = []
    let start = 0
    for (let i = 0; i < this.pending.length; i++) {
      const ch = this.pending[i]
      if (ch !== '\n' && ch !== '\r') continue
      // A lone "\r" at the very end may be the first half of "\r\n": wait for more.
      if (ch === '\r' && i === this.pending.length - 1) break
      const line = this.pending.slice(start, i)
      if (ch === '\r' && this.pending[i + 1] === '\n') i++
      start = i + 1
      const event = this.line(line)
      if (event) events.push(event)
    }
    this.pending = this.pending.slice(start)
    return events
  }

  /** End of stream: a final event without its blank line is still delivered. */
  end(): SseEvent[] {
    const events: SseEvent[] = []
    if (this.pending !== '') {
      const tail = this.pending.endsWith('\r') ? this.pending.slice(0, -1) : this.pending
      this.pending = ''
      const event = this.line(tail)
      if (event) events.push(event)
    }
    const last = this.dispatch()
    if (last) events.push(last)
    return events
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.event = value
    else if (field === 'id' && !value.includes('\0')) this.id = value
    return undefined
  }

  private dispatch(): SseEvent | undefined {
    if (this.data.length === 0) {
      this.event = ''
      return undefined
    }
    const event: SseEvent = { event: this.event || 'message', data: this.data.join('\n') }
    if (this.id !== undefined) event.id = this.id
    this.data = []
    this.event = ''
    return event
  }
}

/** `onBytes` is told about every network chunk, comments and keep-alives included. */
export async function* parseSse(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>, onBytes?: () => void): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8')
  const lines = new SseLineDecoder()
  for await (const chunk of chunksOf(body)) {
    onBytes?.()
    yield* lines.push(decoder.decode(chunk, { stream: true }))
  }
  yield* lines.push(decoder.decode())
  yield* lines.end()
}

/** Just the `data` of each event, for readers that ignore event names and ids. */
export async function* readSseData(body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  for await (const event of parseSse(body)) yield event.data
}
