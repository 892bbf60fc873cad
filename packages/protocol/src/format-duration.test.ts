import { describe, expect, it } from 'vitest'
import { formatDuration } from './format-duration.js'

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [850.4, '850 ms'],
    [1234, '1.23 s'],
    [59_990, '59.99 s'],
    [111_382, '1m51s'],
    [119_600, '2m00s'],
    [3_599_000, '59m59s'],
    [3_600_000, '1h00m'],
    [7_500_000, '2h05m'],
    [NaN, '–'],
    [Infinity, '–'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})
