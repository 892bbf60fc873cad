import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { AmbiguousModelError, DEFAULT_MODEL, ModelIntegrityError, ModelNotFoundError, ModelUnavailableError, resolveModel } from './resolve.js'
import { fakeGguf, FakeHub, sha256 } from '../../../../test-support/fake-hub.js'

let hub: FakeHub
let dir: string
let cacheDir: string

beforeEach(async () => {
  hub = new FakeHub()
  await hub.start()
  dir = await mkdtemp(join(tmpdir(), 'visto-resolve-'))
  cacheDir = join(dir, 'cache')
})

afterEach(async () => {
  await hub.close()
  await rm(dir, { recursive: true, force: true })
})

const noNetwork: typeof fetch = () => Promise.reject(new Error('no request was expected'))

function addDefaultRepo(): { model: Buffer; mmproj: Buffer } {
  const model = fakeGguf(40_000, 1)
  const mmproj = fakeGguf(20_000, 2)
  hub.addRepo(DEFAULT_MODEL.repo, {
    [DEFAULT_MODEL.file]: { content: model },
    'Qwen3VL-4B-Instruct-Q8_0.gguf': { content: fakeGguf(50_000, 3) },
    [DEFAULT_MODEL.mmproj]: { content: mmproj },
    'mmproj-Qwen3VL-4B-Instruct-Q8_0.gguf': { content: fakeGguf(10_000, 4) },
    'README.md': { content: Buffer.from('# readme') },
  })
  return { model, mmproj }
}

const defaultDir = () => join(cacheDir, 'models', 'huggingface', 'Qwen', 'Qwen3-VL-4B-Instruct-GGUF')

