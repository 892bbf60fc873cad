/**
 * Identifies an image format from its first bytes. The server decides how to decode with
 * it and the SDK labels data URLs with it, so both read a file the same way. A declared
 * MIME type is never trusted: common Python clients label anything it does not
 * recognise `image/jpeg`.
 */

/** Formats we decode. */
export type DecodableFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'bmp' | 'heic'

/** Formats we can name but refuse (so the error says what the client actually sent). */
export type RefusedFormat =
  | 'heif'
  | 'svg'
  | 'pdf'
  | 'postscript'
  | 'ico'
  | 'psd'
  | 'jpeg-xl'
  | 'jpeg-2000'
  | 'pnm'
  | 'openexr'
  | 'qoi'
  | 'dds'
  | 'html'
  | 'xml'
  | 'json'
  | 'text'
  | 'zip'
  | 'gzip'
  | 'mp4'
  | 'quicktime'
  | 'riff'
  | 'unknown'

export type SniffedFormat = DecodableFormat | RefusedFormat

const decodable = new Set<SniffedFormat>(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'bmp', 'heic'])

export function isDecodable(format: SniffedFormat): format is DecodableFormat {
  return decodable.has(format)
}

/** How a format is named to users. */
export const formatDisplayName: Record<SniffedFormat, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  avif: 'AVIF',
  bmp: 'BMP',
  heic: 'HEIC',
  heif: 'HEIF',
  svg: 'SVG',
  pdf: 'PDF',
  postscript: 'PostScript',
  ico: 'ICO',
  psd: 'Photoshop PSD',
  'jpeg-xl': 'JPEG XL',
  'jpeg-2000': 'JPEG 2000',
  pnm: 'PNM/PPM',
  openexr: 'OpenEXR',
  qoi: 'QOI',
  dds: 'DDS',
  html: 'HTML',
  xml: 'XML',
  json: 'JSON',
  text: 'plain text',
  zip: 'ZIP archive',
  gzip: 'gzip data',
  mp4: 'MP4 video',
  quicktime: 'QuickTime video',
  riff: 'RIFF (not WebP) data',
  unknown: 'unrecognised data',
}

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false
  for (let i = 0; i < signature.length; i++) if (bytes[offset + i] !== signature[i]) return false
  return true
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let out = ''
  for (let i = start; i < Math.min(end, bytes.length); i++) out += String.fromCharCode(bytes[i]!)
  return out
}

// HEVC-coded HEIF, images and sequences (ISO/IEC 23008-12 annex B, as libheif lists them).
const heicBrands = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs'])
const avifBrands = new Set(['avif', 'avis'])
// HEIF structure with any codec: the compatible brands say which one.
const heifStructuralBrands = new Set(['mif1', 'mif2', 'msf1', 'miaf'])

/**
 * ISO base media file (`ftyp` box): AVIF, HEIC, other HEIF, or video. The major brand
 * decides when it names a codec; a generic HEIF major brand defers to the compatible
 * brands. Anything else with an `ftyp` box is video.
 */
function sniffIsoBmff(bytes: Uint8Array): SniffedFormat | null {
  if (ascii(bytes, 4, 8) !== 'ftyp') return null
  const boxSize = (((bytes[0]! << 24) >>> 0) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0
  const major = ascii(bytes, 8, 12)
  const brands = [major]
  const end = Math.min(bytes.length, boxSize >= 16 && boxSize <= 4096 ? boxSize : 64)
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, offset + 4))
  if (avifBrands.has(major)) return 'avif'
  if (heicBrands.has(major)) return 'heic'
  if (heifStructuralBrands.has(major)) {
    if (brands.some((brand) => avifBrands.has(brand))) return 'avif'
    if (brands.some((brand) => heicBrands.has(brand))) return 'heic'
    return 'heif'
  }
  if (major === 'qt  ') return 'quicktime'
  if (major === 'jp2 ' || major === 'jpx ') return 'jpeg-2000'
  return 'mp4'
}

