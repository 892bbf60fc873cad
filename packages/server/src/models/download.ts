import { createHash, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { acquireFileLock, type FileLockOptions } from '../file-lock.js'
import type { DownloadProgress } from './download-progress.js'
import { fetchFollowingRedirects } from './fetch-following-redirects.js'
import { describeNetworkError } from './hub.js'
import { ModelIntegrityError, ModelUnavailableError } from './model-errors.js'

export interface DownloadFileOptions {
  url: string
  /** The final path. Bytes go to `<dest>.part` first and are renamed only once verified. */
  dest: string
  /** The name shown in progress and messages (the hub path); defaults to the file name. */
  file?: string
  /** What the hub publishes; checked when known. */
  expectedSize?: number | undefined
  sha256?: string | undefined
  authorization?: string | undefined
  /** Appended to the message when the server refuses us (401/403). */
  authHint?: string
  fetch?: typeof fetch
  onProgress?: ((progress: DownloadProgress) => void) | undefined
  signal?: AbortSignal | undefined
  /** Further attempts after a network failure, each resuming where the last stopped. */
  retries?: number
  retryDelayMs?: number
  /** Abort an attempt that receives nothing for this long (a dead connection never errors by itself). */
  stallTimeoutMs?: number
  progressIntervalMs?: number
  lock?: Omit<FileLockOptions, 'signal' | 'onWait'>
}

export interface DownloadResult {
  path: string
  /** False when the file was already complete on disk (no request made). */
  downloaded: boolean
}

/** A network failure part-way: the `.part` file is kept and the next attempt or run resumes it. */
export class DownloadInterruptedError extends ModelUnavailableError {}

const WRITE_BATCH_BYTES = 1 << 20
const SPEED_WINDOW_MS = 5_000

/**
 * Downloads one file into place: resumable (HTTP Range from `<dest>.part`), verified
 * (size and sha256 while streaming, when known), atomic (rename on success, so the final
 * path only ever holds a complete, checked file), and safe when several processes share
 * the cache (a lock file serialises them; the second one then finds the file in place).
 */
export async function downloadFile(options: DownloadFileOptions): Promise<DownloadResult> {
  const { dest } = options
  if (await isFile(dest)) return { path: dest, downloaded: false }
  await mkdir(dirname(dest), { recursive: true })
  const file = options.file ?? basename(dest)
  const release = await acquireFileLock(`${dest}.lock`, {
    ...options.lock,
    signal: options.signal,
    onWait: () => options.onProgress?.({ file, downloaded: 0, total: options.expectedSize, resumedFrom: 0, bytesPerSecond: 0, etaSeconds: undefined, phase: 'waiting' }),
  })
  try {
    // The process we waited for may have finished it.
    if (await isFile(dest)) return { path: dest, downloaded: false }
    const retries = options.retries ?? 3
    for (let attempt = 0; ; attempt++) {
      try {
        await downloadOnce(options, file)
        return { path: dest, downloaded: true }
      } catch (error) {
        if (!(error instanceof DownloadInterruptedError) || attempt >= retries) throw error
        const delay = (options.retryDelayMs ?? 1_000) * 2 ** attempt
        await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined)
      }
    }
  } finally {
    await release()
  }
}

