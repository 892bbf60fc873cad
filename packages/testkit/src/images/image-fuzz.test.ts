import { describe, expect, it } from 'vitest'
import { fuzzSeeds } from './fuzz-seeds.js'
import { checkAccepted, classifyFailure, createRandom, fuzzCase } from './image-fuzz.js'

class FakeApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message)
  }
}

describe('image fuzz cases', () => {
  it('gives the same case for the same seed and index, and a different one for another seed', async () => {
    const seeds = await fuzzSeeds()
    const first = Array.from({ length: 64 }, (_, i) => fuzzCase(seeds, i, 7))
    expect(Array.from({ length: 64 }, (_, i) => fuzzCase(seeds, i, 7))).toEqual(first)
    expect(Array.from({ length: 64 }, (_, i) => fuzzCase(seeds, i, 8).url)).not.toEqual(first.map((c) => c.url))
  })

  it('rotates through every kind of damage within eight consecutive cases', async () => {
    const seeds = await fuzzSeeds()
    const labels = Array.from({ length: 8 }, (_, i) => fuzzCase(seeds, i, 1).label)
    expect(labels[0]).toMatch(/^random bytes behind \S+ magic/)
    expect(labels[1]).toMatch(/ truncated at \d+\/\d+ /)
    expect(labels[3]).toMatch(/ with \d+ random bytes changed /)
    expect(labels[4]).toMatch(/ whose header claims -?\d+x-?\d+ /)
    expect(labels[5]).toMatch(/^intact /)
    expect(labels[6]).toMatch(/ head spliced onto \S+ tail /)
    expect(labels[7]).toBe('malformed image URL shape')
  })

  it('draws numbers in [0, 1) that differ between nearby seeds', () => {
    const a = createRandom(1)
    const b = createRandom(2)
    const draws = Array.from({ length: 1000 }, () => a())
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(new Set(draws).size).toBeGreaterThan(990)
    expect(b()).not.toBe(createRandom(1)())
  })
})

describe('fuzz verdicts', () => {
  it('accepts only a 400/413 API error with an image message as a refusal', () => {
    expect(classifyFailure(new FakeApiError(400, 'invalid_image', 'Invalid image data in messages[0]: truncated'), FakeApiError)).toEqual({
      kind: 'refused',
      status: 400,
      code: 'invalid_image',
    })
    expect(classifyFailure(new FakeApiError(413, null, 'Image too large in messages[0]: 9 MB'), FakeApiError)).toEqual({ kind: 'refused', status: 413, code: null })
    expect(classifyFailure(new TypeError('x is undefined'), FakeApiError)).toEqual({ kind: 'violation', reason: 'not an ApiError: TypeError: x is undefined' })
    expect(classifyFailure(new FakeApiError(500, null, 'Invalid image data in x'), FakeApiError)).toEqual({ kind: 'violation', reason: 'status 500: Invalid image data in x' })
    expect(classifyFailure(new FakeApiError(400, null, 'Bad request'), FakeApiError)).toEqual({ kind: 'violation', reason: 'message: Bad request' })
  })

  it('accepts only an aligned, in-budget, non-empty image', () => {
    const image = { width: 64, height: 32, data: Buffer.from([1]), mime: 'image/jpeg' }
    expect(checkAccepted(image, 32, 4096)).toEqual({ kind: 'accepted' })
    expect(checkAccepted({ ...image, width: 65 }, 32, 4096)).toEqual({ kind: 'violation', reason: 'unaligned output 65x32' })
    expect(checkAccepted(image, 32, 1024)).toEqual({ kind: 'violation', reason: 'output 64x32 over budget' })
    expect(checkAccepted({ ...image, data: Buffer.alloc(0) }, 32, 4096)).toEqual({ kind: 'violation', reason: 'empty output' })
  })
})
