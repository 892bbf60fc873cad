/**
 * A small, strict BMP decoder (libvips cannot read BMP). Handles the headers seen in
 * the wild (OS/2 core, BITMAPINFOHEADER, V2-V5), 1/2/4/8-bit palettes, 16/24/32-bit
 * pixels, BI_BITFIELDS / BI_ALPHABITFIELDS masks, RLE8 and RLE4, top-down and
 * bottom-up rows. Every read is bounds-checked against the buffer; dimensions come
 * from the header first so the caller can refuse a decompression bomb before we
 * allocate anything.
 *
 * Output is RGB flattened on white (the pipeline flattens alpha anyway, and three
 * channels halve the memory), optionally box-reduced by an integer factor while
 * decoding so a 20 MP scan never exists in memory at full size.
 */

export type BmpErrorKind = 'truncated' | 'corrupt' | 'unsupported'

export interface BmpHeader {
  width: number
  height: number
  topDown: boolean
  bitsPerPixel: number
  compression: number
  dataOffset: number
  /** Palette entries as 0xRRGGBB. */
  palette: Uint32Array
  masks: { red: number; green: number; blue: number; alpha: number } | null
}

export interface DecodedRaster {
  width: number
  height: number
  channels: 3
  data: Buffer
}

/**
 * The whole decoder is one self-contained function (no imports, no outside names) so
 * that its source can run in a worker thread as it is: decoding must not block the event
 * loop, and a worker can be stopped at a time limit. normalise.ts runs it there; the
 * exports below are the same code for cheap header reads and for tests.
 */
