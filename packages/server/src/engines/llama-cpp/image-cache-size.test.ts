import { describe, expect, it } from 'vitest'
import { autoImageCacheCeilingMb, imageCacheMbPerEngine, usableMemoryBytes } from './image-cache-size.js'

const GiB = 1024 ** 3

describe('the embedding cache size', () => {
  it('takes an eighth of the memory on auto, up to the ceiling', () => {
    expect(imageCacheMbPerEngine('auto', 8 * GiB)).toBe(1024)
    expect(imageCacheMbPerEngine('auto', 24 * GiB)).toBe(3072)
    expect(imageCacheMbPerEngine('auto', 32 * GiB)).toBe(autoImageCacheCeilingMb)
    expect(imageCacheMbPerEngine('auto', 512 * GiB)).toBe(autoImageCacheCeilingMb)
    expect(imageCacheMbPerEngine('auto', 1 * GiB)).toBe(128)
  })

  it('splits auto over the children, which share the memory', () => {
    expect(imageCacheMbPerEngine('auto', 24 * GiB, 2)).toBe(1536)
    expect(imageCacheMbPerEngine('auto', 512 * GiB, 8)).toBe(512)
  })

  it('keeps a size given, whatever the memory and children', () => {
    expect(imageCacheMbPerEngine(256, 512 * GiB, 4)).toBe(256)
    expect(imageCacheMbPerEngine(0, 24 * GiB)).toBe(0)
  })

  it('reads a memory this process may use', () => {
    const bytes = usableMemoryBytes()
    expect(bytes).toBeGreaterThan(64 * 1024 * 1024)
    expect(Number.isFinite(bytes)).toBe(true)
  })
})
