import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { listCachedModels, removeCachedModel } from './model-cache.js'
import { DEFAULT_MODEL, ModelNotFoundError, resolveModel } from './resolve.js'
import { fakeGguf, FakeHub } from '../../../../test-support/fake-hub.js'

let hub: FakeHub
let dir: string
let cacheDir: string

beforeEach(async () => {
  hub = new FakeHub()
  await hub.start()
  dir = await mkdtemp(join(tmpdir(), 'visto-model-cache-'))
  cacheDir = join(dir, 'cache')
})

afterEach(async () => {
  await hub.close()
  await rm(dir, { recursive: true, force: true })
})

const repoDir = (source: string, repo: string) => join(cacheDir, 'models', source, ...repo.split('/'))

async function pullDefault(): Promise<void> {
  hub.addRepo(DEFAULT_MODEL.repo, {
    [DEFAULT_MODEL.file]: { content: fakeGguf(40_000, 1) },
    [DEFAULT_MODEL.mmproj]: { content: fakeGguf(20_000, 2) },
  })
  await resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
}

describe('listCachedModels', () => {
  it('is empty for a cache that does not exist yet', async () => {
    expect(await listCachedModels(cacheDir)).toEqual([])
  })

  it('lists what a pull downloaded, per source and repository, with sizes, and a download that will resume as partial', async () => {
    await pullDefault()
    hub.addRepo('someone/other-GGUF', {
      'Q8_0/model-Q8_0.gguf': { content: fakeGguf(30_000, 3) },
      'mmproj-F16.gguf': { content: fakeGguf(10_000, 4) },
    })
    await resolveModel({ model: 'someone/other-GGUF:Q8_0', source: 'modelscope' }, { cacheDir, env: { MODELSCOPE_ENDPOINT: hub.endpoint } })
    await writeFile(join(repoDir('huggingface', DEFAULT_MODEL.repo), 'Qwen3VL-4B-Instruct-Q8_0.gguf.part'), Buffer.alloc(1234))

    expect(await listCachedModels(cacheDir)).toEqual([
      {
        source: 'huggingface',
        repo: DEFAULT_MODEL.repo,
        dir: repoDir('huggingface', DEFAULT_MODEL.repo),
        files: [
          { path: 'mmproj-Qwen3VL-4B-Instruct-F16.gguf', bytes: 20_000, partial: false },
          { path: 'Qwen3VL-4B-Instruct-Q4_K_M.gguf', bytes: 40_000, partial: false },
          { path: 'Qwen3VL-4B-Instruct-Q8_0.gguf.part', bytes: 1234, partial: true },
        ],
        bytes: 61_234,
      },
      {
        source: 'modelscope',
        repo: 'someone/other-GGUF',
        dir: repoDir('modelscope', 'someone/other-GGUF'),
        files: [
          { path: 'mmproj-F16.gguf', bytes: 10_000, partial: false },
          { path: 'Q8_0/model-Q8_0.gguf', bytes: 30_000, partial: false },
        ],
        bytes: 40_000,
      },
    ])
  })

  it('leaves out folders that hold no GGUF file (a listing that failed, an empty repository)', async () => {
    await mkdir(repoDir('huggingface', 'a/b'), { recursive: true })
    await writeFile(join(repoDir('huggingface', 'a/b'), 'visto-selections.json'), '{}')
    expect(await listCachedModels(cacheDir)).toEqual([])
  })
})

describe('removeCachedModel', () => {
  it('removes a whole repository and answers what it freed; a later resolve downloads again', async () => {
    await pullDefault()
    const removed = await removeCachedModel(cacheDir, DEFAULT_MODEL.repo)
    expect(removed).toEqual({
      dir: repoDir('huggingface', DEFAULT_MODEL.repo),
      files: ['mmproj-Qwen3VL-4B-Instruct-F16.gguf', 'Qwen3VL-4B-Instruct-Q4_K_M.gguf'],
      bytes: 60_000,
    })
    expect(existsSync(removed.dir)).toBe(false)
    expect(await listCachedModels(cacheDir)).toEqual([])
    const before = hub.requests.length
    await resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    expect(hub.requests.length - before).toBe(3)
  })

  it("removes one quant's model files and keeps the mmproj", async () => {
    hub.addRepo('someone/multi-GGUF', {
      'model-Q4_K_M.gguf': { content: fakeGguf(30_000, 1) },
      'model-Q8_0.gguf': { content: fakeGguf(50_000, 2) },
      'mmproj-Q8_0.gguf': { content: fakeGguf(9_000, 3) },
    })
    await resolveModel({ model: 'someone/multi-GGUF:Q8_0' }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    await resolveModel({ model: 'someone/multi-GGUF:Q4_K_M' }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    expect(await removeCachedModel(cacheDir, 'someone/multi-GGUF:Q8_0')).toMatchObject({ files: ['model-Q8_0.gguf'], bytes: 50_000 })
    expect((await listCachedModels(cacheDir))[0]!.files.map((file) => file.path)).toEqual(['mmproj-Q8_0.gguf', 'model-Q4_K_M.gguf'])
  })

  it('removes one file by name, a partial download included', async () => {
    await pullDefault()
    const part = join(repoDir('huggingface', DEFAULT_MODEL.repo), 'Qwen3VL-4B-Instruct-Q8_0.gguf.part')
    await writeFile(part, Buffer.alloc(10))
    expect(await removeCachedModel(cacheDir, `${DEFAULT_MODEL.repo}:Qwen3VL-4B-Instruct-Q8_0.gguf`)).toMatchObject({
      files: ['Qwen3VL-4B-Instruct-Q8_0.gguf.part'],
      bytes: 10,
    })
    expect(existsSync(part)).toBe(false)
    expect((await listCachedModels(cacheDir))[0]!.files).toHaveLength(2)
  })

  it('says what is cached when the repository, source or file is not there', async () => {
    await pullDefault()
    await expect(removeCachedModel(cacheDir, 'nobody/nothing')).rejects.toThrow(
      new ModelNotFoundError(`nobody/nothing from huggingface is not in the cache (${join(cacheDir, 'models')}). Cached:\n  ${DEFAULT_MODEL.repo} (huggingface)`),
    )
    await expect(removeCachedModel(cacheDir, DEFAULT_MODEL.repo, 'modelscope')).rejects.toThrow(/from modelscope is not in the cache/)
    await expect(removeCachedModel(cacheDir, `${DEFAULT_MODEL.repo}:Q2_K`)).rejects.toThrow(
      `${DEFAULT_MODEL.repo} has no cached file matching "Q2_K". Its cached files:\n  mmproj-Qwen3VL-4B-Instruct-F16.gguf\n  Qwen3VL-4B-Instruct-Q4_K_M.gguf`,
    )
    await expect(removeCachedModel(cacheDir, '../../etc')).rejects.toThrow('"../../etc" is not a cached model spec')
    expect((await listCachedModels(cacheDir))[0]!.files).toHaveLength(2)
  })
})
