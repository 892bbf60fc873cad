import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { downloadFile, DownloadInterruptedError } from './download.js'
import type { DownloadProgress } from './download-progress.js'
import { ModelIntegrityError, ModelUnavailableError } from './model-errors.js'
import { fakeGguf, FakeHub, sha256 } from '../../../../test-support/fake-hub.js'

const REPO = 'acme/tiny-GGUF'
let hub: FakeHub
let dir: string

beforeEach(async () => {
  hub = new FakeHub()
  await hub.start()
  dir = await mkdtemp(join(tmpdir(), 'visto-download-'))
})

afterEach(async () => {
  await hub.close()
  await rm(dir, { recursive: true, force: true })
})

function fileUrl(path: string, endpoint = hub.endpoint): string {
  return `${endpoint}/${REPO}/resolve/main/${path}`
}

describe('downloadFile', () => {
  it('resumes an interrupted transfer with a Range request and ends with the published sha256', async () => {
    const content = fakeGguf(300_000)
    hub.addRepo(REPO, { 'm.gguf': { content, dropAfterBytes: 100_000 } })
    const dest = join(dir, 'm.gguf')
    const options = { url: fileUrl('m.gguf'), dest, expectedSize: content.length, sha256: sha256(content), retries: 0 }

    const first = downloadFile(options)
    await expect(first).rejects.toBeInstanceOf(DownloadInterruptedError)
    await expect(first).rejects.toThrow(/kept in .*m\.gguf\.part; the next attempt resumes/)
    expect(existsSync(dest)).toBe(false)
    const partial = (await stat(`${dest}.part`)).size
    expect(partial).toBeGreaterThan(0)
    expect(partial).toBeLessThan(content.length)

    const second = await downloadFile(options)
    expect(second).toEqual({ path: dest, downloaded: true })
    const gets = hub.requestsTo(`/${REPO}/resolve/main/m.gguf`)
    expect(gets).toHaveLength(2)
    expect(gets[0]!.headers.range).toBeUndefined()
    expect(gets[1]!.headers.range).toBe(`bytes=${partial}-`)
    expect(sha256(await readFile(dest))).toBe(sha256(content))
    expect(existsSync(`${dest}.part`)).toBe(false)
    expect(existsSync(`${dest}.lock`)).toBe(false)
  })

  it('retries a dropped connection by itself, resuming each time', async () => {
    const content = fakeGguf(200_000, 7)
    hub.addRepo(REPO, { 'm.gguf': { content, dropAfterBytes: 50_000, dropTimes: 2 } })
    const dest = join(dir, 'm.gguf')
    await downloadFile({ url: fileUrl('m.gguf'), dest, sha256: sha256(content), retries: 3, retryDelayMs: 1 })
    const ranges = hub.requestsTo(`/${REPO}/resolve/main/m.gguf`).map((r) => r.headers.range)
    expect(ranges).toHaveLength(3)
    expect(ranges[0]).toBeUndefined()
    // Each retry resumes from what it kept, never from zero. (Exactly 50,000 and 100,000 on
    // a quiet machine; a cut connection may lose bytes the client had not read yet.)
    const starts = ranges.slice(1).map((range) => Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1]))
    expect(starts[0]).toBeGreaterThan(0)
    expect(starts[0]).toBeLessThanOrEqual(50_000)
    expect(starts[1]).toBeGreaterThanOrEqual(starts[0]!)
    expect((await readFile(dest)).equals(content)).toBe(true)
  })

  it('starts over cleanly when the server ignores Range and sends the whole file', async () => {
    const content = fakeGguf(200_000, 3)
    hub.addRepo(REPO, { 'm.gguf': { content, dropAfterBytes: 80_000, ignoreRange: true } })
    const dest = join(dir, 'm.gguf')
    const options = { url: fileUrl('m.gguf'), dest, expectedSize: content.length, sha256: sha256(content), retries: 0 }
    await expect(downloadFile(options)).rejects.toBeInstanceOf(DownloadInterruptedError)
    expect((await stat(`${dest}.part`)).size).toBe(80_000)

    await downloadFile(options)
    const gets = hub.requestsTo(`/${REPO}/resolve/main/m.gguf`)
    expect(gets[1]!.headers.range).toBe('bytes=80000-')
    const saved = await readFile(dest)
    expect(saved.length).toBe(content.length)
    expect(saved.equals(content)).toBe(true)
  })

  it('rejects a file whose size differs from the published size and leaves nothing at the final path', async () => {
    const content = fakeGguf(10_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    const attempt = downloadFile({ url: fileUrl('m.gguf'), dest, expectedSize: 12_345 })
    await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError)
    await expect(attempt).rejects.toThrow('m.gguf: the hub lists 12345 bytes but')
    expect(existsSync(dest)).toBe(false)
    expect(existsSync(`${dest}.part`)).toBe(false)
  })

  it('stops a body that runs past the expected size when the server sends no length', async () => {
    const content = fakeGguf(10_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    // A fetch that hides Content-Length, as a chunked response would.
    const chunkedFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      const headers = new Headers(response.headers)
      headers.delete('content-length')
      return new Response(response.body, { status: response.status, headers })
    }
    const attempt = downloadFile({ url: fileUrl('m.gguf'), dest, expectedSize: 4_000, fetch: chunkedFetch })
    await expect(attempt).rejects.toThrow('m.gguf: http://127.0.0.1')
    await expect(attempt).rejects.toThrow('sent more than the expected 4000 bytes')
    expect(existsSync(dest)).toBe(false)
    expect(existsSync(`${dest}.part`)).toBe(false)
  })

  it('rejects a file whose sha256 differs from the published one', async () => {
    const content = fakeGguf(10_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    const wrong = 'f'.repeat(64)
    const attempt = downloadFile({ url: fileUrl('m.gguf'), dest, expectedSize: content.length, sha256: wrong })
    await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError)
    await expect(attempt).rejects.toThrow(`the sha256 of the downloaded file is ${sha256(content)}, but the hub publishes ${wrong}`)
    expect(existsSync(dest)).toBe(false)
    expect(existsSync(`${dest}.part`)).toBe(false)
  })

  it('names the file and the URL when the server answers 404', async () => {
    hub.addRepo(REPO, {})
    const url = fileUrl('missing.gguf')
    const attempt = downloadFile({ url, dest: join(dir, 'missing.gguf') })
    await expect(attempt).rejects.toBeInstanceOf(ModelUnavailableError)
    await expect(attempt).rejects.toThrow(`missing.gguf was not found at ${url} (HTTP 404).`)
  })

  it('says what to do when the server refuses the request', async () => {
    hub.addRepo(REPO, { 'm.gguf': { content: fakeGguf(100), status: 401 } })
    const attempt = downloadFile({ url: fileUrl('m.gguf'), dest: join(dir, 'm.gguf'), authHint: 'Set HF_TOKEN.' })
    await expect(attempt).rejects.toThrow(`${fileUrl('m.gguf')} refused to send m.gguf (HTTP 401). Set HF_TOKEN.`)
  })

  it('sends the token to the hub but not to the CDN it redirects to', async () => {
    const cdn = new FakeHub()
    await cdn.start()
    try {
      const content = fakeGguf(5_000)
      cdn.addRepo(REPO, { 'm.gguf': { content } })
      hub.addRepo(REPO, { 'm.gguf': { content, redirectTo: cdn.endpoint } })
      const dest = join(dir, 'm.gguf')
      await downloadFile({ url: fileUrl('m.gguf'), dest, authorization: 'Bearer hf_secret', sha256: sha256(content) })
      expect(hub.requests[0]!.headers.authorization).toBe('Bearer hf_secret')
      expect(cdn.requests).toHaveLength(1)
      expect(cdn.requests[0]!.headers.authorization).toBeUndefined()
      expect((await readFile(dest)).equals(content)).toBe(true)
    } finally {
      await cdn.close()
    }
  })

  it('lets two concurrent downloads of one file share a single transfer', async () => {
    const content = fakeGguf(100_000, 5)
    let release!: () => void
    hub.addRepo(REPO, { 'm.gguf': { content, holdUntil: new Promise<void>((resolve) => (release = resolve)) } })
    const dest = join(dir, 'm.gguf')
    const waits: DownloadProgress[] = []
    const options = { url: fileUrl('m.gguf'), dest, sha256: sha256(content), lock: { pollMs: 10 } }
    const first = downloadFile(options)
    await waitFor(() => hub.requests.length === 1)
    const second = downloadFile({ ...options, onProgress: (p) => p.phase === 'waiting' && waits.push(p) })
    await waitFor(() => waits.length > 0)
    release()
    const results = await Promise.all([first, second])
    expect(results.map((r) => r.downloaded).sort()).toEqual([false, true])
    expect(hub.requests).toHaveLength(1)
    expect((await readFile(dest)).equals(content)).toBe(true)
  })

  it('takes over a lock left by a process that no longer exists', async () => {
    const content = fakeGguf(1_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    await writeFile(`${dest}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAt: new Date().toISOString() }))
    await downloadFile({ url: fileUrl('m.gguf'), dest, lock: { pollMs: 10 } })
    expect((await readFile(dest)).equals(content)).toBe(true)
    expect(existsSync(`${dest}.lock`)).toBe(false)
  })

  it('waits for a live lock held on another host and takes over one whose heartbeat stopped', async () => {
    const content = fakeGguf(1_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    const lock = `${dest}.lock`
    await writeFile(lock, JSON.stringify({ pid: 1, host: 'another-machine', startedAt: new Date().toISOString() }))
    let waits = 0
    const waiting = downloadFile({ url: fileUrl('m.gguf'), dest, lock: { pollMs: 10, staleMs: 60_000 }, onProgress: (p) => p.phase === 'waiting' && waits++ })
    await waitFor(() => waits >= 3)
    expect(hub.requests).toHaveLength(0)
    await unlink(lock)
    await waiting
    expect((await readFile(dest)).equals(content)).toBe(true)

    const dest2 = join(dir, 'm2.gguf')
    hub.addRepo(REPO, { 'm.gguf': { content } })
    await writeFile(`${dest2}.lock`, JSON.stringify({ pid: 1, host: 'another-machine', startedAt: '2020-01-01T00:00:00Z' }))
    const old = new Date(Date.now() - 120_000)
    await utimes(`${dest2}.lock`, old, old)
    await downloadFile({ url: fileUrl('m.gguf'), dest: dest2, lock: { pollMs: 10, staleMs: 30_000 } })
    expect((await readFile(dest2)).equals(content)).toBe(true)
  })

  it('finishes a complete .part file without fetching its body again', async () => {
    const content = fakeGguf(20_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const dest = join(dir, 'm.gguf')
    await writeFile(`${dest}.part`, content)
    await downloadFile({ url: fileUrl('m.gguf'), dest, sha256: sha256(content) })
    expect(hub.requests).toHaveLength(1)
    expect(hub.requests[0]!.headers.range).toBe('bytes=20000-')
    expect((await readFile(dest)).equals(content)).toBe(true)
  })

  it('reuses a complete file at the final path without any request', async () => {
    const dest = join(dir, 'm.gguf')
    await writeFile(dest, fakeGguf(100))
    const result = await downloadFile({ url: fileUrl('m.gguf'), dest, fetch: () => Promise.reject(new Error('no network expected')) })
    expect(result).toEqual({ path: dest, downloaded: false })
  })

  it('gives up on a connection that goes silent and keeps what arrived', async () => {
    const content = fakeGguf(100_000)
    hub.addRepo(REPO, { 'm.gguf': { content, stallAfterBytes: 30_000 } })
    const dest = join(dir, 'm.gguf')
    const attempt = downloadFile({ url: fileUrl('m.gguf'), dest, stallTimeoutMs: 200, retries: 0 })
    await expect(attempt).rejects.toBeInstanceOf(DownloadInterruptedError)
    await expect(attempt).rejects.toThrow(`Downloading m.gguf from ${fileUrl('m.gguf')} failed (no data for 0.2 s).`)
    expect((await stat(`${dest}.part`)).size).toBe(30_000)
    expect(existsSync(`${dest}.lock`)).toBe(false)
  })

  it('stops when the caller aborts, keeping the partial file and releasing the lock', async () => {
    const content = fakeGguf(100_000)
    hub.addRepo(REPO, { 'm.gguf': { content, stallAfterBytes: 30_000 } })
    const dest = join(dir, 'm.gguf')
    const controller = new AbortController()
    const attempt = downloadFile({
      url: fileUrl('m.gguf'),
      dest,
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => p.downloaded >= 30_000 && controller.abort(new Error('user pressed Ctrl-C')),
    })
    await expect(attempt).rejects.toThrow('user pressed Ctrl-C')
    expect((await stat(`${dest}.part`)).size).toBe(30_000)
    expect(existsSync(dest)).toBe(false)
    expect(existsSync(`${dest}.lock`)).toBe(false)
  })

  it('reports progress up to a final done report with the total', async () => {
    const content = fakeGguf(3_000_000)
    hub.addRepo(REPO, { 'm.gguf': { content } })
    const reports: DownloadProgress[] = []
    await downloadFile({ url: fileUrl('m.gguf'), dest: join(dir, 'm.gguf'), progressIntervalMs: 0, onProgress: (p) => reports.push(p) })
    expect(reports[0]).toMatchObject({ phase: 'downloading', downloaded: 0, total: content.length, resumedFrom: 0 })
    expect(reports.at(-1)).toMatchObject({ phase: 'done', downloaded: content.length, total: content.length, file: 'm.gguf' })
    const downloaded = reports.map((r) => r.downloaded)
    expect([...downloaded].sort((a, b) => a - b)).toEqual(downloaded)
  })
})

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  expect(condition()).toBe(true)
}
