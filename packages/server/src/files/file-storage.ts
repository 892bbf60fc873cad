import { createReadStream, type ReadStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, chmod, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { randomBytes } from 'node:crypto'

/** Thrown while receiving an upload that grows past its limit. */
export class UploadTooLargeError extends Error {
  override name = 'UploadTooLargeError'
  constructor(readonly limitBytes: number) {
    super(`upload over ${limitBytes} bytes`)
  }
}

const idPattern = /^(file-[0-9a-f]{24})$/

/**
 * The bytes of stored files (uploads and batch output), one per id, in `<data dir>/files`
 * (0700, files 0600). Every file is written under a temporary name, fsynced, then renamed into place
 * and the directory fsynced, so a file that has its final name is complete. Anything
 * else found there at start-up (a half-received upload, output written before a crash)
 * is removed by `removeOrphans`.
 */
export class FileStorage {
  readonly dir: string

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'files')
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await chmod(this.dir, 0o700)
  }

  path(id: string): string {
    if (!idPattern.test(id)) throw new Error(`not a file id: ${id}`)
    return join(this.dir, id)
  }

  private tempPath(): string {
    return join(this.dir, `.incoming-${randomBytes(8).toString('hex')}`)
  }

  /** Streams `source` to a temporary file, at most `limitBytes`, fsynced. */
  async receive(source: Readable, limitBytes: number): Promise<{ tempPath: string; bytes: number }> {
    const tempPath = this.tempPath()
    const handle = await open(tempPath, 'wx', 0o600)
    let bytes = 0
    try {
      for await (const chunk of source) {
        const buffer = chunk as Buffer
        bytes += buffer.length
        if (bytes > limitBytes) throw new UploadTooLargeError(limitBytes)
        await writeAll(handle, buffer)
      }
      await handle.sync()
    } catch (error) {
      await handle.close().catch(() => {})
      await rm(tempPath, { force: true })
      // Let the rest of the upload flow past so the client gets an answer.
      source.resume()
      throw error
    }
    await handle.close()
    return { tempPath, bytes }
  }

  /** Writes lines to a new temporary file with backpressure-free sequential writes, fsynced. */
  async writeLines(lines: Iterable<string>): Promise<{ tempPath: string; bytes: number; count: number }> {
    const tempPath = this.tempPath()
    const handle = await open(tempPath, 'wx', 0o600)
    let bytes = 0
    let count = 0
    try {
      let pending: string[] = []
      let pendingBytes = 0
      for (const line of lines) {
        pending.push(line, '\n')
        pendingBytes += line.length + 1
        count++
        if (pendingBytes >= 1 << 20) {
          bytes += await writeAll(handle, Buffer.from(pending.join('')))
          pending = []
          pendingBytes = 0
        }
      }
      if (pending.length > 0) bytes += await writeAll(handle, Buffer.from(pending.join('')))
      await handle.sync()
    } catch (error) {
      await handle.close().catch(() => {})
      await rm(tempPath, { force: true })
      throw error
    }
    await handle.close()
    return { tempPath, bytes, count }
  }

  /** Gives a fully written temporary file its final name, durably. */
  async commit(tempPath: string, id: string): Promise<void> {
    await rename(tempPath, this.path(id))
    await this.syncDir()
  }

  async discard(tempPath: string): Promise<void> {
    await rm(tempPath, { force: true })
  }

  async remove(id: string): Promise<void> {
    await rm(this.path(id), { force: true })
  }

  openRead(id: string): ReadStream {
    return createReadStream(this.path(id))
  }

  /** Reads `length` bytes at `offset` (one input line). */
  async readRange(id: string, offset: number, length: number): Promise<Buffer> {
    const handle = await open(this.path(id), 'r')
    try {
      const buffer = Buffer.alloc(length)
      let read = 0
      while (read < length) {
        const { bytesRead } = await handle.read(buffer, read, length - read, offset + read)
        if (bytesRead === 0) break
        read += bytesRead
      }
      return buffer.subarray(0, read)
    } finally {
      await handle.close()
    }
  }

  /** Removes everything in the folder that is not a known file. */
  async removeOrphans(known: Set<string>): Promise<string[]> {
    const removed: string[] = []
    for (const name of await readdir(this.dir)) {
      if (known.has(name)) continue
      await rm(join(this.dir, name), { force: true, recursive: true })
      removed.push(name)
    }
    return removed
  }

  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}

async function writeAll(handle: FileHandle, buffer: Buffer): Promise<number> {
  let written = 0
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written)
    written += bytesWritten
  }
  return written
}
