import { allowedDemuxers } from './video-probe.js'
import { runLimited, type FfmpegTools, type ProcessLimits, type ProcessResult } from './ffmpeg-process.js'

export interface FrameRequestForDecoder {
  /** Frames are taken at i / sampleRate seconds from the start. */
  sampleRate: number
  frames: number
  /** Every frame is scaled to exactly this size (RGB, 3 bytes a pixel). */
  width: number
  height: number
  /** Never read past this point of the file, whatever its headers claim. */
  maxSeconds: number
  /** Refused by the decoder itself beyond this (a header that lied to the probe). */
  maxSourcePixels: number
  /** Decoder threads. */
  threads: number
}

export type ExtractResult = { kind: 'frames'; frames: Buffer[] } | Extract<ProcessResult, { kind: 'failed' }>

/**
 * The decoder's options: the same protocol and demuxer whitelists as the probe, only the
 * first video stream, frames picked by ffmpeg's fps filter (the nearest frame to each
 * sample time) and scaled there, so a frame never exists here at full size. `-frames:v`
 * stops the decoder after the last one.
 */
export function extractArgs(file: string, request: FrameRequestForDecoder): string[] {
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-threads',
    String(request.threads),
    '-filter_threads',
    '1',
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    allowedDemuxers,
    '-max_pixels',
    String(request.maxSourcePixels),
    '-t',
    String(request.maxSeconds),
    '-i',
    file,
    '-map',
    '0:v:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    `fps=${request.sampleRate.toFixed(6)},scale=${request.width}:${request.height}:flags=bicubic`,
    '-frames:v',
    String(request.frames),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]
}

/**
 * Decodes the planned frames as raw RGB. Output beyond the planned frames kills the
 * decoder, so its output is bounded by the plan, not by the file.
 */
export async function extractFrames(tools: FfmpegTools, file: string, request: FrameRequestForDecoder, limits: Omit<ProcessLimits, 'maxOutputBytes'>): Promise<ExtractResult> {
  const frameBytes = request.width * request.height * 3
  const frames: Buffer[] = []
  let pending: Buffer[] = []
  let pendingBytes = 0
  const result = await runLimited(tools.ffmpeg, extractArgs(file, request), { ...limits, maxOutputBytes: frameBytes * request.frames }, (chunk) => {
    let offset = 0
    while (offset < chunk.length) {
      const take = Math.min(frameBytes - pendingBytes, chunk.length - offset)
      pending.push(chunk.subarray(offset, offset + take))
      pendingBytes += take
      offset += take
      if (pendingBytes === frameBytes) {
        frames.push(pending.length === 1 ? Buffer.from(pending[0]!) : Buffer.concat(pending))
        pending = []
        pendingBytes = 0
      }
    }
  })
  if (result.kind === 'failed') return result
  return { kind: 'frames', frames }
}

/**
 * One image for a pair of frames: their average, the input Qwen's temporal patch sees
 * through llama.cpp's image path (see frame-plan.ts). The same frame twice is itself.
 */
export function averageFrames(a: Buffer, b: Buffer): Buffer {
  if (a === b) return a
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i]! + b[i]! + 1) >> 1
  return out
}
