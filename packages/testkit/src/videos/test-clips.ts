/**
 * Test and benchmark videos, made by ffmpeg itself from its test pattern into a
 * temporary folder (and kept per process: the same clip is asked for many times). Tiny
 * by default, so tests stay fast. Video tests skip, saying why, when this machine has no
 * ffmpeg (CI has it).
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const ffmpegAvailable = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0
export const noFfmpegReason = 'ffmpeg and ffprobe are not on PATH: install ffmpeg (apt-get install ffmpeg) to run the video tests'

export type ClipCodec = 'h264' | 'vp8' | 'vp9'
export type ClipContainer = 'mp4' | 'mov' | 'webm' | 'mkv'

export interface ClipOptions {
  seconds?: number
  width?: number
  height?: number
  /** Source frame rate. */
  rate?: number
  codec?: ClipCodec
  container?: ClipContainer
  /** MP4/MOV: the index (moov) first, as web servers prefer; a cut then still has a readable header. */
  faststart?: boolean
  /** ffmpeg's lavfi source; testsrc shows a counter, so frames differ in time. */
  source?: string
  /** MP4/MOV: a display-matrix rotation, as phones record. */
  rotate?: number
  /** WebM: written as a live stream, with no duration in its header (as browsers' MediaRecorder writes). */
  live?: boolean
}

const encoders: Record<ClipCodec, string[]> = {
  h264: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
  vp8: ['-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '200k'],
  vp9: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k'],
}

let dir: string | undefined
const made = new Map<string, Promise<Buffer>>()

function workDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'visto-test-videos-'))
    const created = dir
    process.once('exit', () => rmSync(created, { recursive: true, force: true }))
  }
  return dir
}

/** A clip with these properties (160x120, 3 s at 10 fps, H.264 in MP4 unless told). */
export function makeClip(options: ClipOptions = {}): Promise<Buffer> {
  const key = JSON.stringify(options)
  let clip = made.get(key)
  if (!clip) {
    clip = encode(options)
    made.set(key, clip)
  }
  return clip
}

async function encode(options: ClipOptions): Promise<Buffer> {
  const { seconds = 3, width = 160, height = 120, rate = 10, codec = 'h264', container = 'mp4' } = options
  const source = options.source ?? 'testsrc'
  const file = join(workDir(), `clip-${made.size}-${Math.random().toString(36).slice(2)}.${container}`)
  const args = [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `${source}${source.includes('=') ? ':' : '='}duration=${seconds}:size=${width}x${height}:rate=${rate}`,
    ...encoders[codec],
  ]
  if (options.faststart) args.push('-movflags', '+faststart')
  if (options.live) args.push('-f', 'webm', '-live', '1')
  args.push(file)
  await run('ffmpeg', args)
  if (options.rotate !== undefined) {
    const rotated = file.replace(/(\.\w+)$/, '-rotated$1')
    await run('ffmpeg', ['-v', 'error', '-y', '-i', file, '-c', 'copy', '-metadata:s:v:0', `rotate=${options.rotate}`, rotated])
    return readFileSync(rotated)
  }
  return readFileSync(file)
}

const mimes: Record<ClipContainer, string> = { mp4: 'video/mp4', mov: 'video/quicktime', webm: 'video/webm', mkv: 'video/x-matroska' }

export function videoDataUrl(bytes: Buffer, container: ClipContainer = 'mp4'): string {
  return `data:${mimes[container]};base64,${bytes.toString('base64')}`
}

/**
 * An MP4 whose container header (mvhd) claims `seconds` while its track holds the real
 * frames: the duration a hostile file declares is checked before anything decodes.
 */
export function withDeclaredDuration(mp4: Buffer, seconds: number): Buffer {
  const bytes = Buffer.from(mp4)
  const at = bytes.indexOf('mvhd')
  if (at < 0) throw new Error('no mvhd box')
  // mvhd v0: version+flags, creation, modification, timescale, duration (all 32-bit).
  const timescale = bytes.readUInt32BE(at + 4 + 12)
  bytes.writeUInt32BE(Math.min(0xffffffff, Math.round(seconds * timescale)), at + 4 + 16)
  return bytes
}

/** The clips fuzzing starts from: each container and codec Visto reads. */
export async function videoFuzzSeeds(): Promise<Array<{ name: string; bytes: Buffer; mime: string }>> {
  const kinds: Array<[string, ClipOptions]> = [
    ['H.264 MP4', { seconds: 2, codec: 'h264', container: 'mp4' }],
    ['H.264 MP4 faststart', { seconds: 2, codec: 'h264', container: 'mp4', faststart: true }],
    ['H.264 MOV', { seconds: 2, codec: 'h264', container: 'mov' }],
    ['VP8 WebM', { seconds: 2, codec: 'vp8', container: 'webm' }],
    ['VP9 WebM', { seconds: 2, codec: 'vp9', container: 'webm' }],
  ]
  return Promise.all(kinds.map(async ([name, options]) => ({ name, bytes: await makeClip(options), mime: mimes[options.container ?? 'mp4'] })))
}
