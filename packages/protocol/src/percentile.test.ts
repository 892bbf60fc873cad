import { describe, expect, it } from 'vitest'
import { percentile } from './percentile.js'

describe('percentile', () => {
  it('is nearest-rank: the smallest value with at least p% of the values at or below it', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(values, 50)).toBe(50)
    expect(percentile(values, 95)).toBe(95)
    expect(percentile(values, 99)).toBe(99)
    expect(percentile(values, 100)).toBe(100)
    expect(percentile(values, 0)).toBe(1)
  })

  it('never blends two values the way linear interpolation would', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2)
    expect(percentile([100, 200], 50)).toBe(100)
    expect(percentile([100, 200], 51)).toBe(200)
  })

  it('is the maximum for p95 of fewer than 20 values', () => {
    const values = Array.from({ length: 19 }, (_, i) => (i + 1) * 10)
    expect(percentile(values, 95)).toBe(190)
    expect(percentile([...values, 200], 95)).toBe(190)
  })

  it('handles one value and none', () => {
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })
})
