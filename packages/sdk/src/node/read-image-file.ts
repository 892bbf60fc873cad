import { readFile } from 'node:fs/promises'
import { InvalidImageError } from '../errors.js'

/** Reads an image file; a missing or unreadable file becomes an InvalidImageError naming the path. */
export async function readImageFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  try {
    const buffer = await readFile(path, signal ? { signal } : {})
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  } catch (error) {
    if ((error as { name?: string }).name === 'AbortError') throw error
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message
    throw new InvalidImageError(`Cannot read image ${path}: ${reason}`, { cause: error })
  }
}
