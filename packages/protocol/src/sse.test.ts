import { describe, expect, it } from 'vitest'
import { parseSse, readSseData, type SseEvent } from './sse.js'

async function parse(pieces: Array<string | Uint8Array>): Promise<SseEvent[]> {
  const encoder = new TextEncoder()
  async function* source() {
    for (const piece of pieces) yield typeof piece === 'string' ? encoder.encode(piece) : piece
  }
  const events: SseEvent[] = []
  for await (const event of parseSse(source())) events.push(event)
  return events
}

describe('parseSse', () => {
  it('splits events on blank lines whatever the line ending', async () => {
    const events = await parse(['data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n'])
    expect(events.map((e) => e.data)).toEqual(['a', 'b', 'c', 'd'])
  })

  it('yields the same events however the bytes are cut into network chunks, even inside a UTF-8 character', async () => {
    const text = 'event: message\r\ndata: {"content":"héllo 世界"}\r\n\r\n: keep-alive\r\n\r\ndata: [DONE]\r\n\r\n'
    const bytes = new TextEncoder().encode(text)
    const whole = await parse([bytes])
    expect(whole.map((e) => e.data)).toEqual(['{"content":"héllo 世界"}', '[DONE]'])
    for (let cut = 1; cut < bytes.length; cut++) {
      const split = await parse([bytes.slice(0, cut), bytes.slice(cut)])
      expect(split, `cut at byte ${cut}`).toEqual(whole)
    }
  })

  it('ignores comments, joins multi-line data and keeps the event name and id', async () => {
    const events = await parse([': ping\n', 'event: error\nid: 7\ndata: line one\ndata:line two\n\n'])
    expect(events).toEqual([{ event: 'error', id: '7', data: 'line one\nline two' }])
  })

  it('delivers a last event that is not followed by a blank line', async () => {
    const events = await parse(['data: first\n\ndata: last'])
    expect(events.map((e) => e.data)).toEqual(['first', 'last'])
  })

  it('skips events that carry no data', async () => {
    expect(await parse(['event: ping\n\nretry: 1000\n\n'])).toEqual([])
  })
})

function streamOf(pieces: string[], onCancel?: () => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  let next = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[next++]
      if (piece === undefined) controller.close()
      else controller.enqueue(encoder.encode(piece))
    },
    cancel() {
      onCancel?.()
    },
  })
}

describe('readSseData', () => {
  it('yields the data of each event from a fetch body, whatever the event name', async () => {
    const data: string[] = []
    for await (const d of readSseData(streamOf(['data:{"a":1}\r\n\r\nevent: error\ndata: {"b"', ':2}\n\n: ping\n\ndata: [DONE]']))) data.push(d)
    expect(data).toEqual(['{"a":1}', '{"b":2}', '[DONE]'])
  })

  it('reads a stream that is not async-iterable (Safari) through its reader, cancelling it on an early stop', async () => {
    let cancelled = false
    const stream = streamOf(['data: one\n\n', 'data: two\n\n'], () => (cancelled = true))
    const readerOnly = { getReader: () => stream.getReader() } as unknown as ReadableStream<Uint8Array>
    const data: string[] = []
    for await (const d of readSseData(readerOnly)) {
      data.push(d)
      break
    }
    expect(data).toEqual(['one'])
    expect(cancelled).toBe(true)
  })

  it('cancels the body when the reader stops early, so the connection is released', async () => {
    let cancelled = false
    const body = streamOf(['data: one\n\n', 'data: two\n\n', 'data: three\n\n'], () => (cancelled = true))
    for await (const d of readSseData(body)) if (d === 'one') break
    expect(cancelled).toBe(true)
  })
})
