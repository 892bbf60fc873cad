/**
 * What `visto batch` runs over: directories (their image, PDF and video files), globs,
 * list files (one path per line, relative to the list) and plain image, PDF or video
 * files, in the order given.
 */
import { open, readFile, readdir, stat } from 'node:fs/promises'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { isPdf, sniffImageMime, sniffVideoMime } from '@visto/sdk'
import { glob, isDynamicPattern } from 'tinyglobby'
import { CliError, ExitCode } from './cli-error.js'

export const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.png',
  '.gif',
  '.webp',
  '.bmp',
  '.dib',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
  '.pdf',
  '.mp4',
  '.m4v',
  '.mov',
  '.webm',
  '.mkv',
])

export interface BatchInput {
  /** Absolute path (or an http(s) URL, passed through). */
  path: string
  /** How the item is named in results (and recognised on resume): relative to `relativeTo`. */
  file: string
}

async function headBytes(path: string, length = 64): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const buffer = new Uint8Array(length)
    const { bytesRead } = await handle.read(buffer, 0, length, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

function isImageOrPdf(head: Uint8Array): boolean {
  return sniffImageMime(head) !== undefined || isPdf(head) || sniffVideoMime(head) !== undefined
}

function listLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
}

async function readStdin(): Promise<string> {
  const pieces: Buffer[] = []
  for await (const piece of process.stdin) pieces.push(piece as Buffer)
  return Buffer.concat(pieces).toString('utf8')
}

async function imagesInDirectory(dir: string, recursive: boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const found: string[] = []
  for (const entry of entries) {
    const full = join(dir, entry.name)
    if (entry.isDirectory() && recursive && !entry.name.startsWith('.')) found.push(...(await imagesInDirectory(full, true)))
    else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) found.push(full)
  }
  return found.sort()
}

/**
 * Files matching a quoted glob (`'photos/**\/*.jpg'`), absolute and sorted. Backslashes
 * are Windows separators here, not escapes, so Windows users can paste paths.
 */
async function filesMatching(pattern: string, cwd: string): Promise<string[]> {
  const matches = await glob(sep === '\\' ? pattern.split(sep).join('/') : pattern, { cwd, absolute: true, expandDirectories: false })
  return matches.map((path) => resolve(path)).sort()
}

async function expand(arg: string, cwd: string, recursive: boolean, fromList: boolean): Promise<string[]> {
  if (/^https?:\/\//i.test(arg)) return [arg]
  if (arg === '-' && !fromList) return (await readStdin().then(listLines)).map((line) => resolve(cwd, line))
  const path = resolve(cwd, arg)
  const info = await stat(path).catch(() => undefined)
  if (!info) {
    if (isDynamicPattern(arg)) {
      const matches = await filesMatching(arg, cwd)
      if (matches.length === 0) throw new CliError(`no files match ${arg}`, ExitCode.Usage)
      return matches
    }
    // A stale line in a list fails as its own item; a bad argument is a usage error.
    if (fromList) return [path]
    throw new CliError(`no such file or directory: ${arg}`, ExitCode.Usage)
  }
  if (info.isDirectory()) return imagesInDirectory(path, recursive)
  // Lists do not nest: inside a list every line is an image.
  if (fromList || IMAGE_EXTENSIONS.has(extname(path).toLowerCase()) || isImageOrPdf(await headBytes(path, 1024))) return [path]
  const listDir = dirname(path)
  const lines = listLines(await readFile(path, 'utf8'))
  const nested = await Promise.all(lines.map((line) => expand(line, listDir, recursive, true)))
  return nested.flat()
}

/** Resolves the positional arguments to unique inputs, first occurrence first. */
export async function resolveInputs(args: readonly string[], options: { cwd?: string; recursive?: boolean; relativeTo?: string } = {}): Promise<BatchInput[]> {
  const cwd = options.cwd ?? process.cwd()
  const base = options.relativeTo ?? cwd
  const seen = new Set<string>()
  const inputs: BatchInput[] = []
  for (const arg of args) {
    for (const path of await expand(arg, cwd, options.recursive ?? false, false)) {
      if (seen.has(path)) continue
      seen.add(path)
      inputs.push({ path, file: /^https?:/i.test(path) ? path : relative(base, path) || path })
    }
  }
  return inputs
}
