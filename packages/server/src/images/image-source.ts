import { formatBytes } from '@visto/protocol'
import { imageTooLarge, invalidImage, type ImageLocation } from './image-errors.js'

/**
 * What an `image_url.url` string turned out to be: inline bytes (data URL or bare
 * base64), or a remote http(s) URL that still has to be fetched.
 */
export type ImageSource = { kind: 'inline'; bytes: Buffer; declaredMime: string | null } | { kind: 'remote'; url: URL }

const base64Alphabet = /^[A-Za-z0-9+/]*$/

/**
 * Parses the url of an image part. Strict about safety (size is checked before any
 * decoding, only base64 characters pass), kind about form: whitespace and newlines
 * inside the base64, the URL-safe alphabet, missing padding and a bare base64 string
 * without the `data:` prefix are all accepted.
 */
export function parseImageSource(url: string, location: ImageLocation, maxImageBytes: number): ImageSource {
  const trimmed = url.trim()
  if (trimmed.length === 0) throw invalidImage(location, 'the image URL is empty (zero bytes)', { code: 'empty_image' })

  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(trimmed)?.[1]?.toLowerCase()
  if (scheme === 'data') return parseDataUrl(trimmed, location, maxImageBytes)
  if (scheme === 'http' || scheme === 'https') {
    let parsed: URL
    try {
      parsed = new URL(trimmed)
    } catch {
      throw invalidImage(location, `"${shorten(trimmed)}" is not a valid URL`, { code: 'invalid_image_url' })
    }
    return { kind: 'remote', url: parsed }
  }
  // Base64 has no ':', so anything that starts with a scheme is a URL we do not fetch.
  if (scheme !== undefined) {
    throw invalidImage(location, `unsupported URL scheme "${scheme}:"; send the image inline as a data:image/...;base64,... URL`, { code: 'invalid_image_url' })
  }
  return { kind: 'inline', bytes: decodeBase64(trimmed, location, maxImageBytes), declaredMime: null }
}

function parseDataUrl(dataUrl: string, location: ImageLocation, maxImageBytes: number): ImageSource {
  const comma = dataUrl.indexOf(',')
  if (comma < 0) throw invalidImage(location, 'malformed data URL: no "," separates the header from the data', { code: 'invalid_base64' })
  const header = dataUrl.slice(5, comma)
  if (header.length > 256) throw invalidImage(location, 'malformed data URL: the header before "," is too long', { code: 'invalid_base64' })
  const params = header.split(';').map((part) => part.trim())
  const declaredMime = params[0] ? params[0].toLowerCase() : null
  const isBase64 = params.slice(1).some((part) => part.toLowerCase() === 'base64')
  const payload = dataUrl.slice(comma + 1)
  if (isBase64) return { kind: 'inline', bytes: decodeBase64(payload, location, maxImageBytes), declaredMime }

  // RFC 2397 also allows percent-encoded data (`data:image/svg+xml,<svg ...>`); decode it
  // so the sniffer can say what it is instead of calling it bad base64.
  if (payload.length > maxImageBytes * 3) throw tooManyBytes(location, Math.floor(payload.length / 3), maxImageBytes)
  let bytes: Buffer
  try {
    bytes = Buffer.from(decodeURIComponent(payload), 'latin1')
  } catch {
    bytes = Buffer.from(payload, 'latin1')
  }
  if (bytes.length > maxImageBytes) throw tooManyBytes(location, bytes.length, maxImageBytes)
  if (bytes.length === 0) throw invalidImage(location, 'the data URL holds zero bytes', { code: 'empty_image' })
  return { kind: 'inline', bytes, declaredMime }
}

function decodeBase64(payload: string, location: ImageLocation, maxImageBytes: number): Buffer {
  return decodeLenientBase64(payload, maxImageBytes, {
    invalid: (reason) => invalidImage(location, reason, { code: 'invalid_base64' }),
    empty: () => invalidImage(location, 'the image data is empty (zero bytes)', { code: 'empty_image' }),
    tooLarge: (bytes) => tooManyBytes(location, bytes, maxImageBytes),
  })
}

/** How a caller words the three ways inline base64 can be refused. */
export interface InlineDataErrors {
  invalid(reason: string): Error
  empty(): Error
  tooLarge(decodedBytes: number): Error
}

/**
 * Base64 the way clients actually send it: whitespace and newlines, the URL-safe
 * alphabet, percent-encoded padding and missing padding are accepted; anything else is
 * refused with the position of the first bad character. Size is checked before copying.
 */
export function decodeLenientBase64(payload: string, maxBytes: number, errors: InlineDataErrors): Buffer {
  // Checked on the encoded length first so a huge payload is refused before we copy it.
  const upperBound = Math.floor((payload.length * 3) / 4)
  if (upperBound > maxBytes) {
    const compact = payload.replace(/[\s=]/g, '')
    const decodedLength = Math.floor((compact.length * 3) / 4)
    if (decodedLength > maxBytes) throw errors.tooLarge(decodedLength)
  }

  let compact = payload.replace(/\s+/g, '')
  // Some clients percent-encode the padding or the '+' and '/' characters.
  if (compact.includes('%')) compact = compact.replace(/%2B/gi, '+').replace(/%2F/gi, '/').replace(/%3D/gi, '=')
  compact = compact.replace(/-/g, '+').replace(/_/g, '/')
  const firstPad = compact.indexOf('=')
  let body = compact
  if (firstPad >= 0) {
    const padding = compact.slice(firstPad)
    body = compact.slice(0, firstPad)
    if (!/^={1,2}$/.test(padding)) throw errors.invalid(`bad base64: unexpected "=" at character ${firstPad} (padding is only allowed at the end)`)
  }
  if (!base64Alphabet.test(body)) {
    const index = body.search(/[^A-Za-z0-9+/]/)
    const code = body.codePointAt(index) ?? 0
    // Printable ASCII as itself, anything else by code point, so the message stays readable.
    const character = code > 0x20 && code < 0x7f ? JSON.stringify(String.fromCodePoint(code)) : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`
    throw errors.invalid(`bad base64: invalid character ${character} at position ${index}`)
  }
  if (body.length === 0) throw errors.empty()
  if (body.length % 4 === 1) throw errors.invalid(`bad base64: ${body.length} characters cannot encode whole bytes (truncated base64?)`)
  const bytes = Buffer.from(body, 'base64')
  if (bytes.length > maxBytes) throw errors.tooLarge(bytes.length)
  return bytes
}

export function tooManyBytes(location: ImageLocation, bytes: number, maxImageBytes: number): Error {
  return imageTooLarge(location, `the image is ${formatBytes(bytes)}, over the per-image limit of ${formatBytes(maxImageBytes)} (--max-image-mb)`, 'image_too_large')
}

function shorten(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value
}
