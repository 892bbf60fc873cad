import { afterEach, describe, expect, it, vi } from 'vitest'
import { ProgressReporter } from './progress.js'

function fakeStream(isTTY: boolean) {
  const writes: string[] = []
  const write = (text: string): boolean => {
    writes.push(text)
    return true
  }
  const stream = { isTTY, columns: 100, write } as unknown as NodeJS.WriteStream
  return { stream, writes }
}

afterEach(() => {
  vi.unstubAllEnvs()
})

describe('ProgressReporter', () => {
  it('redraws one bar line with rate, ETA and failures on a TTY', () => {
    vi.stubEnv('NO_COLOR', '1')
    const { stream, writes } = fakeStream(true)
    const progress = new ProgressReporter({ label: 'batch', stream })
    progress.update({ total: 4, completed: 1, failed: 1, ratePerSecond: 2, etaMs: 1500 })
    expect(writes.at(-1)).toMatch(/^\r\x1b\[2Kbatch █+░+ 1\/4 \(25%\) · 1 failed · 2\.00\/s · ETA 1\.50 s$/)
    progress.log('✗ a.png: broken')
    expect(writes.slice(-3)).toEqual(['\r\x1b[2K', '✗ a.png: broken\n', expect.stringMatching(/^\r\x1b\[2Kbatch /)])
    progress.update({ total: 4, completed: 4, failed: 1, ratePerSecond: 2, etaMs: 0 })
    progress.done()
    expect(writes.at(-1)).toBe('\n')
    expect(writes.join('')).not.toContain('\x1b[3')
  })

  it('colours the bar on a TTY unless NO_COLOR is set', () => {
    vi.stubEnv('NO_COLOR', '')
    const { stream, writes } = fakeStream(true)
    new ProgressReporter({ label: 'b', stream }).update({ total: 2, completed: 1, failed: 0, ratePerSecond: 1, etaMs: 1000 })
    expect(writes.join('')).toContain('\x1b[32m')
  })

  it('prints plain lines at most once per interval when not a TTY, and always the final one', () => {
    const { stream, writes } = fakeStream(false)
    const progress = new ProgressReporter({ label: 'batch', stream, intervalMs: 60_000 })
    for (let i = 1; i <= 5; i++) progress.update({ total: 5, completed: i, failed: 0, ratePerSecond: 1, etaMs: (5 - i) * 1000 })
    progress.update({ total: 5, completed: 5, failed: 0, ratePerSecond: 0.9, etaMs: 0 })
    expect(writes).toEqual(['batch: 1/5 (20%) · 0 failed · 1.00/s · ETA 4.00 s\n', 'batch: 5/5 (100%) · 0 failed · 1.00/s · ETA 0 ms\n'])
  })
})
