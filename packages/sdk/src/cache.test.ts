import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { cacheKey, createClient, MemoryCache, type ChatCompletionRequest } from './index.js'
import { DiskCache } from './node.js'
import { completion, ok, startScriptedServer, apiError, type ScriptedServer } from '../../../test-support/scripted-server.js'

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64')
const JPEG = Buffer.from('ffd8ffe000104a464946', 'hex').toString('base64')

const request = (overrides: Partial<ChatCompletionRequest> = {}, image = `data:image/png;base64,${PNG}`): ChatCompletionRequest => ({
  model: 'qwen3-vl-4b-instruct',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: image } },
      ],
    },
  ],
  max_tokens: 512,
  temperature: 0.3,
  ...overrides,
})

describe('cacheKey', () => {
  it('is a sha256 hex digest that ignores key order, streaming flags, MIME labels and image_url spelling', async () => {
    const key = await cacheKey(request())
    expect(key).toMatch(/^[0-9a-f]{64}$/)
    const reordered = { temperature: 0.3, max_tokens: 512, messages: request().messages, model: 'qwen3-vl-4b-instruct' }
    expect(await cacheKey(reordered)).toBe(key)
    expect(await cacheKey(request({ stream: true, stream_options: { include_usage: true }, user: 'u1' }))).toBe(key)
    expect(await cacheKey(request({}, `data:image/jpeg;base64,${PNG}`))).toBe(key)
    const bareString: ChatCompletionRequest = request()
    bareString.messages[0]!.content = [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: `data:image/png;base64,${PNG}` },
    ]
    expect(await cacheKey(bareString)).toBe(key)
    expect(await cacheKey(request({ max_tokens: undefined, max_completion_tokens: 512 }))).toBe(key)
  })

  it('changes with the model, the image bytes, the question and every sampling parameter', async () => {
    const key = await cacheKey(request())
    const variants = [
      request({ model: 'other' }),
      request({}, `data:image/png;base64,${JPEG}`),
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What else?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            ],
          },
        ],
      }),
      request({ temperature: 0.7 }),
      request({ max_tokens: 1024 }),
      request({ top_p: 0.9 }),
      request({ seed: 42 }),
      request({ stop: ['\n'] }),
    ]
    const keys = await Promise.all(variants.map(cacheKey))
    expect(new Set([key, ...keys]).size).toBe(variants.length + 1)
  })
})

describe('caching through the client', () => {
  let server: ScriptedServer
  let dir: string
  beforeEach(async () => {
    server = await startScriptedServer()
    dir = await mkdtemp(join(tmpdir(), 'visto-sdk-cache-'))
  })
  afterEach(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
    vi.unstubAllEnvs()
  })

  it('answers a repeated question from the cache without a request and says so', async () => {
    server.script(ok('A red square.'))
    const client = createClient({ baseURL: server.url, cache: new MemoryCache() })
    const image = Buffer.from(PNG, 'base64')
    const first = await client.ask(image, 'What is this?')
    const second = await client.ask(image, 'What is this?')
    expect(server.requests).toHaveLength(1)
    expect(first.cached).toBe(false)
    expect(second).toMatchObject({ cached: true, text: 'A red square.', attempts: 0 })
    expect(client.metrics.summary()).toMatchObject({ requests: 2, cached: 1, succeeded: 2 })
  })

  it('asks again when the question or the sampling differ, and when told to skip the cache', async () => {
    const client = createClient({ baseURL: server.url, cache: new MemoryCache() })
    const image = Buffer.from(PNG, 'base64')
    await client.ask(image, 'What is this?')
    await client.ask(image, 'What colour?')
    await client.ask(image, 'What is this?', { temperature: 0.9 })
    await client.ask(image, 'What is this?', { cache: false })
    expect(server.requests).toHaveLength(4)
  })

  it('does not cache errors', async () => {
    server.script(apiError(400, 'nope'), ok('yes'))
    const client = createClient({ baseURL: server.url, cache: new MemoryCache() })
    await expect(client.ask(undefined, 'q')).rejects.toThrow('nope')
    expect((await client.ask(undefined, 'q')).text).toBe('yes')
    expect(server.requests).toHaveLength(2)
  })

  it('keeps one JSON file per key on disk, survives a new process-like instance and leaves no temp files', async () => {
    server.script(ok('persisted answer'))
    const first = createClient({ baseURL: server.url, cache: dir })
    await first.ask(undefined, 'remember me')
    const files = await readdir(dir)
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.json$/)
    const entry = JSON.parse(await readFile(join(dir, files[0]!), 'utf8'))
    expect(entry.completion.choices[0].message.content).toBe('persisted answer')

    const second = createClient({ baseURL: server.url, cache: new DiskCache(dir) })
    const result = await second.ask(undefined, 'remember me')
    expect(result).toMatchObject({ cached: true, text: 'persisted answer' })
    expect(server.requests).toHaveLength(1)
  })

  it('treats an unreadable cache file as a miss and replaces it', async () => {
    const cache = new DiskCache(dir)
    const key = 'a'.repeat(64)
    await writeFile(join(dir, `${key}.json`), '{"truncated":')
    expect(await cache.get(key)).toBeUndefined()
    await cache.set(key, completion('fresh'))
    expect((await cache.get(key))?.choices[0]?.message.content).toBe('fresh')
    expect(await readdir(dir)).toEqual([`${key}.json`])
  })

  it('keeps cached answers private: the folder 0700, each file 0600', async () => {
    const cacheDir = join(dir, 'nested', 'results')
    const cache = new DiskCache(cacheDir)
    const key = 'b'.repeat(64)
    await cache.set(key, completion('private'))
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(cacheDir, `${key}.json`))).mode & 0o777).toBe(0o600)
  })

  it('uses a disk cache under XDG_CACHE_HOME when cache is true in Node', async () => {
    vi.stubEnv('XDG_CACHE_HOME', dir)
    const client = createClient({ baseURL: server.url, cache: true })
    await client.ask(undefined, 'where do you go?')
    expect(await readdir(join(dir, 'visto', 'results'))).toHaveLength(1)
  })
})

describe('sha256 fallback', () => {
  it('matches node:crypto for empty, block-boundary and random inputs', async () => {
    const { createHash, randomBytes } = await import('node:crypto')
    const { sha256Pure } = await import('./sha256.js')
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
      const data = new Uint8Array(randomBytes(length))
      expect(hex(sha256Pure(data)), `length ${length}`).toBe(createHash('sha256').update(data).digest('hex'))
    }
  })
})
