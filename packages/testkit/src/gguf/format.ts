/** GGUF container constants shared by the reader and the writer (ggml `docs/gguf.md`). */
import { metadataValue, type GgufMetadata } from './values.js'

export const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian uint32
export const GGUF_VERSION = 3
export const GGUF_DEFAULT_ALIGNMENT = 32

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment
}

/** Tensor data alignment: `general.alignment` when present, else 32. */
export function alignmentOf(metadata: GgufMetadata): number {
  const value = metadataValue(metadata, 'general.alignment')
  if (value === undefined) return GGUF_DEFAULT_ALIGNMENT
  if (value.type !== 'uint32' || value.value <= 0 || value.value % 8 !== 0) {
    throw new RangeError('general.alignment must be a UINT32 multiple of 8')
  }
  return value.value
}