export function createBmpDecoder() {
  class BmpDecodeError extends Error {
    constructor(
      readonly kind: BmpErrorKind,
      message: string,
    ) {
      super(message)
      this.name = 'BmpDecodeError'
    }
  }

  const BI_RGB = 0
  const BI_RLE8 = 1
  const BI_RLE4 = 2
  const BI_BITFIELDS = 3
  const BI_JPEG = 4
  const BI_PNG = 5
  const BI_ALPHABITFIELDS = 6

  const compressionNames: Record<number, string> = {
    [BI_JPEG]: 'BI_JPEG (embedded JPEG)',
    [BI_PNG]: 'BI_PNG (embedded PNG)',
    11: 'BI_CMYK',
    12: 'BI_CMYKRLE8',
    13: 'BI_CMYKRLE4',
  }

  /** BITMAPINFOHEADER (40), V2 (52), V3 (56), V4 (108), V5 (124), OS/2 2.x (16 or 64). */
  const knownHeaderSizes = new Set([16, 40, 52, 56, 64, 108, 124])

  function u16(bytes: Uint8Array, offset: number): number {
    return bytes[offset]! | (bytes[offset + 1]! << 8)
  }

  function u32(bytes: Uint8Array, offset: number): number {
    return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0
  }

  function i32(bytes: Uint8Array, offset: number): number {
    return bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)
  }

  function need(bytes: Uint8Array, end: number, what: string): void {
    if (end > bytes.length) throw new BmpDecodeError('truncated', `truncated BMP (the file ends inside the ${what})`)
  }

  /** Reads and validates the headers only: cheap, and enough to apply the pixel limit. */
  function readBmpHeader(bytes: Uint8Array): BmpHeader {
    need(bytes, 18, 'file header')
    if (bytes[0] !== 0x42 || bytes[1] !== 0x4d) throw new BmpDecodeError('corrupt', 'corrupt BMP (missing "BM" signature)')
    const dataOffset = u32(bytes, 10)
    const dibSize = u32(bytes, 14)

    let width: number
    let rawHeight: number
    let bitsPerPixel: number
    let compression = BI_RGB
    let colorsUsed = 0
    let paletteEntrySize = 4
    let masks: BmpHeader['masks'] = null
    let afterHeader = 14 + dibSize

    if (dibSize === 12) {
      need(bytes, 26, 'OS/2 header')
      width = u16(bytes, 18)
      rawHeight = u16(bytes, 20)
      bitsPerPixel = u16(bytes, 24)
      paletteEntrySize = 3
    } else if (knownHeaderSizes.has(dibSize)) {
      need(bytes, 14 + dibSize, 'BITMAPINFOHEADER')
      width = i32(bytes, 18)
      rawHeight = i32(bytes, 22)
      bitsPerPixel = u16(bytes, 28)
      if (dibSize >= 20) compression = u32(bytes, 30)
      if (dibSize >= 36) colorsUsed = u32(bytes, 46)
      const isOs2v2 = dibSize === 64 || (dibSize < 40 && dibSize !== 12)
      if (isOs2v2 && (compression === 3 || compression === 4)) {
        throw new BmpDecodeError('unsupported', `unsupported BMP compression (OS/2 ${compression === 3 ? 'Huffman 1D' : 'RLE24'})`)
      }
      if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
        let maskOffset = 54
        if (dibSize >= 52) {
          maskOffset = 54
        } else {
          // A 40-byte header keeps its masks right after it.
          afterHeader += compression === BI_ALPHABITFIELDS ? 16 : 12
          need(bytes, afterHeader, 'bit-field masks')
        }
        const hasAlphaMask = dibSize >= 56 || (dibSize < 52 && compression === BI_ALPHABITFIELDS)
        masks = {
          red: u32(bytes, maskOffset),
          green: u32(bytes, maskOffset + 4),
          blue: u32(bytes, maskOffset + 8),
          alpha: hasAlphaMask ? u32(bytes, maskOffset + 12) : 0,
        }
      } else if (compression === BI_RGB && dibSize >= 56 && bitsPerPixel === 32) {
        // V3+ headers may carry an alpha mask even for BI_RGB; honour a standard one.
        const alpha = u32(bytes, 66)
        if (alpha === 0xff000000) masks = { red: 0x00ff0000, green: 0x0000ff00, blue: 0x000000ff, alpha }
      }
    } else {
      throw new BmpDecodeError('corrupt', `corrupt BMP (unknown header size ${dibSize})`)
    }

    const name = compressionNames[compression]
    if (name !== undefined) throw new BmpDecodeError('unsupported', `unsupported BMP compression ${name}`)
    if (compression > BI_ALPHABITFIELDS) throw new BmpDecodeError('unsupported', `unsupported BMP compression (type ${compression})`)
    if (![1, 2, 4, 8, 16, 24, 32].includes(bitsPerPixel)) {
      throw new BmpDecodeError('corrupt', `corrupt BMP (${bitsPerPixel} bits per pixel)`)
    }
    if (compression === BI_RLE8 && bitsPerPixel !== 8) throw new BmpDecodeError('corrupt', 'corrupt BMP (RLE8 needs 8 bits per pixel)')
    if (compression === BI_RLE4 && bitsPerPixel !== 4) throw new BmpDecodeError('corrupt', 'corrupt BMP (RLE4 needs 4 bits per pixel)')
    if ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && bitsPerPixel !== 16 && bitsPerPixel !== 32) {
      throw new BmpDecodeError('corrupt', `corrupt BMP (bit fields with ${bitsPerPixel} bits per pixel)`)
    }
    if (bitsPerPixel === 16 && masks === null) masks = { red: 0x7c00, green: 0x03e0, blue: 0x001f, alpha: 0 }

    const topDown = rawHeight < 0
    const height = Math.abs(rawHeight)
    if (width <= 0 || height <= 0 || height > 0x7fffffff) {
      throw new BmpDecodeError('corrupt', `corrupt BMP (impossible dimensions ${width}x${rawHeight})`)
    }
    if (dataOffset >= bytes.length) throw new BmpDecodeError('truncated', 'truncated BMP (no pixel data)')
    if (dataOffset < 14 + 12) throw new BmpDecodeError('corrupt', `corrupt BMP (pixel data offset ${dataOffset} inside the header)`)

    let palette = new Uint32Array(0)
    if (bitsPerPixel <= 8) {
      const maxColors = 1 << bitsPerPixel
      let count = colorsUsed === 0 || colorsUsed > maxColors ? maxColors : colorsUsed
      // Some writers claim more entries than they store: keep what fits before the pixels.
      const room = Math.floor((Math.min(dataOffset, bytes.length) - afterHeader) / paletteEntrySize)
      count = Math.min(count, Math.max(0, room))
      if (count === 0) throw new BmpDecodeError('corrupt', 'corrupt BMP (palette image without a palette)')
      palette = new Uint32Array(maxColors)
      for (let i = 0; i < count; i++) {
        const offset = afterHeader + i * paletteEntrySize
        palette[i] = (bytes[offset + 2]! << 16) | (bytes[offset + 1]! << 8) | bytes[offset]!
      }
    }
    return { width, height, topDown, bitsPerPixel, compression, dataOffset, palette, masks }
  }

  /**
   * Writes source rows into the output, either 1:1 or box-averaged by `factor`. Rows must
   * arrive in file order (monotonic, up or down), so only one band of `factor` rows is
   * summed at a time: a reduced decode never holds more than the reduced image.
   */
  class RasterSink {
    readonly outWidth: number
    readonly outHeight: number
    private readonly out: Buffer
    private readonly row: Uint8Array
    private readonly sums: Uint32Array
    private band = -1
    private rowsInBand = 0

    constructor(
      readonly width: number,
      readonly height: number,
      readonly factor: number,
    ) {
      this.outWidth = Math.ceil(width / factor)
      this.outHeight = Math.ceil(height / factor)
      this.out = Buffer.alloc(this.outWidth * this.outHeight * 3)
      this.row = factor === 1 ? new Uint8Array(0) : new Uint8Array(width * 3)
      this.sums = new Uint32Array(factor === 1 ? 0 : this.outWidth * 3)
    }

    /** The buffer to fill with one RGB row (`width * 3` bytes). */
    rowBuffer(y: number): Uint8Array {
      if (this.factor === 1) return this.out.subarray(y * this.width * 3, (y + 1) * this.width * 3)
      return this.row
    }

    commit(y: number): void {
      if (this.factor === 1) return
      const band = Math.floor(y / this.factor)
      if (band !== this.band) {
        this.flush()
        this.band = band
      }
      const { sums, row, factor, width } = this
      // Sum each block's pixels in locals, then touch the sums once per block.
      for (let x = 0, o = 0; x < width; o += 3) {
        const end = Math.min(width, x + factor)
        let r = 0
        let g = 0
        let b = 0
        for (let i = x * 3; x < end; x++, i += 3) {
          r += row[i]!
          g += row[i + 1]!
          b += row[i + 2]!
        }
        sums[o] = sums[o]! + r
        sums[o + 1] = sums[o + 1]! + g
        sums[o + 2] = sums[o + 2]! + b
      }
      this.rowsInBand++
    }

    /** 24-bit rows straight from the file's BGR bytes into the block sums (the common big-scan case). */
    commitBgr(y: number, bytes: Uint8Array, start: number): void {
      const band = Math.floor(y / this.factor)
      if (band !== this.band) {
        this.flush()
        this.band = band
      }
      const { sums, factor, width } = this
      for (let x = 0, o = 0; x < width; o += 3) {
        const end = Math.min(width, x + factor)
        let r = 0
        let g = 0
        let b = 0
        for (let s = start + x * 3; x < end; x++, s += 3) {
          b += bytes[s]!
          g += bytes[s + 1]!
          r += bytes[s + 2]!
        }
        sums[o] = sums[o]! + r
        sums[o + 1] = sums[o + 1]! + g
        sums[o + 2] = sums[o + 2]! + b
      }
      this.rowsInBand++
    }

    private flush(): void {
      if (this.band < 0 || this.rowsInBand === 0) return
      const { sums, out, factor } = this
      const base = this.band * this.outWidth * 3
      for (let ox = 0; ox < this.outWidth; ox++) {
        const count = this.rowsInBand * Math.min(factor, this.width - ox * factor)
        const o = ox * 3
        out[base + o] = Math.round(sums[o]! / count)
        out[base + o + 1] = Math.round(sums[o + 1]! / count)
        out[base + o + 2] = Math.round(sums[o + 2]! / count)
      }
      sums.fill(0)
      this.rowsInBand = 0
    }

    finish(): DecodedRaster {
      if (this.factor !== 1) this.flush()
      return { width: this.outWidth, height: this.outHeight, channels: 3, data: this.out }
    }
  }

  /** Extracts one channel described by a bit mask and scales it to 0..255. */
  class MaskChannel {
    private readonly shift: number
    private readonly max: number

    constructor(readonly mask: number) {
      let shift = 0
      if (mask !== 0) while (((mask >>> shift) & 1) === 0) shift++
      this.shift = shift
      this.max = mask === 0 ? 0 : mask >>> shift
    }

    read(pixel: number): number {
      if (this.max === 0) return 0
      return Math.round((((pixel & this.mask) >>> this.shift) * 255) / this.max)
    }
  }

  function blendOnWhite(row: Uint8Array, i: number, r: number, g: number, b: number, a: number): void {
    if (a === 255) {
      row[i] = r
      row[i + 1] = g
      row[i + 2] = b
    } else {
      const inverse = 255 - a
      row[i] = Math.round((r * a + 255 * inverse) / 255)
      row[i + 1] = Math.round((g * a + 255 * inverse) / 255)
      row[i + 2] = Math.round((b * a + 255 * inverse) / 255)
    }
  }

  /**
   * Decodes pixels. `reduceFactor` > 1 box-averages blocks of that many pixels per side
   * while decoding (shrink-on-load for BMP).
   */
  function decodeBmp(bytes: Uint8Array, header: BmpHeader, reduceFactor = 1): DecodedRaster {
    const factor = Math.max(1, Math.floor(reduceFactor))
    const { width, height, bitsPerPixel, compression } = header
    if (compression === BI_RLE8 || compression === BI_RLE4) {
      const sink = new RasterSink(width, height, factor)
      decodeRle(bytes, header, sink)
      return sink.finish()
    }

    const stride = Math.floor((bitsPerPixel * width + 31) / 32) * 4
    const lastRowBytes = Math.ceil((bitsPerPixel * width) / 8)
    // The final row's padding is often missing; everything else must be there.
    const needed = header.dataOffset + stride * (height - 1) + lastRowBytes
    if (needed > bytes.length || !Number.isSafeInteger(needed)) {
      throw new BmpDecodeError('truncated', `truncated BMP (pixel data needs ${needed} bytes, the file has ${bytes.length})`)
    }

    const useAlpha = bitsPerPixel === 32 && alphaIsMeaningful(bytes, header, stride)
    const sink = new RasterSink(width, height, factor)
    const masks = header.masks
    const red = new MaskChannel(masks?.red ?? 0)
    const green = new MaskChannel(masks?.green ?? 0)
    const blue = new MaskChannel(masks?.blue ?? 0)
    const alpha = new MaskChannel(masks?.alpha ?? 0)
    const palette = header.palette

    for (let r = 0; r < height; r++) {
      const y = header.topDown ? r : height - 1 - r
      const src = header.dataOffset + r * stride
      if (bitsPerPixel === 24 && factor > 1) {
        sink.commitBgr(y, bytes, src)
        continue
      }
      const row = sink.rowBuffer(y)
      if (bitsPerPixel === 24) {
        for (let x = 0, s = src, i = 0; x < width; x++, s += 3, i += 3) {
          row[i] = bytes[s + 2]!
          row[i + 1] = bytes[s + 1]!
          row[i + 2] = bytes[s]!
        }
      } else if (bitsPerPixel === 32 && masks === null) {
        for (let x = 0, s = src, i = 0; x < width; x++, s += 4, i += 3) {
          blendOnWhite(row, i, bytes[s + 2]!, bytes[s + 1]!, bytes[s]!, useAlpha ? bytes[s + 3]! : 255)
        }
      } else if (bitsPerPixel === 32 || bitsPerPixel === 16) {
        const step = bitsPerPixel / 8
        for (let x = 0, s = src, i = 0; x < width; x++, s += step, i += 3) {
          const pixel = step === 4 ? u32(bytes, s) : u16(bytes, s)
          blendOnWhite(row, i, red.read(pixel), green.read(pixel), blue.read(pixel), useAlpha ? alpha.read(pixel) : 255)
        }
      } else {
        const perByte = 8 / bitsPerPixel
        const valueMask = (1 << bitsPerPixel) - 1
        for (let x = 0, i = 0; x < width; x++, i += 3) {
          const byte = bytes[src + Math.floor(x / perByte)]!
          const shift = 8 - bitsPerPixel * ((x % perByte) + 1)
          const color = palette[(byte >> shift) & valueMask]!
          row[i] = color >>> 16
          row[i + 1] = (color >>> 8) & 0xff
          row[i + 2] = color & 0xff
        }
      }
      sink.commit(y)
    }
    return sink.finish()
  }

  /**
   * 32-bit BI_RGB files usually leave the fourth byte at zero ("unused"); treating that as
   * alpha would make them invisible. Alpha counts only when a mask says so and some pixel
   * is not fully transparent (the rule browsers use).
   */
  function alphaIsMeaningful(bytes: Uint8Array, header: BmpHeader, stride: number): boolean {
    const masks = header.masks
    const alphaMask = masks === null ? 0xff000000 : masks.alpha
    if (alphaMask === 0) return false
    for (let r = 0; r < header.height; r++) {
      const src = header.dataOffset + r * stride
      for (let x = 0, s = src; x < header.width; x++, s += 4) {
        if ((u32(bytes, s) & alphaMask) !== 0) return true
      }
    }
    return false
  }

  /** RLE8/RLE4: runs, absolute runs, end-of-line, delta and end-of-bitmap escapes. */
  function decodeRle(bytes: Uint8Array, header: BmpHeader, sink: RasterSink): void {
    const { width, height, palette } = header
    const isRle4 = header.compression === BI_RLE4
    const indices = new Uint8Array(width)
    let pos = header.dataOffset
    let x = 0
    let r = 0 // rows in file order (bottom-up unless topDown)
    const emitRow = (): void => {
      const y = header.topDown ? r : height - 1 - r
      const row = sink.rowBuffer(y)
      for (let i = 0, o = 0; i < width; i++, o += 3) {
        const color = palette[indices[i]!]!
        row[o] = color >>> 16
        row[o + 1] = (color >>> 8) & 0xff
        row[o + 2] = color & 0xff
      }
      sink.commit(y)
      indices.fill(0)
      r++
    }
    const put = (index: number): void => {
      indices[x++] = index
    }
    // Runs and deltas beyond the row or the image are corrupt, not clipped: clipping would let
    // a few bytes of RLE spin through writes that land nowhere.
    const withinRow = (pixels: number): void => {
      if (x + pixels > width) {
        throw new BmpDecodeError('corrupt', `corrupt BMP (RLE run past the end of row ${r}: to pixel ${x + pixels} of ${width})`)
      }
    }
    const truncated = (): never => {
      throw new BmpDecodeError('truncated', `truncated BMP (RLE data ends at row ${r} of ${height})`)
    }

    while (r < height) {
      if (pos + 2 > bytes.length) {
        truncated()
      }
      const count = bytes[pos]!
      const value = bytes[pos + 1]!
      pos += 2
      if (count > 0) {
        withinRow(count)
        for (let i = 0; i < count; i++) put(isRle4 ? (i % 2 === 0 ? value >> 4 : value & 0x0f) : value)
        continue
      }
      if (value === 0) {
        emitRow()
        x = 0
      } else if (value === 1) {
        while (r < height) emitRow()
      } else if (value === 2) {
        if (pos + 2 > bytes.length) truncated()
        const dx = bytes[pos]!
        const dy = bytes[pos + 1]!
        pos += 2
        withinRow(dx)
        if (r + dy > height) throw new BmpDecodeError('corrupt', `corrupt BMP (RLE delta past the last row: row ${r + dy} of ${height})`)
        for (let i = 0; i < dy; i++) emitRow()
        x += dx
      } else {
        const dataBytes = isRle4 ? Math.ceil(value / 2) : value
        if (pos + dataBytes > bytes.length) truncated()
        withinRow(value)
        for (let i = 0; i < value; i++) {
          if (isRle4) {
            const byte = bytes[pos + (i >> 1)]!
            put(i % 2 === 0 ? byte >> 4 : byte & 0x0f)
          } else {
            put(bytes[pos + i]!)
          }
        }
        pos += dataBytes + (dataBytes % 2)
      }
    }
  }
  return { BmpDecodeError, readBmpHeader, decodeBmp }
}

const decoder = createBmpDecoder()
export const BmpDecodeError = decoder.BmpDecodeError
export type BmpDecodeError = InstanceType<typeof BmpDecodeError>
export const readBmpHeader = decoder.readBmpHeader
export const decodeBmp = decoder.decodeBmp
