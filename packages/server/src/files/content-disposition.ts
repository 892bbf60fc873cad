/**
 * `Content-Disposition: attachment` for a stored file's name, whatever its script. A
 * header value is bytes, and Node refuses any character above U+00FF in one
 * (ERR_INVALID_CHAR: `请求.jsonl` used to answer a 500), so the name travels twice
 * (RFC 6266): `filename` is a printable-ASCII fallback for old clients, and
 * `filename*=UTF-8''…` (RFC 8187, formerly 5987) the exact name, percent-encoded.
 */
export function contentDisposition(filename: string): string {
  const fallback = asciiFallback(filename)
  const exact = encodeExtValue(filename)
  return fallback === filename ? `attachment; filename="${fallback}"` : `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`
}

/**
 * Printable ASCII with `"` and `\` replaced too (inside a quoted string they would need
 * escapes that many clients ignore); every character outside it becomes `_`, one per code point.
 */
function asciiFallback(filename: string): string {
  let out = ''
  for (const char of filename) out += /^[\x20-\x7e]$/.test(char) && char !== '"' && char !== '\\' ? char : '_'
  return out || 'download'
}

/** RFC 8187's attr-char set stays as it is; every other UTF-8 byte is %XX. */
function encodeExtValue(filename: string): string {
  let out = ''
  // Buffer writes a lone surrogate (it cannot be UTF-8) as U+FFFD.
  for (const byte of Buffer.from(filename, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += /^[A-Za-z0-9!#$&+\-.^_`|~]$/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
