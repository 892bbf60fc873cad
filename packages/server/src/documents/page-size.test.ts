import { describe, expect, it } from 'vitest'
import { pageRenderSize } from './page-size.js'

const rule = (budget: number) => ({ budget, minPixels: 8 * 32 * 32, alignTo: 32, maxDpi: 300 })

describe('pageRenderSize', () => {
  it('scales a US Letter page to fill each detail budget, sides multiples of 32', () => {
    // 612 x 792 pt scaled by sqrt(budget / area), then smart-resized.
    expect(pageRenderSize(612, 792, rule(512 * 512))).toEqual({ width: 448, height: 576 })
    expect(pageRenderSize(612, 792, rule(1024 * 1024))).toEqual({ width: 896, height: 1152 })
    expect(pageRenderSize(612, 792, rule(1536 * 1536))).toEqual({ width: 1344, height: 1728 })
  })

  it('keeps A4 landscape landscape', () => {
    expect(pageRenderSize(842, 595, rule(1024 * 1024))).toEqual({ width: 1216, height: 832 })
  })

  it('renders a huge page at the budget, not at its size', () => {
    expect(pageRenderSize(14400, 14400, rule(1024 * 1024))).toEqual({ width: 1024, height: 1024 })
  })

  it('never renders a small page finer than 300 dpi', () => {
    // A 2 x 1 inch label: 600 x 300 px at 300 dpi, well under the 1 MP budget.
    expect(pageRenderSize(144, 72, rule(1024 * 1024))).toEqual({ width: 608, height: 288 })
  })

  it('stays within every budget for any page shape', () => {
    for (const [w, h] of [
      [612, 792],
      [100, 5000],
      [5000, 100],
      [1, 1],
      [14400, 14400],
      [300, 7000],
    ] as const) {
      for (const budget of [512 * 512, 1024 * 1024, 1536 * 1536]) {
        const size = pageRenderSize(w, h, rule(budget))
        expect(size.width * size.height).toBeLessThanOrEqual(budget)
        expect(size.width % 32).toBe(0)
        expect(size.height % 32).toBe(0)
      }
    }
  })
})
