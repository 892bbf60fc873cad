import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { createClient } from './index.js'
import { chunk, ok, sse, startScriptedServer, type ScriptedServer } from '../../../test-support/scripted-server.js'

const answer = '```json\n[{"bbox_2d": [100, 250, 500, 750], "label": "cat"}, {"point_2d": [500, 500], "label": "nose"}]\n```'

/** Stored 800×400 with EXIF orientation 6: shown (and seen by the model) 400 wide, 800 tall. */
const rotatedJpeg = () => fixtures.jpeg(800, 400, { orientation: 6 })

const onRotated = [
  { label: 'cat', kind: 'box', box: { x1: 40, y1: 200, x2: 200, y2: 600 }, span: expect.any(Object) },
  { label: 'nose', kind: 'point', point: { x: 200, y: 400 }, span: expect.any(Object) },
]

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

describe('ask() detections', () => {
  it('maps the answer’s boxes and points onto the upright, original-size image given as bytes', async () => {
    server.script(ok(answer))
    const result = await createClient({ baseURL: server.url }).ask(await rotatedJpeg(), 'Locate the cat.')
    expect(result.text).toBe(answer)
    expect(result.detections).toEqual(onRotated)
  })

  it('does the same for an image given by path, and as a data URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visto-sdk-detect-'))
    try {
      const path = join(dir, 'photo.jpg')
      const bytes = await rotatedJpeg()
      await writeFile(path, bytes)
      server.script(ok(answer), ok(answer))
      const client = createClient({ baseURL: server.url })
      expect((await client.ask(path, 'Locate the cat.')).detections).toEqual(onRotated)
      expect((await client.ask(fixtures.dataUrl(bytes), 'Locate the cat.')).detections).toEqual(onRotated)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('finds the size past metadata blocks bigger than the header it reads first', async () => {
    const bytes = await rotatedJpeg()
    // Two 60 KB APP15 segments after the start marker push the frame header past 120 KB.
    const segment = Buffer.alloc(60_004)
    segment.writeUInt16BE(0xffef, 0)
    segment.writeUInt16BE(60_002, 2)
    const padded = Buffer.concat([bytes.subarray(0, 2), segment, segment, bytes.subarray(2)])
    server.script(ok(answer))
    expect((await createClient({ baseURL: server.url }).ask(padded, 'Locate the cat.')).detections).toEqual(onRotated)
  })

  it('carries detections when the answer is streamed too', async () => {
    server.script(sse([chunk('```json\n[{"bbox_2d": [100, 250, '), chunk('500, 750], "label": "cat"}]\n```'), chunk(undefined, 'stop')]))
    const pieces: string[] = []
    const result = await createClient({ baseURL: server.url }).ask(await rotatedJpeg(), 'Locate the cat.', { onToken: (text) => pieces.push(text) })
    expect(pieces.length).toBe(2)
    expect(result.detections).toEqual([onRotated[0]])
  })

  it('has no detections field when the answer holds none', async () => {
    server.script(ok('A cat on a sofa.'), ok('{"objects": ["cat"]}'))
    const client = createClient({ baseURL: server.url })
    for (let i = 0; i < 2; i++) expect('detections' in (await client.ask(await rotatedJpeg(), 'What is this?'))).toBe(false)
  })

  it('has none for several images (the answer could mean any of them), a remote URL or no image', async () => {
    server.fallback = ok(answer)
    const client = createClient({ baseURL: server.url })
    const image = await rotatedJpeg()
    expect((await client.ask([image, image], 'Locate the cat.')).detections).toBeUndefined()
    expect((await client.ask('https://example.com/cat.jpg', 'Locate the cat.')).detections).toBeUndefined()
    expect((await client.ask(undefined, 'Locate the cat.')).detections).toBeUndefined()
    expect(server.requests).toHaveLength(3)
  })

  it('gives each batch item the detections for its own image', async () => {
    server.fallback = ok('{"bbox_2d": [0, 0, 500, 500], "label": "quarter"}')
    const results = await createClient({ baseURL: server.url }).batch([
      { images: await fixtures.jpeg(800, 400, { orientation: 6 }), question: 'Locate it.', id: 'rotated' },
      { images: await fixtures.png(300, 100), question: 'Locate it.', id: 'wide' },
    ])
    const boxes = results.map((r) => (r.ok ? r.value.detections?.map((d) => (d.kind === 'box' ? d.box : undefined)) : r.error))
    expect(boxes).toEqual([[{ x1: 0, y1: 0, x2: 200, y2: 400 }], [{ x1: 0, y1: 0, x2: 150, y2: 50 }]])
  })
})
