/**
 * What ffprobe reads from a video's headers (no frame is decoded): the container, the
 * first video stream's codec and size, rotation and duration. Every limit is checked on
 * this before the decoder starts.
 */

export interface ProbedVideo {
  /** ffprobe's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm". */
  container: string
  codec: string
  /** Coded size, before rotation. */
  codedWidth: number
  codedHeight: number
  /** As displayed: a 90° rotation swaps the sides, a non-square pixel aspect stretches the width. */
  width: number
  height: number
  /** The video stream's duration, else the container's; undefined when neither says (live-recorded WebM). */
  durationSeconds: number | undefined
  /** The longest duration any header declares: what the limit is checked on, so a header cannot claim hours unnoticed. */
  declaredSeconds: number | undefined
}

export type ProbeOutcome = { kind: 'video'; video: ProbedVideo } | { kind: 'no-video-stream'; container: string } | { kind: 'unreadable'; reason: string }

/** Demuxers we let ffmpeg use: MP4/MOV (ISO BMFF) and Matroska/WebM. Anything else never reaches a parser. */
export const allowedDemuxers = 'mov,mp4,m4a,3gp,3g2,mj2,matroska,webm'

/**
 * ffprobe's options for one file. Only the local-file protocol (no playlist can make
 * ffmpeg open URLs or other files), only our demuxers, and a bounded probe.
 */
export function probeArgs(file: string): string[] {
  return [
    '-v',
    'error',
    '-hide_banner',
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    allowedDemuxers,
    '-probesize',
    String(16 * 1024 * 1024),
    '-analyzeduration',
    String(10_000_000),
    '-select_streams',
    'v:0',
    '-show_entries',
    'format=format_name,duration:stream=codec_name,width,height,duration,sample_aspect_ratio:stream_side_data=rotation:stream_tags=rotate',
    '-of',
    'json',
    file,
  ]
}

/**
 * ffprobe's options to find a duration the headers do not declare: the last video
 * packet's timestamp, read by demuxing alone (no decoding).
 */
export function lastPacketArgs(file: string): string[] {
  return [
    '-v',
    'error',
    '-hide_banner',
    '-protocol_whitelist',
    'file',
    '-format_whitelist',
    allowedDemuxers,
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time,duration_time',
    '-of',
    'csv=p=0',
    file,
  ]
}

function positiveNumber(value: unknown): number | undefined {
  const number = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : Number.NaN
  return Number.isFinite(number) && number > 0 ? number : undefined
}

function ratio(value: unknown): number {
  if (typeof value !== 'string') return 1
  const [num, den] = value.split(':').map(Number)
  return num !== undefined && den !== undefined && num > 0 && den > 0 ? num / den : 1
}

/** Reads ffprobe's JSON (`probeArgs`). */
export function parseProbe(json: string): ProbeOutcome {
  let data: { format?: { format_name?: unknown; duration?: unknown }; streams?: Array<Record<string, unknown>> }
  try {
    data = JSON.parse(json) as typeof data
  } catch {
    return { kind: 'unreadable', reason: 'ffprobe gave no readable answer' }
  }
  const container = typeof data.format?.format_name === 'string' ? data.format.format_name : 'unknown'
  const stream = data.streams?.[0]
  if (!stream) return { kind: 'no-video-stream', container }
  const codedWidth = positiveNumber(stream.width)
  const codedHeight = positiveNumber(stream.height)
  if (codedWidth === undefined || codedHeight === undefined) return { kind: 'unreadable', reason: 'the video stream declares no frame size' }
  const sideData = Array.isArray(stream.side_data_list) ? (stream.side_data_list as Array<Record<string, unknown>>) : []
  const tags = (stream.tags ?? {}) as Record<string, unknown>
  const rotation = Number(sideData.find((entry) => entry.rotation !== undefined)?.rotation ?? tags.rotate ?? 0)
  const quarterTurn = Math.abs(Math.round(rotation / 90)) % 2 === 1
  const displayWidth = Math.max(1, Math.round(codedWidth * ratio(stream.sample_aspect_ratio)))
  return {
    kind: 'video',
    video: {
      container,
      codec: typeof stream.codec_name === 'string' ? stream.codec_name : 'unknown',
      codedWidth,
      codedHeight,
      width: quarterTurn ? codedHeight : displayWidth,
      height: quarterTurn ? displayWidth : codedHeight,
      durationSeconds: positiveNumber(stream.duration) ?? positiveNumber(data.format?.duration),
      declaredSeconds: Math.max(positiveNumber(stream.duration) ?? 0, positiveNumber(data.format?.duration) ?? 0) || undefined,
    },
  }
}

/** The end of the last packet (`lastPacketArgs`' CSV lines), or undefined when there is none. */
export function parseLastPacket(csv: string): number | undefined {
  let end: number | undefined
  for (const line of csv.split('\n')) {
    const [pts, duration] = line.split(',').map((field) => Number(field))
    if (pts === undefined || !Number.isFinite(pts)) continue
    const finish = pts + (duration !== undefined && Number.isFinite(duration) ? duration : 0)
    if (end === undefined || finish > end) end = finish
  }
  return end !== undefined && end > 0 ? end : undefined
}
