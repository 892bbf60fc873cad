import { describe, expect, it } from 'vitest'

import { dequantizeQ8_0, quantizeQ8_0, Q8_0_BLOCK_BYTES } from './q8-0.js'
import { seededUniform } from './test-data.js'

describe('Q8_0', () => {
  it('encodes the block x = j - 16 exactly as computed by hand', () => {
    // amax 16, so d = 16/127 = 0.125984…, whose nearest half is 0x3008 (0.125 + 8·2^-13);
    // q = roundf(x · 127/16), halves away from zero (±63.5 → ±64).
    const x = Float32Array.from({ length: 32 }, (_, j) => j - 16)
    const q = [-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8, 0, 8, 16, 24, 32, 40, 48, 56, 64, 71, 79, 87, 95, 103, 111, 119]
    const block = new Uint8Array(Q8_0_BLOCK_BYTES)
    quantizeQ8_0(x, block)
    expect([...block]).toEqual([0x08, 0x30, ...q.map((v) => v & 0xff)])
  })

  it('encodes an all-zero block as zero scale and zero weights', () => {
    const block = new Uint8Array(Q8_0_BLOCK_BYTES).fill(0xaa)
    quantizeQ8_0(new Float32Array(32), block)
    expect([...block]).toEqual(new Array(34).fill(0))
  })

  it('round-trips random weights within half a step (plus the F16 scale error) per block', () => {
    const x = seededUniform(32 * 500, 7, 3)
    const bytes = new Uint8Array(500 * Q8_0_BLOCK_BYTES)
    quantizeQ8_0(x, bytes)
    const y = dequantizeQ8_0(bytes, x.length)
    const outOfBounds: { block: number; j: number; error: number }[] = []
    for (let b = 0; b < 500; b++) {
      const block = x.subarray(b * 32, b * 32 + 32)
      const amax = Math.max(...block.map(Math.abs))
      const step = amax / 127
      for (let j = 0; j < 32; j++) {
        // half a step for rounding, plus 127 steps times the scale's relative F16 error (2^-11)
        const error = Math.abs(y[b * 32 + j]! - block[j]!)
        if (error > step / 2 + amax * 2 ** -11 + 1e-7) outOfBounds.push({ block: b, j, error })
      }
    }
    expect(outOfBounds).toEqual([])
  })

  it('refuses a weight count that is not a whole number of blocks', () => {
    expect(() => quantizeQ8_0(new Float32Array(31), new Uint8Array(34))).toThrow(/multiple of 32/)
  })
})
