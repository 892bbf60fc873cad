import { describe, expect, it } from 'vitest'
import { sniffImageFormat, sniffImageMime } from './image-format.js'

const bytes = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))))

describe('sniffImageFormat', () => {
  it.each([
    ['jpeg', bytes([0xff, 0xd8, 0xff, 0xe0], 'rest')],
    ['png', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'rest')],
    ['gif', bytes('GIF89a....')],
    ['gif', bytes('GIF87a....')],
    ['webp', bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 ')],
    ['riff', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt ')],
    ['tiff', bytes([0x49, 0x49, 0x2a, 0x00], 'rest')],
    ['tiff', bytes([0x4d, 0x4d, 0x00, 0x2a], 'rest')],
    ['bmp', bytes('BM', new Array(20).fill(0))],
    ['avif', bytes([0, 0, 0, 0x1c], 'ftypavif', [0, 0, 0, 0], 'avifmif1miaf')],
    ['avif', bytes([0, 0, 0, 0x18], 'ftypmif1', [0, 0, 0, 0], 'mif1avif')],
    ['heic', bytes([0, 0, 0, 0x18], 'ftypheic', [0, 0, 0, 0], 'mif1heic')],
    ['heic', bytes([0, 0, 0, 0x18], 'ftypmif1', [0, 0, 0, 0], 'mif1heic')],
    ['mp4', bytes([0, 0, 0, 0x18], 'ftypisom', [0, 0, 0, 0], 'isomiso2')],
    ['pdf', bytes('%PDF-1.7\n')],
    ['svg', bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['svg', bytes([0xef, 0xbb, 0xbf], '<?xml version="1.0"?>\n<!-- x -->\n<svg>')],
    ['svg', bytes('  <!DOCTYPE svg PUBLIC>')],
    ['html', bytes('<!DOCTYPE html><html>')],
    ['json', bytes('{"a":1}')],
    ['text', bytes('hello world')],
    ['ico', bytes([0, 0, 1, 0, 1, 0])],
    ['psd', bytes('8BPS')],
    ['jpeg-xl', bytes([0xff, 0x0a, 1, 2])],
    ['jpeg-2000', bytes([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a])],
    ['pnm', bytes('P6\n3 2\n255\n')],
    ['zip', bytes([0x50, 0x4b, 0x03, 0x04])],
    ['unknown', bytes([0x00, 0x01, 0x02, 0xfe])],
  ])('recognises %s', (format, input) => {
    expect(sniffImageFormat(input)).toBe(format)
  })

  it('needs only the bytes: a JPEG is a JPEG whatever it is called', () => {
    expect(sniffImageFormat(bytes([0xff, 0xd8, 0xff]))).toBe('jpeg')
  })

  it('does not call two lonely bytes "BM" a bitmap', () => {
    expect(sniffImageFormat(bytes('BM'))).toBe('text')
  })
})

/** An ISO-BMFF ftyp box as written by iPhones (HEIC) and libheif. */
function ftyp(major: string, compatible: string[]): Uint8Array {
  const size = 16 + compatible.length * 4
  const bytes = new Uint8Array(size + 8)
  new DataView(bytes.buffer).setUint32(0, size)
  bytes.set(new TextEncoder().encode(`ftyp${major}\0\0\0\0${compatible.join('')}`), 4)
  return bytes
}

/** A 14-byte BMP file header followed by a DIB header of `dibSize` bytes (zeros after its size field). */
function bmpHeader(dibSize: number): Uint8Array {
  const bytes = new Uint8Array(14 + Math.max(dibSize, 4))
  bytes.set([0x42, 0x4d])
  new DataView(bytes.buffer).setUint32(14, dibSize, true)
  return bytes
}

describe('sniffImageFormat on ISO-BMFF (ftyp) files', () => {
  it.each(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs'])('calls major brand %s HEIC', (brand) => {
    expect(sniffImageFormat(ftyp(brand, ['mif1', brand]))).toBe('heic')
  })

  it.each(['mif1', 'mif2', 'msf1', 'miaf'])('reads the codec from the compatible brands under generic major brand %s', (major) => {
    expect(sniffImageFormat(ftyp(major, [major, 'heic']))).toBe('heic')
    expect(sniffImageFormat(ftyp(major, [major, 'hevs']))).toBe('heic')
    expect(sniffImageFormat(ftyp(major, [major, 'miaf', 'avif']))).toBe('avif')
    expect(sniffImageFormat(ftyp(major, [major]))).toBe('heif')
  })

  it('lets a major brand that names a codec win over the compatible brands', () => {
    expect(sniffImageFormat(ftyp('heic', ['mif1', 'avif']))).toBe('heic')
    expect(sniffImageFormat(ftyp('avis', ['msf1', 'hevc']))).toBe('avif')
  })

  it('calls other ftyp files video', () => {
    expect(sniffImageFormat(ftyp('isom', ['isom', 'mp41']))).toBe('mp4')
    expect(sniffImageFormat(ftyp('qt  ', []))).toBe('quicktime')
  })

  it('reads no brands past the end of the ftyp box', () => {
    const box = ftyp('mif1', ['mif1'])
    const boxSize = box.length - 8
    box.set(new TextEncoder().encode('heic'), boxSize)
    expect(sniffImageFormat(box)).toBe('heif')
  })
})

describe('sniffImageFormat on BMP headers', () => {
  it.each([12, 16, 40, 52, 56, 64, 108, 124])('calls "BM" with a %i-byte DIB header a bitmap', (dibSize) => {
    expect(sniffImageFormat(bmpHeader(dibSize))).toBe('bmp')
  })

  it('does not call text that starts with "BM" a bitmap', () => {
    expect(sniffImageFormat(new TextEncoder().encode('BMW 320i service history'))).toBe('text')
  })

  it('still calls binary "BM" data with an unknown DIB header size a (damaged) bitmap, so the decoder can name the fault', () => {
    expect(sniffImageFormat(bmpHeader(77))).toBe('bmp')
  })
})

describe('sniffImageMime', () => {
  it('labels every image format the server can name with its MIME type', () => {
    expect(sniffImageMime(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg')
    expect(sniffImageMime(bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe('image/png')
    expect(sniffImageMime(bytes('GIF89a....'))).toBe('image/gif')
    expect(sniffImageMime(bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '))).toBe('image/webp')
    expect(sniffImageMime(bmpHeader(40))).toBe('image/bmp')
    expect(sniffImageMime(bytes([0x4d, 0x4d, 0x00, 0x2b]))).toBe('image/tiff')
    expect(sniffImageMime(ftyp('mif1', ['mif1', 'avif']))).toBe('image/avif')
    expect(sniffImageMime(ftyp('heic', ['mif1', 'heic']))).toBe('image/heic')
    expect(sniffImageMime(ftyp('mif1', ['mif1']))).toBe('image/heif')
  })

  it('accepts an ArrayBuffer as well as bytes', () => {
    expect(sniffImageMime(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]).buffer)).toBe('image/jpeg')
  })

  it('gives no image type for video, documents, text or truncated headers', () => {
    expect(sniffImageMime(ftyp('isom', ['isom', 'mp41']))).toBeUndefined()
    expect(sniffImageMime(bytes('%PDF-1.7\n'))).toBeUndefined()
    expect(sniffImageMime(new TextEncoder().encode('BMW 320i service history'))).toBeUndefined()
    expect(sniffImageMime(new TextEncoder().encode('{"not":"an image"}'))).toBeUndefined()
    expect(sniffImageMime(new Uint8Array([0x89, 0x50, 0x4e]))).toBeUndefined()
    expect(sniffImageMime(new Uint8Array())).toBeUndefined()
  })
})
