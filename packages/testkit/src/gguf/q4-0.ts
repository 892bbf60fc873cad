/**
 * ggml Q4_0: blocks of 32 weights, each an F16 scale `d = (signed value of largest
 * magnitude) / -8` and 16 bytes of nibbles `min(15, trunc(x / d + 8.5))`; weight j sits
 * in the low nibble of byte j and weight j+16 in its high nibble. Mirrors ggml's
 * `quantize_row_q4_0_ref` in float32 so the bytes match ggml's own.
 */
import { f16BitsToF32, f32ToF16Bits } from './f16.js'

export const Q4_0_BLOCK_WEIGHTS = 32
export const Q4_0_BLOCK_BYTES = 18

export function quantizeQ4_0(src: Float32Array, dst: Uint8Array, offset = 0): void {
  if (src.length % Q4_0_BLOCK_WEIGHTS !== 0) throw new RangeError(`Q4_0 needs a multiple of 32 weights, got ${src.length}`)
  const fround = Math.fround
  for (let b = 0, o = offset; b < src.length; b += Q4_0_BLOCK_WEIGHTS, o += Q4_0_BLOCK_BYTES) {
    let amax = 0
    let max = 0
    for (let j = 0; j < Q4_0_BLOCK_WEIGHTS; j++) {
      const v = src[b + j]!
      if (amax < Math.abs(v)) {
        amax = Math.abs(v)
        max = v
      }
    }
    const d = fround(max / -8)
    const id = d !== 0 ? fround(1 / d) : 0
    const h = f32ToF16Bits(d)
    dst[o] = h & 0xff
    dst[o + 1] = h >>> 8
    for (let j = 0; j < 16; j++) {
      const lo = Math.min(15, Math.trunc(fround(fround(src[b + j]! * id) + 8.5)))
      const hi = Math.min(15, Math.trunc(fround(fround(src[b + 16 + j]! * id) + 8.5)))
      dst[o + 2 + j] = lo | (hi << 4)
    }
  }
}

export function dequantizeQ4_0(src: Uint8Array, count: number, offset = 0): Float32Array {
  const out = new Float32Array(count)
  for (let b = 0, o = offset; b < count; b += Q4_0_BLOCK_WEIGHTS, o += Q4_0_BLOCK_BYTES) {
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8))
    for (let j = 0; j < 16; j++) {
      const byte = src[o + 2 + j]!
      out[b + j] = ((byte & 0x0f) - 8) * d
      out[b + 16 + j] = ((byte >>> 4) - 8) * d
    }
  }
  return out
}
