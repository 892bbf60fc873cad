import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { basename, dirname, join } from 'node:path'
import type { Readable } from 'node:stream'

/**
 * FFmpeg as a subprocess, never linked: a hostile video can crash, hang or balloon only
 * a child process, which is killed at its time limit, its output limit or when the
 * client goes away, and whose address space is capped with `ulimit -v` (Linux) before
 * it starts. We use the system's ffmpeg (Debian's, Homebrew's …) rather than an npm
 * package: the npm "ffmpeg installer" packages ship a 2018 build with years of
 * decoder CVEs unfixed, and the WebAssembly builds (ffmpeg.wasm) decode many times
 * slower and hold the whole file in the JavaScript heap. A distribution's ffmpeg gets
 * security updates with the rest of the system.
 */

export interface FfmpegTools {
  ffmpeg: string
  ffprobe: string
}

/** The binaries for `--ffmpeg` (a path to ffmpeg; ffprobe is taken from the same folder), or both from PATH. */
export function ffmpegTools(ffmpegPath: string | undefined): FfmpegTools {
  if (ffmpegPath === undefined) return { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' }
  const name = basename(ffmpegPath)
  const probeName = name.includes('ffmpeg') ? name.replace('ffmpeg', 'ffprobe') : 'ffprobe'
  return { ffmpeg: ffmpegPath, ffprobe: join(dirname(ffmpegPath), probeName) }
}

export interface ProcessLimits {
  timeoutMs: number
  /** The child is killed once it has written more than this to stdout. */
  maxOutputBytes: number
  /** Its address space, where the platform can cap it (Linux). */
  maxMemoryBytes: number
  signal?: AbortSignal | undefined
}

export type ProcessFailure = 'missing' | 'timeout' | 'output' | 'memory' | 'exit' | 'aborted'

export type ProcessResult = { kind: 'exited'; stdout: Buffer; stderr: string } | { kind: 'failed'; failure: ProcessFailure; stderr: string; exitCode: number | null }

/** What ffmpeg prints when its allocations fail under the address-space cap. */
const memoryPattern = /cannot allocate memory|out of memory|memory exhausted|failed to map segment|std::bad_alloc|ENOMEM|error while loading shared libraries/i
/** The shell's "command not found" exit status. */
const notFound = 127
/** Kept from stderr for the error message: ffmpeg prints the reason last. */
const stderrTail = 4096

/**
 * Runs `command args…` with no stdin, collecting stdout (or handing each chunk to
 * `onStdout`, which then owns it) under the limits. Never rejects: every way the child
 * can end is a result.
 */
export function runLimited(command: string, args: readonly string[], limits: ProcessLimits, onStdout?: (chunk: Buffer) => void): Promise<ProcessResult> {
  return new Promise((resolve) => {
    if (limits.signal?.aborted) return resolve({ kind: 'failed', failure: 'aborted', stderr: '', exitCode: null })
    const capMemory = process.platform === 'linux'
    // `exec` replaces the shell, so the pid we kill is ffmpeg's own.
    const [file, argv] = capMemory
      ? ['/bin/sh', ['-c', `ulimit -v ${Math.max(1, Math.floor(limits.maxMemoryBytes / 1024))} && exec "$0" "$@"`, command, ...args]]
      : [command, [...args]]
    let child: ChildProcessByStdio<null, Readable, Readable>
    try {
      child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' }, windowsHide: true })
    } catch {
      return resolve({ kind: 'failed', failure: 'missing', stderr: '', exitCode: null })
    }
    const chunks: Buffer[] = []
    let written = 0
    let stderr = ''
    let killedFor: ProcessFailure | undefined
    const kill = (reason: ProcessFailure): void => {
      killedFor ??= reason
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => kill('timeout'), limits.timeoutMs)
    const onAbort = (): void => kill('aborted')
    limits.signal?.addEventListener('abort', onAbort, { once: true })
    child.stdout.on('data', (chunk: Buffer) => {
      if (killedFor) return
      written += chunk.length
      if (written > limits.maxOutputBytes) return kill('output')
      if (onStdout) onStdout(chunk)
      else chunks.push(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-stderrTail)
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') killedFor ??= 'missing'
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      limits.signal?.removeEventListener('abort', onAbort)
      if (killedFor) return resolve({ kind: 'failed', failure: killedFor, stderr, exitCode: code })
      if (code === notFound && (!capMemory || /not found|No such file/i.test(stderr))) return resolve({ kind: 'failed', failure: 'missing', stderr, exitCode: code })
      if (code === 0) return resolve({ kind: 'exited', stdout: Buffer.concat(chunks), stderr })
      const failure: ProcessFailure = memoryPattern.test(stderr) || signal === 'SIGSEGV' || signal === 'SIGABRT' || signal === 'SIGBUS' ? 'memory' : 'exit'
      resolve({ kind: 'failed', failure, stderr, exitCode: code })
    })
  })
}

/** The last meaningful line ffmpeg printed, cleaned for an error message. */
export function lastReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) =>
      line
        .replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '')
        .replace(/[^\x20-\x7e]/g, '')
        .trim(),
    )
    .filter((line) => line !== '' && !/^(conversion failed|exiting normally)/i.test(line))
  // Paths to our temporary file say nothing to the client.
  const line = (lines.at(-1) ?? '').replace(/\/[^\s:]*visto-video-[^\s:]*/g, 'the video')
  return line.slice(0, 160)
}
