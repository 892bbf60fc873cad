/** Base64 for bytes without Buffer, so the same code runs in browsers. */

const CHUNK = 0x8000

export function bytesToBase64(bytes: Uint8Array): string {
  const maybeBuffer = (globalThis as { Buffer?: { from(b: Uint8Array): { toString(enc: string): string } } }).Buffer
  if (maybeBuffer) return maybeBuffer.from(bytes).toString('base64')
  let binary = ''
  // Chunked so String.fromCharCode never sees more arguments than the engine allows.
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK))
  return btoa(binary)
}

export function base64ToBytes(base64: string): Uint8Array {
  const maybeBuffer = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer
  if (maybeBuffer) return new Uint8Array(maybeBuffer.from(base64, 'base64'))
  const binary = atob(base64.replace(/\s+/g, ''))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
