import { describe, expect, it } from 'vitest'
import { sniffImageFormat } from './sniff.js'

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))))

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
