import { describe, expect, it } from 'vitest'

import { dequantizeQ4_0, quantizeQ4_0, Q4_0_BLOCK_BYTES } from './q4-0.js'
import { seededUniform } from './test-data.js'

describe('Q4_0', () => {
  it('encodes the block x = j - 16 exactly as computed by hand', () => {
    // The largest magnitude is -16, so d = -16 / -8 = 2 (half 0x4000) and
    // q = min(15, trunc(x/2 + 8.5)): x = -16..-1 gives 0,1,1,2,2,…,7,7,8 and x = 0..15 gives
    // 8,9,9,…,15,15,15 (16 clamps to 15). Byte j = q[j] | q[j+16] << 4.
    const x = Float32Array.from({ length: 32 }, (_, j) => j - 16)
    const block = new Uint8Array(Q4_0_BLOCK_BYTES)
    quantizeQ4_0(x, block)
    expect([...block]).toEqual([0x00, 0x40, 0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8])
    expect([...dequantizeQ4_0(block, 32)].slice(0, 4)).toEqual([-16, -14, -14, -12])
  })

  it('keeps the sign of the largest-magnitude weight in the scale', () => {
    const x = new Float32Array(32)
    x[5] = 8 // largest magnitude positive: d = 8 / -8 = -1, so x = 8 maps to q = 0
    const block = new Uint8Array(Q4_0_BLOCK_BYTES)
    quantizeQ4_0(x, block)
    expect([block[0], block[1]]).toEqual([0x00, 0xbc]) // -1 as a half
    expect(block[2 + 5]! & 0x0f).toBe(0)
    expect(dequantizeQ4_0(block, 32)[5]).toBe(8)
  })

  it('round-trips random weights within one step per block', () => {
    const x = seededUniform(32 * 500, 11, 0.5)
    const bytes = new Uint8Array(500 * Q4_0_BLOCK_BYTES)
    quantizeQ4_0(x, bytes)
    const y = dequantizeQ4_0(bytes, x.length)
    const outOfBounds: { block: number; j: number; error: number }[] = []
    for (let b = 0; b < 500; b++) {
      const block = x.subarray(b * 32, b * 32 + 32)
      const amax = Math.max(...block.map(Math.abs))
      const step = amax / 8
      for (let j = 0; j < 32; j++) {
        // half a step for rounding, a full step where +amax clamps to 15, plus the F16 scale error
        const error = Math.abs(y[b * 32 + j]! - block[j]!)
        if (error > step + amax * 2 ** -10 + 1e-7) outOfBounds.push({ block: b, j, error })
      }
    }
    expect(outOfBounds).toEqual([])
  })
})
