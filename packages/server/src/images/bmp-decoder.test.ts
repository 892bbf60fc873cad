import { describe, expect, it } from 'vitest'
import { writeBmp, type BmpWriteOptions, type Rgba } from '@visto/testkit/images/bmp-writer'
import { BmpDecodeError, decodeBmp, readBmpHeader } from './bmp-decoder.js'

/** A pattern where every pixel differs, so row order and padding mistakes show. */
const gradient = (x: number, y: number): Rgba => [(x * 37 + y * 11) & 0xff, (x * 5 + y * 53) & 0xff, (x * 91 + y * 3) & 0xff, 255]

function decode(bytes: Buffer, reduce = 1) {
  return decodeBmp(bytes, readBmpHeader(bytes), reduce)
}

function pixelAt(raster: { width: number; data: Buffer }, x: number, y: number): number[] {
  const i = (y * raster.width + x) * 3
  return [raster.data[i]!, raster.data[i + 1]!, raster.data[i + 2]!]
}

function expectPixels(options: BmpWriteOptions, expected: (x: number, y: number) => number[], tolerance = 0): void {
  const raster = decode(writeBmp(options))
  expect([raster.width, raster.height]).toEqual([options.width, options.height])
  for (let y = 0; y < options.height; y++) {
    for (let x = 0; x < options.width; x++) {
      const actual = pixelAt(raster, x, y)
      const want = expected(x, y)
      for (let c = 0; c < 3; c++) expect(Math.abs(actual[c]! - want[c]!), `pixel ${x},${y} channel ${c}`).toBeLessThanOrEqual(tolerance)
    }
  }
}

const rgbOf = (x: number, y: number): number[] => gradient(x, y).slice(0, 3)
const palette: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 255, 255],
  [200, 30, 40],
  [10, 180, 90],
  [20, 40, 220],
  [250, 200, 0],
  [90, 90, 90],
  [0, 200, 200],
]
const indexPattern =
  (colors: number) =>
  (x: number, y: number): Rgba => [(x + 2 * y) % colors, 0, 0, 0]

