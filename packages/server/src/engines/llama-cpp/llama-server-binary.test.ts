import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { BUILD_RECIPE, enginePatches, engineRoot, findCachedBuild } from './engine-build.js'
import { locateLlamaServer } from './llama-server-binary.js'

function fakeBinary(dir: string, exitCode = 0): string {
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'llama-server')
  writeFileSync(file, `#!/bin/sh\necho "version: test"\nexit ${exitCode}\n`)
  chmodSync(file, 0o755)
  return file
}

describe('locateLlamaServer', () => {
  const emptyCache = () => mkdtempSync(path.join(os.tmpdir(), 'visto-engine-cache-'))

  it('uses --llama-server first, and refuses a path that is not executable', async () => {
    const explicit = fakeBinary(mkdtempSync(path.join(os.tmpdir(), 'visto-bin-')))
    const onPath = mkdtempSync(path.join(os.tmpdir(), 'visto-path-'))
    fakeBinary(onPath)
    expect(await locateLlamaServer({ explicitPath: explicit, cacheDir: emptyCache(), env: { PATH: onPath }, build: false })).toEqual({ path: explicit, origin: 'flag' })
    await expect(locateLlamaServer({ explicitPath: '/nonexistent/llama-server', cacheDir: emptyCache(), build: false })).rejects.toThrow(
      '--llama-server /nonexistent/llama-server is not an executable file.',
    )
  })

  it('then takes a working llama-server on PATH, skipping one that does not run', async () => {
    const good = mkdtempSync(path.join(os.tmpdir(), 'visto-path-'))
    const broken = mkdtempSync(path.join(os.tmpdir(), 'visto-path-'))
    fakeBinary(broken, 1)
    const expected = fakeBinary(good)
    expect(await locateLlamaServer({ cacheDir: emptyCache(), env: { PATH: `${broken}:${good}` }, build: false })).toEqual({ path: expected, origin: 'path' })
  })

  it('then the cached build, which counts only once its stamp is written for the current patches and build recipe', async () => {
    const cacheDir = emptyCache()
    const buildDir = path.join(engineRoot(cacheDir), 'build-cpu')
    const binary = fakeBinary(path.join(buildDir, 'bin'))
    expect(findCachedBuild(cacheDir, 'cpu')).toBeUndefined()
    writeFileSync(path.join(buildDir, 'visto-build.json'), JSON.stringify({ patches: 'from-an-older-visto', recipe: BUILD_RECIPE }))
    expect(findCachedBuild(cacheDir, 'cpu')).toBeUndefined()
    // Built with the current patches by an earlier recipe (the flags changed): built again.
    writeFileSync(path.join(buildDir, 'visto-build.json'), JSON.stringify({ patches: enginePatches().hash }))
    expect(findCachedBuild(cacheDir, 'cpu')).toBeUndefined()
    writeFileSync(path.join(buildDir, 'visto-build.json'), JSON.stringify({ patches: enginePatches().hash, recipe: BUILD_RECIPE }))
    expect(findCachedBuild(cacheDir, 'cpu')?.llamaServer).toBe(binary)
  })

  it('says how to get an engine when there is none and building is not allowed', async () => {
    await expect(locateLlamaServer({ cacheDir: emptyCache(), env: { PATH: '' }, build: false })).rejects.toThrow(
      /Run `npx visto engine build` \(needs git, cmake and a C\+\+ compiler\)/,
    )
  })
})
