import sharp from 'sharp'
import { writeBmp } from './bmp-writer.js'

/**
 * Small images made at test time (nothing binary is committed). Each has content that
 * lets a test see what happened to it: halves of different colours, alpha, frames.
 */
export interface Colour {
  r: number
  g: number
  b: number
}

export const red: Colour = { r: 220, g: 20, b: 30 }
export const blue: Colour = { r: 20, g: 40, b: 220 }
export const green: Colour = { r: 20, g: 200, b: 40 }

function solid(width: number, height: number, colour: Colour) {
  return sharp({ create: { width, height, channels: 3, background: colour } })
}

/** Left half `left`, right half `right`: orientation and cropping mistakes show. */
export async function twoHalves(width: number, height: number, left: Colour, right: Colour): Promise<Buffer> {
  const half = await solid(Math.ceil(width / 2), height, right)
    .png()
    .toBuffer()
  return solid(width, height, left)
    .composite([{ input: half, left: Math.floor(width / 2), top: 0 }])
    .png()
    .toBuffer()
}

/**
 * A smooth, photo-like field with some grain, raw RGB: encoders (JPEG, the vision
 * encoder) do real work on it, and the same seed gives the same bytes.
 */
export function photoRaw(width: number, height: number, seed: number): Buffer {
  const data = Buffer.alloc(width * height * 3)
  let state = seed
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 3) {
      state = (state * 1664525 + 1013904223) >>> 0
      const grain = (state >>> 28) - 8
      data[i] = Math.max(0, Math.min(255, ((x * 255) / width + grain) | 0))
      data[i + 1] = Math.max(0, Math.min(255, ((y * 255) / height + grain) | 0))
      data[i + 2] = Math.max(0, Math.min(255, (128 + 100 * Math.sin((x + y) / 150) + grain) | 0))
    }
  }
  return data
}

/** Deterministic noise (compresses badly, like a photo). */
export function noiseRaw(width: number, height: number, seed = 1): Buffer {
  const data = Buffer.alloc(width * height * 3)
  let state = seed >>> 0 || 1
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    data[i] = state & 0xff
  }
  return data
}

export async function jpeg(width: number, height: number, options: { orientation?: number } = {}): Promise<Buffer> {
  const pipeline = sharp(await twoHalves(width, height, red, blue)).jpeg({ quality: 90 })
  return options.orientation ? pipeline.withMetadata({ orientation: options.orientation }).toBuffer() : pipeline.toBuffer()
}

export async function photoLikeJpeg(width: number, height: number): Promise<Buffer> {
  return sharp(noiseRaw(64, 48), { raw: { width: 64, height: 48, channels: 3 } })
    .resize(width, height)
    .jpeg({ quality: 88 })
    .toBuffer()
}

export async function png(width: number, height: number): Promise<Buffer> {
  return twoHalves(width, height, red, blue)
}

export async function transparentPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer()
}

export async function webp(width: number, height: number): Promise<Buffer> {
  return sharp(await twoHalves(width, height, red, blue))
    .webp({ quality: 90 })
    .toBuffer()
}

export async function avif(width: number, height: number): Promise<Buffer> {
  return sharp(await twoHalves(width, height, red, blue))
    .avif({ quality: 70, effort: 0 })
    .toBuffer()
}

export async function tiff(width: number, height: number): Promise<Buffer> {
  return sharp(await twoHalves(width, height, red, blue))
    .tiff()
    .toBuffer()
}

/** Two pages/frames stacked vertically: the first `first`, the second `second`. */
async function twoPages(width: number, height: number, first: Colour, second: Colour) {
  const top = await solid(width, height, first).png().toBuffer()
  const bottom = await solid(width, height, second).png().toBuffer()
  return sharp({ create: { width, height: height * 2, channels: 3, background: first } }).composite([
    { input: top, left: 0, top: 0 },
    { input: bottom, left: 0, top: height },
  ])
}

export async function multiPage(format: 'gif' | 'tiff', width: number, height: number, first: Colour, second: Colour): Promise<Buffer> {
  const stacked = await (await twoPages(width, height, first, second)).removeAlpha().raw().toBuffer()
  const image = sharp(stacked, { raw: { width, height: height * 2, channels: 3, pageHeight: height } })
  return format === 'gif' ? image.gif().toBuffer() : image.tiff().toBuffer()
}

export function bmp24(width: number, height: number, topDown = false): Buffer {
  return writeBmp({
    width,
    height,
    bitsPerPixel: 24,
    topDown,
    pixel: (x) => (x < width / 2 ? [red.r, red.g, red.b, 255] : [blue.r, blue.g, blue.b, 255]),
  })
}

/** Mean colour of a region of an encoded image. */
export async function meanColour(image: Buffer, region: { left: number; top: number; width: number; height: number }): Promise<Colour> {
  // stats() reads the input, not the pipeline, so extract into a new image first.
  const cropped = await sharp(image).extract(region).png().toBuffer()
  const stats = await sharp(cropped).stats()
  const [r, g, b] = stats.channels.map((channel) => Math.round(channel.mean))
  return { r: r!, g: g!, b: b! }
}

/** A deterministic colourful picture (gradient plus a block) for tests that need "a photo": the model sees structure, and the bytes never change. */
export async function testImage(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3
      const inBlock = x > width / 4 && x < width / 2 && y > height / 4 && y < height / 2
      pixels[i] = inBlock ? 250 : Math.round((x / width) * 255)
      pixels[i + 1] = inBlock ? 30 : Math.round((y / height) * 255)
      pixels[i + 2] = 128
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } })
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer()
}

export function dataUrl(bytes: Buffer, mime = 'image/jpeg'): string {
  return `data:${mime};base64,${bytes.toString('base64')}`
}
