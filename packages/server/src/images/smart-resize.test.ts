import { describe, expect, it } from 'vitest'
import { smartResize } from './smart-resize.js'

const qwen3 = { factor: 32, minPixels: 8 * 32 * 32, maxPixels: 1024 * 1024 }

describe('smartResize (Qwen smart_resize semantics, factor 32)', () => {
  it('shrinks a 12 MP photo under the budget with both sides multiples of 32', () => {
    const target = smartResize(4000, 3000, qwen3)
    expect(target).toEqual({ width: 1152, height: 864 })
    expect(target.width * target.height).toBeLessThanOrEqual(1024 * 1024)
  })

  it('only rounds an image that already fits the budget', () => {
    expect(smartResize(1000, 700, qwen3)).toEqual({ width: 992, height: 704 })
    expect(smartResize(1024, 1024, qwen3)).toEqual({ width: 1024, height: 1024 })
  })

  it('rounds halves to even, as Python round() does', () => {
    // 48 / 32 = 1.5 rounds to 2; 80 / 32 = 2.5 rounds to 2.
    expect(smartResize(48, 400, qwen3).width).toBe(64)
    expect(smartResize(80, 400, qwen3).width).toBe(64)
  })

  it('grows a tiny image only as far as the model minimum requires', () => {
    const target = smartResize(40, 30, qwen3)
    expect(target.width * target.height).toBeGreaterThanOrEqual(qwen3.minPixels)
    expect(target).toEqual({ width: 128, height: 96 })
  })

  it('keeps thin images at least one tile wide and within the budget', () => {
    const target = smartResize(20_000, 100, qwen3)
    expect(target.height).toBeGreaterThanOrEqual(32)
    expect(target.width % 32).toBe(0)
    expect(target.width * target.height).toBeLessThanOrEqual(1024 * 1024)
  })

  it('follows the low and high budgets', () => {
    expect(smartResize(4000, 3000, { ...qwen3, maxPixels: 512 * 512 })).toEqual({ width: 576, height: 416 })
    const high = smartResize(4000, 3000, { ...qwen3, maxPixels: 1536 * 1536 })
    expect(high.width * high.height).toBeLessThanOrEqual(1536 * 1536)
    expect(high.width).toBeGreaterThan(1152)
  })

  it('produces aligned sides within budget for many shapes', () => {
    for (let width = 1; width < 5000; width += 97) {
      for (let height = 1; height < 5000; height += 89) {
        const target = smartResize(width, height, qwen3)
        expect(target.width % 32).toBe(0)
        expect(target.height % 32).toBe(0)
        expect(target.width * target.height).toBeLessThanOrEqual(qwen3.maxPixels)
      }
    }
  })
})