describe('resolveModel from a hub', () => {
  it('downloads the default Qwen3-VL Q4_K_M model and F16 mmproj from the HF_ENDPOINT mirror into the cache', async () => {
    const { model, mmproj } = addDefaultRepo()
    const resolved = await resolveModel({}, { cacheDir, env: { HF_ENDPOINT: `${hub.endpoint}/` } })
    expect(resolved).toEqual({
      modelPath: join(defaultDir(), 'Qwen3VL-4B-Instruct-Q4_K_M.gguf'),
      mmprojPath: join(defaultDir(), 'mmproj-Qwen3VL-4B-Instruct-F16.gguf'),
      label: 'Qwen/Qwen3-VL-4B-Instruct-GGUF from Hugging Face (Qwen3VL-4B-Instruct-Q4_K_M.gguf + mmproj-Qwen3VL-4B-Instruct-F16.gguf)',
    })
    expect(hub.requests.map((r) => r.url)).toEqual([
      '/api/models/Qwen/Qwen3-VL-4B-Instruct-GGUF/tree/main?recursive=true',
      '/Qwen/Qwen3-VL-4B-Instruct-GGUF/resolve/main/Qwen3VL-4B-Instruct-Q4_K_M.gguf',
      '/Qwen/Qwen3-VL-4B-Instruct-GGUF/resolve/main/mmproj-Qwen3VL-4B-Instruct-F16.gguf',
    ])
    expect((await readFile(resolved.modelPath)).equals(model)).toBe(true)
    expect((await readFile(resolved.mmprojPath)).equals(mmproj)).toBe(true)
  })

  it('sends HF_TOKEN as a Bearer token on the listing and the downloads', async () => {
    addDefaultRepo()
    await resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint, HF_TOKEN: 'hf_abc123' } })
    expect(hub.requests).toHaveLength(3)
    for (const request of hub.requests) expect(request.headers.authorization).toBe('Bearer hf_abc123')
  })

  it('sends no Authorization header when no token is configured', async () => {
    addDefaultRepo()
    await resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    for (const request of hub.requests) expect(request.headers.authorization).toBeUndefined()
  })

  it('reuses cached files on the next start without a single request', async () => {
    addDefaultRepo()
    const env = { HF_ENDPOINT: hub.endpoint }
    const first = await resolveModel({}, { cacheDir, env })
    const before = hub.requests.length
    const again = await resolveModel({}, { cacheDir, env, fetch: noNetwork })
    expect(again).toEqual(first)
    expect(hub.requests.length).toBe(before)
  })

  it('resolves owner/repo:QUANT to the matching file and prefers the F16 mmproj', async () => {
    hub.addRepo('acme/vl-GGUF', {
      'vl-Q4_K_M.gguf': { content: fakeGguf(1_000, 1) },
      'vl-IQ4_K_M.gguf': { content: fakeGguf(1_000, 2) },
      'vl-Q8_0.gguf': { content: fakeGguf(1_000, 3) },
      'mmproj-vl-F32.gguf': { content: fakeGguf(1_000, 4) },
      'mmproj-vl-f16.gguf': { content: fakeGguf(1_000, 5) },
      'vl.safetensors': { content: Buffer.from('not gguf') },
    })
    const env = { HF_ENDPOINT: hub.endpoint }
    const resolved = await resolveModel({ model: 'acme/vl-GGUF:Q8_0' }, { cacheDir, env })
    const repoDir = join(cacheDir, 'models', 'huggingface', 'acme', 'vl-GGUF')
    expect(resolved.modelPath).toBe(join(repoDir, 'vl-Q8_0.gguf'))
    expect(resolved.mmprojPath).toBe(join(repoDir, 'mmproj-vl-f16.gguf'))
    expect(resolved.label).toBe('acme/vl-GGUF:Q8_0 from Hugging Face (vl-Q8_0.gguf + mmproj-vl-f16.gguf)')
    expect(hub.requests.map((r) => r.url).filter((u) => u.includes('/resolve/'))).toEqual([
      '/acme/vl-GGUF/resolve/main/vl-Q8_0.gguf',
      '/acme/vl-GGUF/resolve/main/mmproj-vl-f16.gguf',
    ])

    // A bare repo means Q4_K_M; once resolved, it resolves again offline.
    const bare = await resolveModel({ model: 'acme/vl-GGUF' }, { cacheDir, env })
    expect(bare.modelPath).toBe(join(repoDir, 'vl-Q4_K_M.gguf'))
    expect(await resolveModel({ model: 'acme/vl-GGUF' }, { cacheDir, env, fetch: noNetwork })).toEqual(bare)
    expect(await resolveModel({ model: 'acme/vl-GGUF:Q8_0' }, { cacheDir, env, fetch: noNetwork })).toEqual(resolved)
  })

  it('downloads every part of a split model and returns the first', async () => {
    hub.addRepo('acme/big-GGUF', {
      'Q4_K_M/big-Q4_K_M-00002-of-00002.gguf': { content: fakeGguf(1_000, 2) },
      'Q4_K_M/big-Q4_K_M-00001-of-00002.gguf': { content: fakeGguf(1_000, 1) },
      'mmproj-big-F16.gguf': { content: fakeGguf(1_000, 3) },
    })
    const resolved = await resolveModel({ model: 'acme/big-GGUF:Q4_K_M' }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    const repoDir = join(cacheDir, 'models', 'huggingface', 'acme', 'big-GGUF')
    expect(resolved.modelPath).toBe(join(repoDir, 'Q4_K_M', 'big-Q4_K_M-00001-of-00002.gguf'))
    expect(existsSync(join(repoDir, 'Q4_K_M', 'big-Q4_K_M-00002-of-00002.gguf'))).toBe(true)
  })

  it('lists the available quants when the asked one is missing', async () => {
    hub.addRepo('acme/vl-GGUF', {
      'vl-Q4_K_M.gguf': { content: fakeGguf(100) },
      'vl-Q8_0.gguf': { content: fakeGguf(100) },
      'mmproj-vl-f16.gguf': { content: fakeGguf(100) },
    })
    const attempt = resolveModel({ model: 'acme/vl-GGUF:Q5_K_S' }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelNotFoundError)
    await expect(attempt).rejects.toThrow('Hugging Face repository acme/vl-GGUF has no Q5_K_S file. Available: Q4_K_M, Q8_0.')
  })

  it('says the repository does not exist (or needs HF_TOKEN) when the hub refuses the listing', async () => {
    const attempt = resolveModel({ model: 'acme/nothing-here' }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelNotFoundError)
    await expect(attempt).rejects.toThrow('Hugging Face has no repository "acme/nothing-here" that we may read')
    await expect(attempt).rejects.toThrow('set HF_TOKEN')
    await expect(attempt).rejects.toThrow('is not a local file or folder either')
  })

  it('rejects a download whose sha256 differs from the listing and keeps nothing', async () => {
    hub.addRepo(DEFAULT_MODEL.repo, {
      [DEFAULT_MODEL.file]: { content: fakeGguf(1_000), listedSha256: '0'.repeat(64) },
      [DEFAULT_MODEL.mmproj]: { content: fakeGguf(1_000) },
    })
    const attempt = resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError)
    expect(existsSync(join(defaultDir(), DEFAULT_MODEL.file))).toBe(false)
  })

  it('names the file, its URL and the local path when a file is missing on the hub (404)', async () => {
    hub.addRepo(DEFAULT_MODEL.repo, {
      [DEFAULT_MODEL.file]: { content: fakeGguf(1_000), status: 404 },
      [DEFAULT_MODEL.mmproj]: { content: fakeGguf(1_000) },
    })
    const attempt = resolveModel({}, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelUnavailableError)
    const url = `${hub.endpoint}/Qwen/Qwen3-VL-4B-Instruct-GGUF/resolve/main/Qwen3VL-4B-Instruct-Q4_K_M.gguf`
    await expect(attempt).rejects.toThrow(`Qwen3VL-4B-Instruct-Q4_K_M.gguf was not found at ${url} (HTTP 404).`)
    await expect(attempt).rejects.toThrow(`save as:  ${join(defaultDir(), DEFAULT_MODEL.file)}`)
  })

  it('downloads from ModelScope with --source modelscope, using its file API and checking its Sha256', async () => {
    const model = fakeGguf(3_000, 1)
    hub.addRepo(DEFAULT_MODEL.repo, {
      [DEFAULT_MODEL.file]: { content: model },
      [DEFAULT_MODEL.mmproj]: { content: fakeGguf(2_000, 2) },
    })
    const resolved = await resolveModel({ source: 'modelscope' }, { cacheDir, env: { MODELSCOPE_ENDPOINT: hub.endpoint, HF_ENDPOINT: 'http://127.0.0.1:9' } })
    expect(hub.requests.map((r) => r.url)).toEqual([
      '/api/v1/models/Qwen/Qwen3-VL-4B-Instruct-GGUF/repo/files?Revision=master&Recursive=true',
      '/api/v1/models/Qwen/Qwen3-VL-4B-Instruct-GGUF/repo?Revision=master&FilePath=Qwen3VL-4B-Instruct-Q4_K_M.gguf',
      '/api/v1/models/Qwen/Qwen3-VL-4B-Instruct-GGUF/repo?Revision=master&FilePath=mmproj-Qwen3VL-4B-Instruct-F16.gguf',
    ])
    const msDir = join(cacheDir, 'models', 'modelscope', 'Qwen', 'Qwen3-VL-4B-Instruct-GGUF')
    expect(resolved.modelPath).toBe(join(msDir, DEFAULT_MODEL.file))
    expect(resolved.label).toContain('from ModelScope')
    expect((await readFile(resolved.modelPath)).equals(model)).toBe(true)
  })

  it('checks the ModelScope Sha256 too', async () => {
    hub.addRepo(DEFAULT_MODEL.repo, {
      [DEFAULT_MODEL.file]: { content: fakeGguf(3_000, 1), listedSha256: sha256(Buffer.from('other')) },
      [DEFAULT_MODEL.mmproj]: { content: fakeGguf(2_000, 2) },
    })
    const attempt = resolveModel({ source: 'modelscope' }, { cacheDir, env: { MODELSCOPE_ENDPOINT: hub.endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError)
  })

  it('uses a local --mmproj with a hub model and downloads only the model', async () => {
    addDefaultRepo()
    const mmproj = join(dir, 'my-mmproj.gguf')
    await writeFile(mmproj, fakeGguf(100))
    const resolved = await resolveModel({ mmproj }, { cacheDir, env: { HF_ENDPOINT: hub.endpoint } })
    expect(resolved.mmprojPath).toBe(mmproj)
    expect(hub.requests.filter((r) => r.url.includes('/resolve/'))).toHaveLength(1)
  })
})

