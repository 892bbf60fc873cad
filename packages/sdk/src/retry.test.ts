import { describe, expect, it } from 'vitest'
import { isRetryableStatus, retryAfterMs, retryDelayMs } from './index.js'

describe('retry policy', () => {
  it('retries 408, 409, 429 and 5xx only', () => {
    expect([400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504].filter(isRetryableStatus)).toEqual([408, 409, 429, 500, 502, 503, 504])
  })

  it('reads retry-after-ms first, then Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250)
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }), now)).toBe(2000)
    expect(retryAfterMs(new Headers({ 'retry-after': '0.5' }), now)).toBe(500)
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000)
    expect(retryAfterMs(new Headers({ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now)).toBe(0)
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined()
    expect(retryAfterMs(new Headers(), now)).toBeUndefined()
  })

  it('backs off exponentially with at most 25% jitter, capped, unless the server asks for a sane delay', () => {
    const noJitter = () => 0
    const fullJitter = () => 1
    expect([0, 1, 2, 3, 10].map((retry) => retryDelayMs(retry, undefined, {}, noJitter))).toEqual([500, 1000, 2000, 4000, 8000])
    expect(retryDelayMs(1, undefined, {}, fullJitter)).toBe(750)
    expect(retryDelayMs(0, new Headers({ 'retry-after': '3' }), {}, noJitter)).toBe(3000)
    // An absurd Retry-After (an hour) is not obeyed blindly.
    expect(retryDelayMs(0, new Headers({ 'retry-after': '3600' }), {}, noJitter)).toBe(500)
  })
})