async function downloadOnce(options: DownloadFileOptions, file: string): Promise<void> {
  const { url, dest, expectedSize } = options
  const partPath = `${dest}.part`
  const fetchImpl = options.fetch ?? globalThis.fetch
  const report = createReporter(options, file)

  let start = await fileSize(partPath)
  if (expectedSize !== undefined && start > expectedSize) {
    await truncate(partPath, 0)
    start = 0
  }
  let hash = options.sha256 ? createHash('sha256') : undefined
  if (hash && start > 0) {
    report.emit(start, undefined, 'verifying', true)
    await hashFileInto(partPath, hash)
  }
  if (expectedSize !== undefined && start > 0 && start === expectedSize) {
    await finish(options, file, partPath, hash, start, report)
    return
  }

  const interrupted = (reason: string, cause?: unknown) =>
    new DownloadInterruptedError(
      `Downloading ${file} from ${url} failed (${reason}).` +
        (start > 0 || cause !== undefined ? `\nWhat arrived is kept in ${partPath}; the next attempt resumes from there.` : ''),
      { cause },
    )

  // A connection that goes silent never errors by itself: abort it after a quiet spell.
  const stall = new AbortController()
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000
  let stallTimer = setTimeout(() => stall.abort(), stallTimeoutMs)
  const kick = () => {
    clearTimeout(stallTimer)
    stallTimer = setTimeout(() => stall.abort(), stallTimeoutMs)
  }
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal
  const failure = (error: unknown): Error => {
    if (options.signal?.aborted) return options.signal.reason instanceof Error ? options.signal.reason : new Error('Download aborted')
    if (stall.signal.aborted) return interrupted(`no data for ${stallTimeoutMs / 1000} s`, error)
    return interrupted(describeNetworkError(error), error)
  }

  try {
    let response: Response
    try {
      const headers: Record<string, string> = { 'accept-encoding': 'identity' }
      if (start > 0) headers.range = `bytes=${start}-`
      ;({ response } = await fetchFollowingRedirects(fetchImpl, url, { headers, authorization: options.authorization, signal }))
    } catch (error) {
      throw failure(error)
    }

    let total: number | undefined
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'))
      if (!range || range.start !== start) {
        await response.body?.cancel().catch(() => undefined)
        await truncate(partPath, 0).catch(() => undefined)
        throw interrupted(`the server answered the resume request with a different range (${response.headers.get('content-range')}); starting over`)
      }
      total = range.total
    } else if (response.status === 200) {
      if (start > 0) {
        // The server ignored our Range header and is sending the whole file: start over.
        start = 0
        hash = options.sha256 ? createHash('sha256') : undefined
      }
      total = contentLength(response)
    } else if (response.status === 416) {
      await response.body?.cancel().catch(() => undefined)
      const range = parseContentRange(response.headers.get('content-range'))
      if (start > 0 && range?.total === start && (expectedSize === undefined || expectedSize === start)) {
        await finish(options, file, partPath, hash, start, report)
        return
      }
      await truncate(partPath, 0).catch(() => undefined)
      throw interrupted(`the server refused to resume at byte ${start} (HTTP 416); starting over`)
    } else {
      await response.body?.cancel().catch(() => undefined)
      throw httpFailure(response.status, options, file)
    }

    if (expectedSize !== undefined && total !== undefined && total !== expectedSize) {
      await response.body?.cancel().catch(() => undefined)
      await unlink(partPath).catch(() => undefined)
      throw new ModelIntegrityError(
        `${file}: the hub lists ${expectedSize} bytes but ${url} sends ${total} bytes. Nothing was saved.\n` +
          'The mirror or the hub may be serving a different version; try again later or pass a local file with --model/--mmproj.',
      )
    }
    const expected = expectedSize ?? total
    if (!response.body) throw interrupted('the response has no body')

    const handle = await open(partPath, start > 0 ? 'a' : 'w')
    let downloaded = start
    report.begin(start, expected)
    const reader = response.body.getReader()
    let pending: Uint8Array[] = []
    let pendingBytes = 0
    const flush = async (target: FileHandle) => {
      if (pendingBytes === 0) return
      const chunk = Buffer.concat(pending, pendingBytes)
      pending = []
      pendingBytes = 0
      await target.write(chunk)
    }
    try {
      for (;;) {
        let result: ReadableStreamReadResult<Uint8Array>
        try {
          result = await reader.read()
        } catch (error) {
          throw failure(error)
        }
        if (result.done) break
        kick()
        const chunk = result.value
        downloaded += chunk.byteLength
        if (expected !== undefined && downloaded > expected) {
          await reader.cancel().catch(() => undefined)
          throw new ModelIntegrityError(`${file}: ${url} sent more than the expected ${expected} bytes. Nothing was saved.`)
        }
        hash?.update(chunk)
        pending.push(chunk)
        pendingBytes += chunk.byteLength
        if (pendingBytes >= WRITE_BATCH_BYTES) await flush(handle)
        report.emit(downloaded, expected, 'downloading')
      }
      await flush(handle)
      await handle.sync()
    } catch (error) {
      // Keep what arrived intact for the resume, unless it is known to be wrong.
      if (error instanceof ModelIntegrityError) {
        pending = []
        pendingBytes = 0
      } else {
        await flush(handle).catch(() => undefined)
      }
      await handle.close().catch(() => undefined)
      if (error instanceof ModelIntegrityError) await unlink(partPath).catch(() => undefined)
      throw error
    }
    await handle.close()

    if (expected !== undefined && downloaded < expected) {
      throw interrupted(`the connection ended after ${downloaded} of ${expected} bytes`)
    }
    await finish(options, file, partPath, hash, downloaded, report)
  } finally {
    clearTimeout(stallTimer)
  }
}