describe('resolveModel offline', () => {
  it('names the exact files, their URLs and where to put them when the hub is unreachable', async () => {
    const endpoint = hub.endpoint
    await hub.close()
    const attempt = resolveModel({}, { cacheDir, env: { HF_ENDPOINT: endpoint } })
    await expect(attempt).rejects.toBeInstanceOf(ModelUnavailableError)
    const message = await attempt.catch((error: Error) => error.message)
    expect(message).toContain(`Could not reach Hugging Face at ${endpoint} (ECONNREFUSED`)
    expect(message).toContain('Visto needs these files from Hugging Face (Qwen/Qwen3-VL-4B-Instruct-GGUF):')
    expect(message).toContain(
      `  Qwen3VL-4B-Instruct-Q4_K_M.gguf\n    download: ${endpoint}/Qwen/Qwen3-VL-4B-Instruct-GGUF/resolve/main/Qwen3VL-4B-Instruct-Q4_K_M.gguf\n    save as:  ${join(defaultDir(), 'Qwen3VL-4B-Instruct-Q4_K_M.gguf')}`,
    )
    expect(message).toContain(
      `  mmproj-Qwen3VL-4B-Instruct-F16.gguf\n    download: ${endpoint}/Qwen/Qwen3-VL-4B-Instruct-GGUF/resolve/main/mmproj-Qwen3VL-4B-Instruct-F16.gguf\n    save as:  ${join(defaultDir(), 'mmproj-Qwen3VL-4B-Instruct-F16.gguf')}`,
    )
    expect(message).toContain('visto serve --model /path/to/model.gguf --mmproj /path/to/mmproj.gguf')
    expect(message).toContain('set HF_ENDPOINT to a mirror')
  })

  it('starts from files a person copied to the paths the offline message names', async () => {
    await hub.close()
    await mkdir(defaultDir(), { recursive: true })
    await writeFile(join(defaultDir(), DEFAULT_MODEL.file), fakeGguf(100))
    await writeFile(join(defaultDir(), DEFAULT_MODEL.mmproj), fakeGguf(100))
    const resolved = await resolveModel({}, { cacheDir, fetch: noNetwork })
    expect(resolved.modelPath).toBe(join(defaultDir(), DEFAULT_MODEL.file))
  })

  it('names the repository folder and the quant when it cannot list a repository', async () => {
    const endpoint = hub.endpoint
    await hub.close()
    const message = await resolveModel({ model: 'acme/vl-GGUF:Q8_0' }, { cacheDir, env: { HF_ENDPOINT: endpoint } }).catch((error: Error) => error.message)
    expect(message).toContain('Visto needs the Q8_0 .gguf file and the mmproj*.gguf file (F16 preferred) of acme/vl-GGUF')
    expect(message).toContain(`listed at ${endpoint}/acme/vl-GGUF`)
    expect(message).toContain(`copy them into ${join(cacheDir, 'models', 'huggingface', 'acme', 'vl-GGUF')}`)
  })

  it('makes no request at all when HF_HUB_OFFLINE is set', async () => {
    const attempt = resolveModel({}, { cacheDir, env: { HF_HUB_OFFLINE: '1' }, fetch: noNetwork })
    await expect(attempt).rejects.toThrow('HF_HUB_OFFLINE is set and Qwen/Qwen3-VL-4B-Instruct-GGUF is not in the cache')
  })
})