/** Text-like payloads: SVG, HTML, XML, JSON or prose. Only the first KiB is looked at. */
function sniffText(bytes: Uint8Array): SniffedFormat | null {
  let start = 0
  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) start = 3
  const head = ascii(bytes, start, start + 1024)
  const trimmed = head.trimStart().toLowerCase()
  if (trimmed.startsWith('<svg') || (trimmed.startsWith('<?xml') && trimmed.includes('<svg')) || trimmed.startsWith('<!doctype svg')) {
    return 'svg'
  }
  if (trimmed.startsWith('<!doctype html') || trimmed.startsWith('<html')) return 'html'
  if (trimmed.startsWith('<?xml')) return 'xml'
  if (trimmed.startsWith('<') && trimmed.includes('<svg')) return 'svg'
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return 'json'
  if (head.length > 0 && /^[\t\n\r\x20-\x7e]*$/.test(head)) return 'text'
  return null
}

/** The DIB header sizes BMP defines: OS/2 1.x and 2.x, BITMAPINFOHEADER and its V2–V5 successors. */
const bmpHeaderSizes = new Set([12, 16, 40, 52, 56, 64, 108, 124])

/**
 * "BM" alone is too weak: plenty of text starts with it. A bitmap also has a DIB header
 * size BMP defines; binary data with another size is still taken for a damaged bitmap,
 * so the decoder can say what is wrong with it.
 */
function looksLikeBmp(bytes: Uint8Array): boolean {
  const dibSize = (bytes[14]! | (bytes[15]! << 8) | (bytes[16]! << 16) | (bytes[17]! << 24)) >>> 0
  return bmpHeaderSizes.has(dibSize) || sniffText(bytes) === null
}

export function sniffImageFormat(bytes: Uint8Array): SniffedFormat {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg'
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png'
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif'
  if (ascii(bytes, 0, 4) === 'RIFF') return ascii(bytes, 8, 12) === 'WEBP' ? 'webp' : 'riff'
  // Classic TIFF and BigTIFF, both byte orders.
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff'
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff'
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 18 && looksLikeBmp(bytes)) return 'bmp'
  const iso = sniffIsoBmff(bytes)
  if (iso !== null) return iso
  if (ascii(bytes, 0, 5) === '%PDF-') return 'pdf'
  if (ascii(bytes, 0, 4) === '%!PS' || startsWith(bytes, [0xc5, 0xd0, 0xd3, 0xc6])) return 'postscript'
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) || startsWith(bytes, [0x00, 0x00, 0x02, 0x00])) return 'ico'
  if (ascii(bytes, 0, 4) === '8BPS') return 'psd'
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jpeg-xl'
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) {
    return 'jpeg-2000'
  }
  if (bytes.length >= 3 && bytes[0] === 0x50 && bytes[1]! >= 0x31 && bytes[1]! <= 0x37 && (bytes[2] === 0x0a || bytes[2] === 0x20 || bytes[2] === 0x0d)) {
    return 'pnm'
  }
  if (startsWith(bytes, [0x76, 0x2f, 0x31, 0x01])) return 'openexr'
  if (ascii(bytes, 0, 4) === 'qoif') return 'qoi'
  if (ascii(bytes, 0, 4) === 'DDS ') return 'dds'
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return 'zip'
  if (startsWith(bytes, [0x1f, 0x8b])) return 'gzip'
  return sniffText(bytes) ?? 'unknown'
}

/** MIME types for the formats that are images, as a client labels a data URL. */
export type ImageMime = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp' | 'image/bmp' | 'image/tiff' | 'image/avif' | 'image/heic' | 'image/heif'

const imageMimes: Partial<Record<SniffedFormat, ImageMime>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heic: 'image/heic',
  heif: 'image/heif',
}

/** The image MIME type the bytes start with, or undefined when they are no known image. */
export function sniffImageMime(input: Uint8Array | ArrayBuffer): ImageMime | undefined {
  return imageMimes[sniffImageFormat(input instanceof Uint8Array ? input : new Uint8Array(input))]
}

/** A PDF: "%PDF-" within the first KiB (readers, PDFium included, accept a little junk before it). */
export function isPdf(input: Uint8Array | ArrayBuffer): boolean {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input)
  const end = Math.min(bytes.length, 1024) - 5
  for (let i = 0; i <= end; i++) {
    if (bytes[i] === 0x25 && bytes[i + 1] === 0x50 && bytes[i + 2] === 0x44 && bytes[i + 3] === 0x46 && bytes[i + 4] === 0x2d) return true
  }
  return false
}
