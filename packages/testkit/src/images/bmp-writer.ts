/**
 * Writes BMP files in the variants our decoder must read, so tests generate their
 * fixtures instead of committing binaries. Not a general encoder: just enough forms.
 */
export type Rgba = [number, number, number, number]

export interface BmpWriteOptions {
  width: number
  height: number
  bitsPerPixel: 1 | 2 | 4 | 8 | 16 | 24 | 32
  /** For 1/2/4/8 bpp: colours as [r, g, b]; the pixel function returns an index. */
  palette?: Array<[number, number, number]>
  /** RGBA for direct-colour images, [index, 0, 0, 0] for palette images. */
  pixel: (x: number, y: number) => Rgba
  topDown?: boolean
  header?: 'core' | 'info' | 'v4' | 'v5'
  compression?: 'rgb' | 'bitfields' | 'alphabitfields' | 'rle8' | 'rle4'
  masks?: { red: number; green: number; blue: number; alpha?: number }
  /** For 32-bit BI_RGB: write the alpha byte (else 0, as most writers do). */
  writeAlpha?: boolean
}

const headerSizes = { core: 12, info: 40, v4: 108, v5: 124 } as const
const compressionCodes = { rgb: 0, rle8: 1, rle4: 2, bitfields: 3, alphabitfields: 6 } as const

function packMask(value: number, mask: number): number {
  if (mask === 0) return 0
  let shift = 0
  while (((mask >>> shift) & 1) === 0) shift++
  const max = mask >>> shift
  return ((Math.round((value * max) / 255) << shift) & mask) >>> 0
}

function encodeRows(options: BmpWriteOptions): Buffer {
  const { width, height, bitsPerPixel } = options
  const compression = options.compression ?? 'rgb'
  const rowOrder = (r: number): number => (options.topDown ? r : height - 1 - r)
  if (compression === 'rle8' || compression === 'rle4') {
    const out: number[] = []
    for (let r = 0; r < height; r++) {
      const y = rowOrder(r)
      let x = 0
      while (x < width) {
        const index = options.pixel(x, y)[0]
        if (compression === 'rle8') {
          let run = 1
          while (x + run < width && run < 255 && options.pixel(x + run, y)[0] === index) run++
          out.push(run, index)
          x += run
        } else {
          const next = x + 1 < width ? options.pixel(x + 1, y)[0] : index
          let run = 1
          // RLE4 runs alternate two indices; we only emit pairs or singles of one value.
          while (x + run < width && run < 255 && options.pixel(x + run, y)[0] === (run % 2 === 0 ? index : next)) run++
          out.push(run, (index << 4) | next)
          x += run
        }
      }
      out.push(0, 0)
    }
    out.push(0, 1)
    return Buffer.from(out)
  }
  const stride = Math.floor((bitsPerPixel * width + 31) / 32) * 4
  const data = Buffer.alloc(stride * height)
  const masks = options.masks ?? (bitsPerPixel === 16 ? { red: 0x7c00, green: 0x03e0, blue: 0x001f } : { red: 0xff0000, green: 0xff00, blue: 0xff, alpha: 0xff000000 })
  for (let r = 0; r < height; r++) {
    const y = rowOrder(r)
    const row = r * stride
    for (let x = 0; x < width; x++) {
      const [red, green, blue, alpha] = options.pixel(x, y)
      if (bitsPerPixel === 24) {
        data[row + x * 3] = blue
        data[row + x * 3 + 1] = green
        data[row + x * 3 + 2] = red
      } else if (bitsPerPixel === 32 && compression === 'rgb') {
        data[row + x * 4] = blue
        data[row + x * 4 + 1] = green
        data[row + x * 4 + 2] = red
        data[row + x * 4 + 3] = options.writeAlpha ? alpha : 0
      } else if (bitsPerPixel === 32 || bitsPerPixel === 16) {
        const value = (packMask(red, masks.red) | packMask(green, masks.green) | packMask(blue, masks.blue) | packMask(alpha, masks.alpha ?? 0)) >>> 0
        if (bitsPerPixel === 32) data.writeUInt32LE(value, row + x * 4)
        else data.writeUInt16LE(value & 0xffff, row + x * 2)
      } else {
        const perByte = 8 / bitsPerPixel
        const shift = 8 - bitsPerPixel * ((x % perByte) + 1)
        data[row + Math.floor(x / perByte)]! |= red << shift
      }
    }
  }
  return data
}

export function writeBmp(options: BmpWriteOptions): Buffer {
  const header = options.header ?? 'info'
  const dibSize = headerSizes[header]
  const compression = options.compression ?? 'rgb'
  const extraMasks = header === 'info' && compression === 'bitfields' ? 12 : header === 'info' && compression === 'alphabitfields' ? 16 : 0
  const paletteEntrySize = header === 'core' ? 3 : 4
  const palette = options.bitsPerPixel <= 8 ? (options.palette ?? []) : []
  const pixels = encodeRows(options)
  const dataOffset = 14 + dibSize + extraMasks + palette.length * paletteEntrySize
  const file = Buffer.alloc(dataOffset + pixels.length)
  file.write('BM', 0, 'latin1')
  file.writeUInt32LE(file.length, 2)
  file.writeUInt32LE(dataOffset, 10)
  file.writeUInt32LE(dibSize, 14)
  const masks = options.masks ?? { red: 0xff0000, green: 0xff00, blue: 0xff, alpha: 0xff000000 }
  if (header === 'core') {
    file.writeUInt16LE(options.width, 18)
    file.writeUInt16LE(options.height, 20)
    file.writeUInt16LE(1, 22)
    file.writeUInt16LE(options.bitsPerPixel, 24)
  } else {
    file.writeInt32LE(options.width, 18)
    file.writeInt32LE(options.topDown ? -options.height : options.height, 22)
    file.writeUInt16LE(1, 26)
    file.writeUInt16LE(options.bitsPerPixel, 28)
    file.writeUInt32LE(compressionCodes[compression], 30)
    file.writeUInt32LE(pixels.length, 34)
    file.writeUInt32LE(palette.length, 46)
    if (dibSize >= 52 || extraMasks > 0) {
      file.writeUInt32LE(masks.red >>> 0, 54)
      file.writeUInt32LE(masks.green >>> 0, 58)
      file.writeUInt32LE(masks.blue >>> 0, 62)
      if (dibSize >= 56 || extraMasks === 16) file.writeUInt32LE((masks.alpha ?? 0) >>> 0, 66)
    }
  }
  let offset = 14 + dibSize + extraMasks
  for (const [red, green, blue] of palette) {
    file[offset] = blue
    file[offset + 1] = green
    file[offset + 2] = red
    offset += paletteEntrySize
  }
  pixels.copy(file, dataOffset)
  return file
}
