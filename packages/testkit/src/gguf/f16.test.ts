import { describe, expect, it } from 'vitest'

import { decodeF16, encodeF16, f16BitsToF32, f32ToF16Bits } from './f16.js'

const f32 = (x: number) => Math.fround(x)
/** The float32 just above / below a float32 value. */
function nextUp(x: number): number {
  const a = new Float32Array([x])
  const u = new Uint32Array(a.buffer)
  u[0] = x >= 0 ? u[0]! + 1 : u[0]! - 1
  return a[0]!
}
function nextDown(x: number): number {
  return -nextUp(-x)
}

describe('f16', () => {
  it('decodes every finite half and encodes it back to the same bits', () => {
    const mismatches: number[] = []
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && f32ToF16Bits(f16BitsToF32(h)) !== h) mismatches.push(h)
    }
    expect(mismatches).toEqual([])
  })

  it('rounds to the nearest half, ties to even, at every midpoint between adjacent positive halves', () => {
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16BitsToF32(h)
      const hi = f16BitsToF32(h + 1)
      const mid = (lo + hi) / 2 // exact in float32: halves have 11 significant bits
      if (f32(mid) !== mid) throw new Error(`midpoint of ${h} and ${h + 1} is not a float32`)
      const even = h % 2 === 0 ? h : h + 1
      if (f32ToF16Bits(mid) !== even) throw new Error(`midpoint of ${h} and ${h + 1} gave ${f32ToF16Bits(mid)}`)
      if (f32ToF16Bits(nextDown(mid)) !== h || f32ToF16Bits(nextUp(mid)) !== h + 1) {
        throw new Error(`values around the midpoint of ${h} and ${h + 1} rounded the wrong way`)
      }
    }
  })

  it('handles signs, overflow, underflow, infinities and NaN like IEEE conversion', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00)
    expect(f32ToF16Bits(-2)).toBe(0xc000)
    expect(f32ToF16Bits(-0)).toBe(0x8000)
    expect(f32ToF16Bits(65504)).toBe(0x7bff)
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff)
    expect(f32ToF16Bits(65520)).toBe(0x7c00) // ties to even: rounds up into infinity
    expect(f32ToF16Bits(1e9)).toBe(0x7c00)
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00)
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001)
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000) // tie between 0 and the smallest subnormal: even wins
    expect(f32ToF16Bits(nextUp(2 ** -25))).toBe(0x0001)
    expect(f32ToF16Bits(1e-30)).toBe(0x0000)
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00)
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true)
  })

  it('encodes arrays little-endian and decodes them back', () => {
    const bytes = new Uint8Array(6)
    encodeF16(new Float32Array([1, -2, 0.5]), bytes)
    expect([...bytes]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38])
    expect([...decodeF16(bytes, 3)]).toEqual([1, -2, 0.5])
  })
})
