import { readdir, readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'

describe('the protocol package', () => {
  it('imports only its own modules, so browsers load it unbundled from /protocol/ and the package keeps no runtime dependencies', async () => {
    const dir = new URL('./', import.meta.url)
    const sources = (await readdir(dir)).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
    expect(sources).toContain('sse.ts')
    for (const name of sources) {
      const text = await readFile(new URL(name, dir), 'utf8')
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((match) => match[1])
      for (const specifier of specifiers) expect(specifier, `${name} imports ${specifier}`).toMatch(/^\.\/[\w-]+\.js$/)
    }
  })
})
