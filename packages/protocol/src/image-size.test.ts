import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { displayedImageSize } from './image-size.js'

/** A 40×20 image (wider than tall) in `format`, with an EXIF orientation when given. */
async function encoded(format: 'png' | 'webp' | 'tiff' | 'gif', orientation?: number): Promise<Buffer> {
  const image = sharp(await fixtures.png(40, 20))[format]()
  return orientation ? image.withMetadata({ orientation }).toBuffer() : image.toBuffer()
}

describe('displayedImageSize', () => {
  it('reads a JPEG frame header: width and height as stored, orientation 1 when there is no EXIF', async () => {
    expect(displayedImageSize(await fixtures.jpeg(400, 200))).toEqual({ width: 400, height: 200, orientation: 1, stored: { width: 400, height: 200 } })
  })

  it.each([
    [1, 400, 200],
    [3, 400, 200],
    [6, 200, 400],
    [8, 200, 400],
  ])('a JPEG with EXIF orientation %i is shown %i×%i (5–8 turn it a quarter), as sharp sees it', async (orientation, width, height) => {
    const bytes = await fixtures.jpeg(400, 200, { orientation })
    const size = displayedImageSize(bytes)
    expect(size).toEqual({ width, height, orientation, stored: { width: 400, height: 200 } })
    const meta = await sharp(bytes).metadata()
    expect([meta.autoOrient.width, meta.autoOrient.height]).toEqual([width, height])
  })

  it('takes the orientation from an EXIF block that comes before other APP segments and a big ICC profile', async () => {
    const bytes = await sharp(await fixtures.png(64, 32))
      .jpeg()
      .withMetadata({ orientation: 6, icc: 'p3' })
      .toBuffer()
    expect(displayedImageSize(bytes)).toMatchObject({ width: 32, height: 64, orientation: 6 })
  })

  it.each(['png', 'webp', 'tiff'] as const)('reads %s, and its EXIF orientation as Visto’s server applies it', async (format) => {
    expect(displayedImageSize(await encoded(format))).toEqual({ width: 40, height: 20, orientation: 1, stored: { width: 40, height: 20 } })
    const turned = await encoded(format, 6)
    expect(displayedImageSize(turned)).toEqual({ width: 20, height: 40, orientation: 6, stored: { width: 40, height: 20 } })
    const meta = await sharp(turned).metadata()
    expect([meta.autoOrient.width, meta.autoOrient.height]).toEqual([20, 40])
  })

  it('reads lossless WebP (VP8L) and GIF', async () => {
    const lossless = await sharp(await fixtures.png(37, 23))
      .webp({ lossless: true })
      .toBuffer()
    expect(displayedImageSize(lossless)).toMatchObject({ width: 37, height: 23 })
    expect(displayedImageSize(await encoded('gif'))).toMatchObject({ width: 40, height: 20, orientation: 1 })
  })

  it('reads BMP, bottom-up and top-down', () => {
    expect(displayedImageSize(fixtures.bmp24(30, 10))).toMatchObject({ width: 30, height: 10 })
    expect(displayedImageSize(fixtures.bmp24(30, 10, true))).toMatchObject({ width: 30, height: 10 })
  })

  it('needs only the header: the first KiB of a JPEG is enough', async () => {
    const bytes = await fixtures.jpeg(400, 200, { orientation: 8 })
    expect(displayedImageSize(bytes.subarray(0, 1024))).toMatchObject({ width: 200, height: 400, orientation: 8 })
  })

  it('is undefined for formats it does not read and for junk, truncated or empty input, without throwing', async () => {
    const jpeg = await fixtures.jpeg(400, 200)
    for (const input of [
      new Uint8Array(0),
      new TextEncoder().encode('not an image at all'),
      new Uint8Array([0xff, 0xd8, 0xff]),
      jpeg.subarray(0, 20),
      await fixtures.avif(16, 16),
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
    ]) {
      expect(displayedImageSize(input)).toBeUndefined()
    }
  })

  it('ignores an EXIF orientation outside 1–8 and EXIF offsets that point outside the segment', async () => {
    const bytes = Buffer.from(await fixtures.jpeg(40, 20, { orientation: 6 }))
    const exif = bytes.indexOf('Exif\0\0', 0, 'latin1')
    const tiff = exif + 6
    const little = bytes[tiff] === 0x49
    const ifd = tiff + (little ? bytes.readUInt32LE(tiff + 4) : bytes.readUInt32BE(tiff + 4))
    const count = little ? bytes.readUInt16LE(ifd) : bytes.readUInt16BE(ifd)
    let entry = -1
    for (let i = 0; i < count; i++) {
      const at = ifd + 2 + i * 12
      if ((little ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at)) === 0x0112) entry = at
    }
    expect(entry).toBeGreaterThan(0)
    const bad = Buffer.from(bytes)
    if (little) bad.writeUInt16LE(9, entry + 8)
    else bad.writeUInt16BE(9, entry + 8)
    expect(displayedImageSize(bad)).toMatchObject({ width: 40, height: 20, orientation: 1 })
    const pointingAway = Buffer.from(bytes)
    if (little) pointingAway.writeUInt32LE(0xfffffff0, tiff + 4)
    else pointingAway.writeUInt32BE(0xfffffff0, tiff + 4)
    expect(displayedImageSize(pointingAway)).toMatchObject({ width: 40, height: 20, orientation: 1 })
  })
})