async function finish(options: DownloadFileOptions, file: string, partPath: string, hash: Hash | undefined, size: number, report: Reporter): Promise<void> {
  if (options.expectedSize !== undefined && size !== options.expectedSize) {
    await unlink(partPath).catch(() => undefined)
    throw new ModelIntegrityError(`${file}: received ${size} bytes from ${options.url} but the hub lists ${options.expectedSize}. Nothing was saved.`)
  }
  if (hash && options.sha256) {
    const actual = hash.digest('hex')
    if (actual !== options.sha256.toLowerCase()) {
      await unlink(partPath).catch(() => undefined)
      throw new ModelIntegrityError(
        `${file}: the sha256 of the downloaded file is ${actual}, but the hub publishes ${options.sha256}.\n` +
          `The download from ${options.url} was discarded; run again to retry.`,
      )
    }
  }
  await rename(partPath, options.dest)
  report.emit(size, size, 'done', true)
}

function httpFailure(status: number, options: DownloadFileOptions, file: string): Error {
  const { url } = options
  if (status === 404 || status === 410) {
    return new ModelUnavailableError(`${file} was not found at ${url} (HTTP ${status}).`)
  }
  if (status === 401 || status === 403) {
    return new ModelUnavailableError(`${url} refused to send ${file} (HTTP ${status}).${options.authHint ? ` ${options.authHint}` : ''}`)
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new DownloadInterruptedError(`Downloading ${file} from ${url} failed (HTTP ${status}).`)
  }
  return new ModelUnavailableError(`Downloading ${file} from ${url} failed (HTTP ${status}).`)
}

interface Reporter {
  begin(resumedFrom: number, total: number | undefined): void
  emit(downloaded: number, total: number | undefined, phase: DownloadProgress['phase'], force?: boolean): void
}

function createReporter(options: DownloadFileOptions, file: string): Reporter {
  const interval = options.progressIntervalMs ?? 250
  let resumedFrom = 0
  let lastEmit = -Infinity
  let samples: Array<{ at: number; bytes: number }> = []
  return {
    begin(from, total) {
      resumedFrom = from
      samples = [{ at: Date.now(), bytes: from }]
      this.emit(from, total, 'downloading', true)
    },
    emit(downloaded, total, phase, force = false) {
      const onProgress = options.onProgress
      if (!onProgress) return
      const now = Date.now()
      if (!force && phase === 'downloading' && now - lastEmit < interval) return
      lastEmit = now
      samples.push({ at: now, bytes: downloaded })
      while (samples.length > 2 && now - samples[1]!.at > SPEED_WINDOW_MS) samples.shift()
      const first = samples[0]!
      const seconds = (now - first.at) / 1000
      const bytesPerSecond = seconds > 0 ? Math.max(0, (downloaded - first.bytes) / seconds) : 0
      const etaSeconds = total !== undefined && bytesPerSecond > 0 ? Math.max(0, total - downloaded) / bytesPerSecond : undefined
      onProgress({ file, downloaded, total, resumedFrom, bytesPerSecond, etaSeconds, phase })
    },
  }
}

function parseContentRange(header: string | null): { start: number; total: number | undefined } | undefined {
  if (!header) return undefined
  const full = header.match(/^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i)
  if (full) return { start: Number(full[1]), total: full[3] === '*' ? undefined : Number(full[3]) }
  const unsatisfied = header.match(/^bytes\s+\*\/(\d+)$/i)
  if (unsatisfied) return { start: -1, total: Number(unsatisfied[1]) }
  return undefined
}

function contentLength(response: Response): number | undefined {
  if (response.headers.get('content-encoding')) return undefined
  const value = response.headers.get('content-length')
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined
}

async function hashFileInto(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}
