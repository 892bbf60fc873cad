import { describe, expect, it } from 'vitest'
import { formatBytes } from './format-bytes.js'

describe('formatBytes', () => {
  it.each([
    [0, '0 bytes'],
    [1023, '1023 bytes'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [150 * 1024, '150 KiB'],
    [20 * 1024 ** 2, '20 MiB'],
    [50 * 1024 ** 2 + 1, '50 MiB'],
    [12.34 * 1024 ** 2, '12.3 MiB'],
    [3.3e9, '3.1 GiB'],
    [2 * 1024 ** 4, '2048 GiB'],
  ])('writes %i as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text)
  })
})
