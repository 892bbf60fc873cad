/**
 * An image's size as people see it, read from the first bytes of the file: the header's
 * width and height, turned by the EXIF orientation the way viewers (and Visto's server,
 * before the model sees the image) turn it. Grounding maps the model's coordinates onto
 * this size. No decoding: it reads a few header fields, so it runs in a browser too.
 */
import { sniffImageFormat } from './image-format.js'

export interface ImageSize {
  width: number
  height: number
}

/** EXIF orientation: 1 upright, 2–4 mirrored or turned 180°, 5–8 turned a quarter (sides swap). */
export type ExifOrientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8

export interface DisplayedImageSize extends ImageSize {
  /** 1 when the file has no orientation tag. */
  orientation: ExifOrientation
  /** As stored in the file, before orientation (equal to width/height for 1–4). */
  stored: ImageSize
}

function u16be(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!
}

function u16le(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8)
}

function u24le(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16)
}

function u32be(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
}

function u32le(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
}

function tag(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!)
}

function isOrientation(value: number | undefined): value is ExifOrientation {
  return value !== undefined && Number.isInteger(value) && value >= 1 && value <= 8
}

/**
 * The SHORT and LONG values of a TIFF structure's first directory (IFD0), by tag. EXIF
 * is such a structure; so is a TIFF file. `start` is the byte-order mark, `end` where the
 * structure's bytes stop; anything pointing outside them is ignored.
 */
function tiffFirstDirectory(bytes: Uint8Array, start: number, end: number): Map<number, number> {
  const values = new Map<number, number>()
  end = Math.min(end, bytes.length)
  if (start + 8 > end) return values
  const little = bytes[start] === 0x49 && bytes[start + 1] === 0x49
  const big = bytes[start] === 0x4d && bytes[start + 1] === 0x4d
  if (!little && !big) return values
  const u16 = little ? u16le : u16be
  const u32 = little ? u32le : u32be
  if (u16(bytes, start + 2) !== 42) return values
  const directory = start + u32(bytes, start + 4)
  if (directory + 2 > end) return values
  const count = u16(bytes, directory)
  for (let i = 0; i < count; i++) {
    const entry = directory + 2 + i * 12
    if (entry + 12 > end) break
    const type = u16(bytes, entry + 2)
    // SHORT and LONG fit in the entry itself when the count is 1.
    if (type === 3) values.set(u16(bytes, entry), u16(bytes, entry + 8))
    else if (type === 4) values.set(u16(bytes, entry), u32(bytes, entry + 8))
  }
  return values
}

const ORIENTATION_TAG = 0x0112

/** Orientation from EXIF bytes, with or without the "Exif\0\0" prefix JPEG puts before them. */
function exifOrientation(bytes: Uint8Array, start: number, end: number): ExifOrientation {
  if (tag(bytes, start) === 'Exif' && bytes[start + 4] === 0 && bytes[start + 5] === 0) start += 6
  const value = tiffFirstDirectory(bytes, start, end).get(ORIENTATION_TAG)
  return isOrientation(value) ? value : 1
}

interface StoredSize extends ImageSize {
  orientation: ExifOrientation
}

/** Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
}

function jpegSize(bytes: Uint8Array): StoredSize | undefined {
  let orientation: ExifOrientation = 1
  let at = 2
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined
    const marker = bytes[at + 1]!
    if (marker === 0xff) {
      at++
      continue
    }
    if (marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2
      continue
    }
    // End of image, or the scan began: no frame header came first.
    if (marker === 0xd9 || marker === 0xda) return undefined
    const length = u16be(bytes, at + 2)
    if (length < 2) return undefined
    const end = at + 2 + length
    if (isStartOfFrame(marker)) {
      if (at + 9 > bytes.length) return undefined
      return { height: u16be(bytes, at + 5), width: u16be(bytes, at + 7), orientation }
    }
    if (marker === 0xe1 && tag(bytes, at + 4) === 'Exif') orientation = exifOrientation(bytes, at + 4, end)
    at = end
  }
  return undefined
}

function pngSize(bytes: Uint8Array): StoredSize | undefined {
  if (bytes.length < 24 || tag(bytes, 12) !== 'IHDR') return undefined
  const size = { width: u32be(bytes, 16), height: u32be(bytes, 20) }
  // libvips (so Visto's server) honours an eXIf chunk's orientation; the chunks are walked by their lengths.
  let at = 8
  while (at + 8 <= bytes.length) {
    const length = u32be(bytes, at)
    const type = tag(bytes, at + 4)
    if (type === 'eXIf') return { ...size, orientation: exifOrientation(bytes, at + 8, at + 8 + length) }
    if (type === 'IDAT' || type === 'IEND') break
    at += 12 + length
  }
  return { ...size, orientation: 1 }
}

function webpSize(bytes: Uint8Array): StoredSize | undefined {
  if (bytes.length < 30) return undefined
  const chunk = tag(bytes, 12)
  if (chunk === 'VP8 ') {
    if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) return undefined
    return { width: u16le(bytes, 26) & 0x3fff, height: u16le(bytes, 28) & 0x3fff, orientation: 1 }
  }
  if (chunk === 'VP8L') {
    if (bytes[20] !== 0x2f) return undefined
    const bits = u32le(bytes, 21)
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, orientation: 1 }
  }
  if (chunk !== 'VP8X') return undefined
  const size = { width: u24le(bytes, 24) + 1, height: u24le(bytes, 27) + 1 }
  const hasExif = (bytes[20]! & 0x08) !== 0
  let orientation: ExifOrientation = 1
  // Chunks are padded to an even length; EXIF comes after the image data.
  for (let at = 12; hasExif && at + 8 <= bytes.length; ) {
    const length = u32le(bytes, at + 4)
    if (tag(bytes, at) === 'EXIF') {
      orientation = exifOrientation(bytes, at + 8, at + 8 + length)
      break
    }
    at += 8 + length + (length & 1)
  }
  return { ...size, orientation }
}

function gifSize(bytes: Uint8Array): StoredSize | undefined {
  if (bytes.length < 10) return undefined
  return { width: u16le(bytes, 6), height: u16le(bytes, 8), orientation: 1 }
}

function bmpSize(bytes: Uint8Array): StoredSize | undefined {
  if (bytes.length < 26) return undefined
  const dibSize = u32le(bytes, 14)
  if (dibSize === 12) return { width: u16le(bytes, 18), height: u16le(bytes, 20), orientation: 1 }
  // A negative height marks a top-down bitmap.
  const height = u32le(bytes, 22) | 0
  return { width: u32le(bytes, 18) | 0, height: Math.abs(height), orientation: 1 }
}

function tiffSize(bytes: Uint8Array): StoredSize | undefined {
  const directory = tiffFirstDirectory(bytes, 0, bytes.length)
  const width = directory.get(256)
  const height = directory.get(257)
  if (width === undefined || height === undefined) return undefined
  const orientation = directory.get(ORIENTATION_TAG)
  return { width, height, orientation: isOrientation(orientation) ? orientation : 1 }
}

/**
 * The size an image is shown at, from its bytes: JPEG, PNG, WebP, GIF, BMP and TIFF
 * headers, with the EXIF orientation of JPEG, PNG (eXIf), WebP and TIFF applied
 * (orientations 5–8 swap width and height). Undefined for other formats (HEIC and AVIF
 * among them) and for headers too damaged or too short to read. For JPEG the bytes must
 * reach the frame header, which follows the EXIF block (usually within the first 64 KiB).
 */
export function displayedImageSize(input: Uint8Array | ArrayBuffer): DisplayedImageSize | undefined {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input)
  const format = sniffImageFormat(bytes)
  const stored =
    format === 'jpeg'
      ? jpegSize(bytes)
      : format === 'png'
        ? pngSize(bytes)
        : format === 'webp'
          ? webpSize(bytes)
          : format === 'gif'
            ? gifSize(bytes)
            : format === 'bmp'
              ? bmpSize(bytes)
              : format === 'tiff'
                ? tiffSize(bytes)
                : undefined
  if (!stored || !(stored.width > 0) || !(stored.height > 0)) return undefined
  const { width, height, orientation } = stored
  const turned = orientation >= 5
  return { width: turned ? height : width, height: turned ? width : height, orientation, stored: { width, height } }
}
