/**
 * ggml Q8_0: blocks of 32 weights, each an F16 scale `d = max|x| / 127` followed by 32
 * int8 values `round(x / d)`. Mirrors ggml's `quantize_row_q8_0_ref` step for step in
 * float32 (Math.fround), so our files are byte-identical to what ggml would write.
 */
import { f16BitsToF32, f32ToF16Bits } from './f16.js'

export const Q8_0_BLOCK_WEIGHTS = 32
export const Q8_0_BLOCK_BYTES = 34

export function quantizeQ8_0(src: Float32Array, dst: Uint8Array, offset = 0): void {
  if (src.length % Q8_0_BLOCK_WEIGHTS !== 0) throw new RangeError(`Q8_0 needs a multiple of 32 weights, got ${src.length}`)
  const fround = Math.fround
  for (let b = 0, o = offset; b < src.length; b += Q8_0_BLOCK_WEIGHTS, o += Q8_0_BLOCK_BYTES) {
    let amax = 0
    for (let j = 0; j < Q8_0_BLOCK_WEIGHTS; j++) {
      const v = Math.abs(src[b + j]!)
      if (v > amax) amax = v
    }
    const d = fround(amax / 127)
    const id = d !== 0 ? fround(1 / d) : 0
    const h = f32ToF16Bits(d)
    dst[o] = h & 0xff
    dst[o + 1] = h >>> 8
    for (let j = 0; j < Q8_0_BLOCK_WEIGHTS; j++) {
      const x = fround(src[b + j]! * id)
      // C roundf: halves away from zero.
      const q = x >= 0 ? Math.floor(x + 0.5) : -Math.floor(-x + 0.5)
      dst[o + 2 + j] = q & 0xff
    }
  }
}

export function dequantizeQ8_0(src: Uint8Array, count: number, offset = 0): Float32Array {
  const out = new Float32Array(count)
  for (let b = 0, o = offset; b < count; b += Q8_0_BLOCK_WEIGHTS, o += Q8_0_BLOCK_BYTES) {
    const d = f16BitsToF32(src[o]! | (src[o + 1]! << 8))
    for (let j = 0; j < Q8_0_BLOCK_WEIGHTS; j++) out[b + j] = ((src[o + 2 + j]! << 24) >> 24) * d
  }
  return out
}
