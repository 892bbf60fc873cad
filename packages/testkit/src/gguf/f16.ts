/**
 * IEEE half precision, converted with integer arithmetic so the result is exact
 * round-to-nearest-even (what ggml's `GGML_FP32_TO_FP16` and the F16C instructions do);
 * going through a float64 first would round twice.
 */

const f32Scratch = new Float32Array(1)
const u32Scratch = new Uint32Array(f32Scratch.buffer)

/** The binary16 bit pattern nearest to `x` (after `x` is rounded to float32). */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x
  return f32BitsToF16Bits(u32Scratch[0]!)
}

export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  let mantissa = bits & 0x7fffff
  if (exponent === 0xff) {
    // Infinity stays infinity; NaN keeps its top payload bits and is made quiet.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13)
  }
  const halfExponent = exponent - 127 + 15
  if (halfExponent >= 0x1f) return sign | 0x7c00
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the full significand so one unit is 2^-24.
    if (halfExponent < -10) return sign
    mantissa |= 0x800000
    const shift = 14 - halfExponent
    const halfway = 1 << (shift - 1)
    let result = mantissa >>> shift
    const remainder = mantissa & ((1 << shift) - 1)
    if (remainder > halfway || (remainder === halfway && (result & 1) === 1)) result += 1
    return sign | result
  }
  let result = (halfExponent << 10) | (mantissa >>> 13)
  const remainder = mantissa & 0x1fff
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (remainder > 0x1000 || (remainder === 0x1000 && (result & 1) === 1)) result += 1
  return sign | result
}

export function f16BitsToF32(half: number): number {
  const sign = half & 0x8000 ? -1 : 1
  const exponent = (half >>> 10) & 0x1f
  const mantissa = half & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  return sign * (1024 + mantissa) * 2 ** (exponent - 25)
}

/** Encodes `src` as little-endian binary16 into `dst` at byte `offset`. */
export function encodeF16(src: Float32Array, dst: Uint8Array, offset = 0): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length)
  for (let i = 0, o = offset; i < bits.length; i++, o += 2) {
    const h = f32BitsToF16Bits(bits[i]!)
    dst[o] = h & 0xff
    dst[o + 1] = h >>> 8
  }
}

export function decodeF16(src: Uint8Array, count: number, offset = 0): Float32Array {
  const out = new Float32Array(count)
  for (let i = 0, o = offset; i < count; i++, o += 2) out[i] = f16BitsToF32(src[o]! | (src[o + 1]! << 8))
  return out
}
