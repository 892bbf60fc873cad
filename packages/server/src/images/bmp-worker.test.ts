import { describe, expect, it } from 'vitest'
import { writeBmp } from '@visto/testkit/images/bmp-writer'
import { BmpDecodeError, decodeBmp, readBmpHeader } from './bmp-decoder.js'
import { decodeBmpInWorker } from './bmp-worker.js'

const palette: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
]

/** A 10,000 x 10,000 RLE8 BMP of a few dozen bytes: "end of bitmap" right away, so every row is filled with entry 0. */
function tinyHugeRle(): Buffer {
  const file = writeBmp({ width: 4, height: 4, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
  const header = readBmpHeader(file)
  const bytes = Buffer.concat([file.subarray(0, header.dataOffset), Buffer.from([0, 1])])
  bytes.writeInt32LE(10_000, 18)
  bytes.writeInt32LE(10_000, 22)
  return bytes
}

describe('decodeBmpInWorker', () => {
  it('decodes in a worker thread to the same raster as the in-thread decoder', async () => {
    const file = writeBmp({ width: 37, height: 23, bitsPerPixel: 24, pixel: (x, y) => [x * 6, y * 11, (x + y) * 3, 255] })
    for (const reduce of [1, 2]) {
      const inThread = decodeBmp(file, readBmpHeader(file), reduce)
      const inWorker = await decodeBmpInWorker(file, reduce, 30_000)
      expect([inWorker.width, inWorker.height, inWorker.channels]).toEqual([inThread.width, inThread.height, 3])
      expect(inWorker.data.equals(inThread.data)).toBe(true)
    }
  })

  it('hands back decoder errors as the same BmpDecodeError kind and message', async () => {
    const file = writeBmp({ width: 4, height: 3, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
    const header = readBmpHeader(file)
    const corrupt = Buffer.concat([file.subarray(0, header.dataOffset), Buffer.from([9, 1, 0, 1])])
    const error = await decodeBmpInWorker(corrupt, 1, 30_000).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BmpDecodeError)
    expect([(error as BmpDecodeError).kind, (error as Error).message]).toEqual(['corrupt', 'corrupt BMP (RLE run past the end of row 0: to pixel 9 of 4)'])
  })

  it('stops a decode at its time limit (a main-thread decode could not be interrupted)', async () => {
    const error = await decodeBmpInWorker(tinyHugeRle(), 1, 1).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BmpDecodeError)
    expect((error as Error).message).toBe('BMP could not be decoded (decoding took longer than 1 ms)')
  })

  it('stops when the client goes away, rejecting with the abort reason', async () => {
    const controller = new AbortController()
    const decoding = decodeBmpInWorker(tinyHugeRle(), 1, 60_000, controller.signal)
    const reason = new Error('client disconnected')
    controller.abort(reason)
    await expect(decoding).rejects.toBe(reason)
  })
})
