import sharp from 'sharp'
import { writeBmp } from './bmp-writer.js'
import type { FuzzSeed } from './image-fuzz.js'
import * as images from './test-images.js'

const palette: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
]

/**
 * One small valid file per format and variant the pipeline decodes: the material that
 * fuzzCase truncates, corrupts, splices and lies about. Deterministic.
 */
export async function fuzzSeeds(): Promise<FuzzSeed[]> {
  const noise = () => sharp(images.noiseRaw(48, 40), { raw: { width: 48, height: 40, channels: 3 } })
  return [
    { name: 'jpeg', format: 'jpeg', bytes: await images.photoLikeJpeg(48, 40) },
    { name: 'progressive-jpeg', format: 'jpeg', bytes: await noise().jpeg({ progressive: true }).toBuffer() },
    { name: 'exif-jpeg', format: 'jpeg', bytes: await images.jpeg(40, 24, { orientation: 6 }) },
    { name: 'png', format: 'png', bytes: await images.png(40, 30) },
    { name: 'alpha-png', format: 'png', bytes: await images.transparentPng(20, 20) },
    { name: 'webp', format: 'webp', bytes: await images.webp(40, 30) },
    { name: 'lossless-webp', format: 'webp', bytes: await noise().webp({ lossless: true }).toBuffer() },
    { name: 'gif', format: 'gif', bytes: await images.multiPage('gif', 24, 16, images.red, images.blue) },
    { name: 'tiff', format: 'tiff', bytes: await images.tiff(24, 16) },
    { name: 'avif', format: 'avif', bytes: await images.avif(24, 16) },
    { name: 'bmp24', format: 'bmp', bytes: images.bmp24(30, 20) },
    { name: 'bmp8', format: 'bmp', bytes: writeBmp({ width: 33, height: 9, bitsPerPixel: 8, palette, pixel: (x, y) => [(x * 7 + y * 13) % 4, 0, 0, 0] }) },
    { name: 'bmp8-rle', format: 'bmp', bytes: writeBmp({ width: 30, height: 20, bitsPerPixel: 8, compression: 'rle8', palette, pixel: (x, y) => [(x + y) % 4, 0, 0, 0] }) },
    { name: 'bmp4', format: 'bmp', bytes: writeBmp({ width: 31, height: 9, bitsPerPixel: 4, palette, pixel: (x) => [x % 4, 0, 0, 0], topDown: true }) },
    { name: 'bmp32-bitfields', format: 'bmp', bytes: writeBmp({ width: 9, height: 9, bitsPerPixel: 32, header: 'v5', compression: 'bitfields', pixel: () => [1, 2, 3, 128] }) },
  ]
}
