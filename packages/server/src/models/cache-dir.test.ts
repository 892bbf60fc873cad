import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { cachedFilePath, defaultCacheDir } from './cache-dir.js'

describe('defaultCacheDir', () => {
  it('uses VISTO_CACHE first, with ~ expanded', () => {
    expect(defaultCacheDir({ VISTO_CACHE: '/data/visto', XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/data/visto')
    expect(defaultCacheDir({ VISTO_CACHE: '~/models', HOME: '/home/u' })).toBe('/home/u/models')
  })

  it('honours an absolute XDG_CACHE_HOME and ignores a relative one', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/visto')
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/visto')
  })

  it('defaults to ~/.cache/visto', () => {
    expect(defaultCacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/visto')
  })
})

describe('cachedFilePath', () => {
  it('lays files out as models/<source>/<owner>/<repo>/<path>', () => {
    expect(cachedFilePath('/c', 'huggingface', 'Qwen/Qwen3-VL-4B-Instruct-GGUF', 'Q4/x.gguf')).toBe(
      join('/c', 'models', 'huggingface', 'Qwen', 'Qwen3-VL-4B-Instruct-GGUF', 'Q4', 'x.gguf'),
    )
  })
})