describe('BMP decoder', () => {
  it('reads 24-bit bottom-up rows with row padding (odd width)', () => {
    expectPixels({ width: 5, height: 3, bitsPerPixel: 24, pixel: gradient }, rgbOf)
  })

  it('reads 24-bit top-down rows (negative height)', () => {
    expectPixels({ width: 7, height: 4, bitsPerPixel: 24, pixel: gradient, topDown: true }, rgbOf)
  })

  it('treats the fourth byte of 32-bit BI_RGB as padding when every alpha byte is zero', () => {
    expectPixels({ width: 4, height: 3, bitsPerPixel: 32, pixel: gradient }, rgbOf)
  })

  it('flattens real 32-bit alpha on white', () => {
    const halfTransparentRed = (): Rgba => [255, 0, 0, 128]
    expectPixels({ width: 3, height: 2, bitsPerPixel: 32, pixel: halfTransparentRed, writeAlpha: true }, () => [255, 127, 127], 1)
  })

  it('honours the alpha mask of a V5 header', () => {
    const transparent = (x: number): Rgba => (x === 0 ? [0, 0, 0, 0] : [0, 0, 255, 255])
    expectPixels(
      { width: 2, height: 2, bitsPerPixel: 32, header: 'v5', compression: 'bitfields', masks: { red: 0xff0000, green: 0xff00, blue: 0xff, alpha: 0xff000000 }, pixel: transparent },
      (x) => (x === 0 ? [255, 255, 255] : [0, 0, 255]),
    )
  })

  it('reads 32-bit BI_BITFIELDS with masks after a 40-byte header in an unusual channel order', () => {
    const masks = { red: 0x000000ff, green: 0x0000ff00, blue: 0x00ff0000 }
    expectPixels({ width: 3, height: 3, bitsPerPixel: 32, compression: 'bitfields', masks, pixel: gradient }, rgbOf)
  })

  it('reads 32-bit BI_ALPHABITFIELDS', () => {
    const masks = { red: 0xff000000, green: 0x00ff0000, blue: 0x0000ff00, alpha: 0x000000ff }
    expectPixels({ width: 2, height: 2, bitsPerPixel: 32, compression: 'alphabitfields', masks, pixel: () => [10, 20, 30, 255] }, () => [10, 20, 30])
  })

  it('reads 16-bit 5-5-5 by default and 5-6-5 through bit fields', () => {
    const scale5 = (v: number) => Math.round((Math.round((v * 31) / 255) * 255) / 31)
    const scale6 = (v: number) => Math.round((Math.round((v * 63) / 255) * 255) / 63)
    expectPixels({ width: 5, height: 3, bitsPerPixel: 16, pixel: gradient }, (x, y) => rgbOf(x, y).map(scale5))
    expectPixels({ width: 5, height: 3, bitsPerPixel: 16, compression: 'bitfields', masks: { red: 0xf800, green: 0x07e0, blue: 0x001f }, pixel: gradient }, (x, y) => {
      const [r, g, b] = rgbOf(x, y) as [number, number, number]
      return [scale5(r), scale6(g), scale5(b)]
    })
  })

  it.each([1, 2, 4, 8] as const)('reads %i-bit palette images', (bits) => {
    const colors = Math.min(palette.length, 1 << bits)
    expectPixels({ width: 11, height: 5, bitsPerPixel: bits, palette: palette.slice(0, colors), pixel: indexPattern(colors) }, (x, y) => palette[(x + 2 * y) % colors]!)
  })

  it('reads an OS/2 core header with 3-byte palette entries', () => {
    expectPixels({ width: 6, height: 4, bitsPerPixel: 8, header: 'core', palette, pixel: indexPattern(8) }, (x, y) => palette[(x + 2 * y) % 8]!)
  })

  it('reads a V4 header 24-bit image', () => {
    expectPixels({ width: 3, height: 5, bitsPerPixel: 24, header: 'v4', pixel: gradient }, rgbOf)
  })

  it('reads RLE8 and RLE4 runs', () => {
    const runs = (x: number, y: number): Rgba => [Math.floor(x / 3 + y) % 8, 0, 0, 0]
    expectPixels({ width: 13, height: 4, bitsPerPixel: 8, compression: 'rle8', palette, pixel: runs }, (x, y) => palette[Math.floor(x / 3 + y) % 8]!)
    expectPixels({ width: 13, height: 4, bitsPerPixel: 4, compression: 'rle4', palette, pixel: runs }, (x, y) => palette[Math.floor(x / 3 + y) % 8]!)
  })

  it('reads RLE8 absolute runs and delta jumps, leaving skipped pixels at palette entry 0', () => {
    const file = writeBmp({ width: 4, height: 3, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
    const header = readBmpHeader(file)
    // Bottom row: absolute run 2,3,4 (padded to a word), then end of line.
    // Then a delta of (1 right, 1 up) and a run of two 5s on the top row, then end of bitmap.
    const rle = Buffer.from([0, 3, 2, 3, 4, 0, 0, 0, 0, 2, 1, 1, 2, 5, 0, 1])
    const bytes = Buffer.concat([file.subarray(0, header.dataOffset), rle])
    const raster = decode(bytes)
    expect(pixelAt(raster, 0, 2)).toEqual(palette[2])
    expect(pixelAt(raster, 2, 2)).toEqual(palette[4])
    expect(pixelAt(raster, 3, 2)).toEqual(palette[0])
    expect(pixelAt(raster, 0, 1)).toEqual(palette[0])
    expect(pixelAt(raster, 1, 1)).toEqual(palette[0])
    expect(pixelAt(raster, 0, 0)).toEqual(palette[0])
    expect(pixelAt(raster, 1, 0)).toEqual(palette[5])
    expect(pixelAt(raster, 2, 0)).toEqual(palette[5])
    expect(pixelAt(raster, 3, 0)).toEqual(palette[0])
  })

  it('box-averages blocks while decoding when asked to reduce', () => {
    const checker = (x: number, y: number): Rgba => ((x + y) % 2 === 0 ? [0, 0, 0, 255] : [200, 100, 50, 255])
    const raster = decode(writeBmp({ width: 8, height: 6, bitsPerPixel: 24, pixel: checker }), 2)
    expect([raster.width, raster.height]).toEqual([4, 3])
    expect(pixelAt(raster, 3, 2)).toEqual([100, 50, 25])
  })

  it('averages partial edge blocks over the pixels they really cover', () => {
    const raster = decode(writeBmp({ width: 5, height: 5, bitsPerPixel: 24, pixel: (x) => (x === 4 ? [90, 90, 90, 255] : [0, 0, 0, 255]) }), 2)
    expect([raster.width, raster.height]).toEqual([3, 3])
    expect(pixelAt(raster, 2, 2)).toEqual([90, 90, 90])
  })

  it('reports a file cut inside the pixel data as truncated', () => {
    const file = writeBmp({ width: 16, height: 16, bitsPerPixel: 24, pixel: gradient })
    expect(() => decode(file.subarray(0, file.length - 100))).toThrow(/truncated BMP/)
  })

  it('tolerates a missing pad on the last row', () => {
    const file = writeBmp({ width: 5, height: 2, bitsPerPixel: 24, pixel: gradient })
    expect(decode(file.subarray(0, file.length - 1)).width).toBe(5)
  })

  it('reports truncated RLE data', () => {
    const file = writeBmp({ width: 40, height: 30, bitsPerPixel: 8, compression: 'rle8', palette, pixel: indexPattern(8) })
    expect(() => decode(file.subarray(0, file.length - 40))).toThrow(/truncated BMP \(RLE data ends at row/)
  })

  it('refuses RLE runs and deltas that go past the row or the image as corrupt, instead of clipping them', () => {
    const file = writeBmp({ width: 4, height: 3, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
    const header = readBmpHeader(file)
    const withRle = (rle: number[]) => Buffer.concat([file.subarray(0, header.dataOffset), Buffer.from(rle)])
    const kindAndMessage = (rle: number[]) => {
      try {
        decode(withRle(rle))
      } catch (error) {
        expect(error).toBeInstanceOf(BmpDecodeError)
        return [(error as BmpDecodeError).kind, (error as Error).message]
      }
      throw new Error('expected a decode error')
    }
    // An encoded run of 5 in a 4-pixel row; one of 3 after 2 pixels; an absolute run of 5.
    expect(kindAndMessage([5, 1, 0, 1])).toEqual(['corrupt', 'corrupt BMP (RLE run past the end of row 0: to pixel 5 of 4)'])
    expect(kindAndMessage([2, 1, 3, 1, 0, 1])).toEqual(['corrupt', 'corrupt BMP (RLE run past the end of row 0: to pixel 5 of 4)'])
    expect(kindAndMessage([0, 5, 1, 2, 3, 4, 5, 0, 0, 1])).toEqual(['corrupt', 'corrupt BMP (RLE run past the end of row 0: to pixel 5 of 4)'])
    // Deltas right past the row, and up past the last row.
    expect(kindAndMessage([0, 2, 5, 0, 0, 1])).toEqual(['corrupt', 'corrupt BMP (RLE run past the end of row 0: to pixel 5 of 4)'])
    expect(kindAndMessage([0, 2, 0, 4, 0, 1])).toEqual(['corrupt', 'corrupt BMP (RLE delta past the last row: row 4 of 3)'])
    // Runs that end exactly at the row's end are fine.
    expect(decode(withRle([4, 1, 0, 0, 0, 1])).width).toBe(4)
  })

  it('bounds the work of a tiny RLE file by the pixels it declares: 255-pixel runs cannot repeat past the row', () => {
    const file = writeBmp({ width: 16, height: 16, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
    const header = readBmpHeader(file)
    // 100,000 maximal runs: before, each wrote 255 pixels into nowhere past the row's end.
    const runs = Buffer.alloc(200_000, 0xff)
    expect(() => decode(Buffer.concat([file.subarray(0, header.dataOffset), runs]))).toThrow('corrupt BMP (RLE run past the end of row 0: to pixel 255 of 16)')
  })

  it('names embedded JPEG compression as unsupported', () => {
    const file = writeBmp({ width: 2, height: 2, bitsPerPixel: 24, pixel: gradient })
    file.writeUInt32LE(4, 30)
    const error = (() => {
      try {
        readBmpHeader(file)
      } catch (caught) {
        return caught
      }
    })() as BmpDecodeError
    expect(error).toBeInstanceOf(BmpDecodeError)
    expect(error.kind).toBe('unsupported')
    expect(error.message).toBe('unsupported BMP compression BI_JPEG (embedded JPEG)')
  })

  it('reads huge header dimensions without allocating, so the caller can refuse them', () => {
    const file = writeBmp({ width: 2, height: 2, bitsPerPixel: 24, pixel: gradient })
    file.writeInt32LE(1_000_000, 18)
    file.writeInt32LE(-1_000_000, 22)
    const header = readBmpHeader(file)
    expect([header.width, header.height, header.topDown]).toEqual([1_000_000, 1_000_000, true])
    expect(() => decodeBmp(file, header)).toThrow(/truncated BMP \(pixel data needs/)
  })

  it.each([
    ['a zero width', (file: Buffer) => file.writeInt32LE(0, 18), /impossible dimensions 0x2/],
    ['an unknown header size', (file: Buffer) => file.writeUInt32LE(77, 14), /unknown header size 77/],
    ['7 bits per pixel', (file: Buffer) => file.writeUInt16LE(7, 28), /7 bits per pixel/],
    ['a pixel offset past the end', (file: Buffer) => file.writeUInt32LE(10_000, 10), /no pixel data/],
  ])('refuses %s', (_name, corrupt, message) => {
    const file = writeBmp({ width: 2, height: 2, bitsPerPixel: 24, pixel: gradient })
    corrupt(file)
    expect(() => readBmpHeader(file)).toThrow(message)
  })
})