describe('resolveModel from local files', () => {
  it('takes a .gguf file and finds its mmproj next to it', async () => {
    const model = join(dir, 'qwen-Q4_K_M.gguf')
    await writeFile(model, fakeGguf(100))
    await writeFile(join(dir, 'mmproj-qwen-F16.gguf'), fakeGguf(100))
    const resolved = await resolveModel({ model }, { cacheDir, fetch: noNetwork })
    expect(resolved).toEqual({ modelPath: model, mmprojPath: join(dir, 'mmproj-qwen-F16.gguf'), label: `${model} + mmproj-qwen-F16.gguf` })
  })

  it('prefers an explicit --mmproj over a sibling', async () => {
    const model = join(dir, 'qwen.gguf')
    const mmproj = join(dir, 'elsewhere', 'projector.gguf')
    await mkdir(join(dir, 'elsewhere'))
    await writeFile(model, fakeGguf(100))
    await writeFile(join(dir, 'mmproj-qwen-F16.gguf'), fakeGguf(100))
    await writeFile(mmproj, fakeGguf(100))
    expect((await resolveModel({ model, mmproj }, { cacheDir, fetch: noNetwork })).mmprojPath).toBe(mmproj)
  })

  it('picks the one model and the mmproj inside a folder', async () => {
    await writeFile(join(dir, 'Qwen3VL-4B-Instruct-Q4_K_M.gguf'), fakeGguf(100))
    await writeFile(join(dir, 'mmproj-Qwen3VL-4B-Instruct-F16.gguf'), fakeGguf(100))
    await writeFile(join(dir, 'notes.txt'), 'hello')
    const resolved = await resolveModel({ model: dir }, { cacheDir, fetch: noNetwork })
    expect(resolved.modelPath).toBe(join(dir, 'Qwen3VL-4B-Instruct-Q4_K_M.gguf'))
    expect(resolved.mmprojPath).toBe(join(dir, 'mmproj-Qwen3VL-4B-Instruct-F16.gguf'))
  })

  it('follows symbolic links to model files in a folder', async () => {
    const store = join(dir, 'store')
    const folder = join(dir, 'links')
    await mkdir(store)
    await mkdir(folder)
    await writeFile(join(store, 'a.gguf'), fakeGguf(100))
    await writeFile(join(store, 'b.gguf'), fakeGguf(100))
    await symlink(join(store, 'a.gguf'), join(folder, 'model.gguf'))
    await symlink(join(store, 'b.gguf'), join(folder, 'mmproj.gguf'))
    const resolved = await resolveModel({ model: folder }, { cacheDir, fetch: noNetwork })
    expect(resolved.modelPath).toBe(join(folder, 'model.gguf'))
    expect(resolved.mmprojPath).toBe(join(folder, 'mmproj.gguf'))
  })

  it('refuses a folder with several models and lists them', async () => {
    await writeFile(join(dir, 'qwen-Q4_K_M.gguf'), fakeGguf(100))
    await writeFile(join(dir, 'qwen-Q8_0.gguf'), fakeGguf(100))
    await writeFile(join(dir, 'mmproj-qwen-F16.gguf'), fakeGguf(100))
    const attempt = resolveModel({ model: dir }, { cacheDir, fetch: noNetwork })
    await expect(attempt).rejects.toBeInstanceOf(AmbiguousModelError)
    await expect(attempt).rejects.toThrow(
      `${dir} holds several models; which one?\n  qwen-Q4_K_M.gguf\n  qwen-Q8_0.gguf\nName the one you mean: --model ${join(dir, '<one of the files above>')}`,
    )
    const error = (await attempt.catch((e: unknown) => e)) as AmbiguousModelError
    expect(error.candidates).toEqual(['qwen-Q4_K_M.gguf', 'qwen-Q8_0.gguf'])
  })

  it('asks for --mmproj when no mmproj is next to the model', async () => {
    const model = join(dir, 'qwen.gguf')
    await writeFile(model, fakeGguf(100))
    await expect(resolveModel({ model }, { cacheDir, fetch: noNetwork })).rejects.toThrow(
      `There is no mmproj*.gguf file next to ${model}. Qwen3-VL reads images through its vision projector (mmproj); pass it with --mmproj /path/to/mmproj.gguf.`,
    )
  })

  it('refuses a file that is not GGUF', async () => {
    const model = join(dir, 'model.gguf')
    await writeFile(model, 'PK\u0003\u0004 a zip, renamed')
    await writeFile(join(dir, 'mmproj.gguf'), fakeGguf(100))
    await expect(resolveModel({ model }, { cacheDir, fetch: noNetwork })).rejects.toThrow(`--model ${model} is not a GGUF file`)
  })

  it('explains when the mmproj was passed as the model', async () => {
    const model = join(dir, 'mmproj-qwen-F16.gguf')
    await writeFile(model, fakeGguf(100))
    await expect(resolveModel({ model }, { cacheDir, fetch: noNetwork })).rejects.toThrow('is an mmproj (the vision projector), not the language model')
  })

  it('says a path does not exist rather than asking a hub for it', async () => {
    const missing = join(dir, 'nope', 'model.gguf')
    const attempt = resolveModel({ model: missing }, { cacheDir, fetch: noNetwork })
    await expect(attempt).rejects.toBeInstanceOf(ModelNotFoundError)
    await expect(attempt).rejects.toThrow(`--model ${missing}: there is no such file or folder`)
  })
})
