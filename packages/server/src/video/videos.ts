import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatBytes, type ImageDetail } from '@visto/protocol'
import sharp from 'sharp'
import { MiB, type ServeConfig } from '../config.js'
import type { FileLookup } from '../documents/pdf-documents.js'
import type { EngineContentPart } from '../engines/engine.js'
import type { VisionGeometry } from '../engines/vision-geometry.js'
import { InvalidRequestError, InvalidVideoError, PayloadTooLargeError } from '../errors.js'
import { formatPixels } from '../images/image-errors.js'
import { decodeLenientBase64 } from '../images/image-source.js'
import { configureSharp, encode, type OutputFormat } from '../images/normalise.js'
import type { ImagePipelineOptions } from '../images/pipeline.js'
import { fetchRemoteImage, type RemoteFetchOptions } from '../images/remote-fetch.js'
import type { Semaphore } from '../images/semaphore.js'
import { aspectRatioOf, maxAspectRatio } from '../images/smart-resize.js'
import type { ChatJobVideoPart } from '../serving/chat-job.js'
import { ffmpegTools, lastReason, runLimited, type FfmpegTools, type ProcessFailure } from './ffmpeg-process.js'
import { averageFrames, extractFrames } from './frame-extractor.js'
import { FramePlanError, planFrames, type FramePlan, type FrameRequest, type FrameRules } from './frame-plan.js'
import { notAVideo, sniffVideoContainer } from './video-container.js'
import { lastPacketArgs, parseLastPacket, parseProbe, probeArgs, type ProbedVideo } from './video-probe.js'

/** Counts the tokens of texts as the served model's tokenizer does; undefined or a failure: estimated. */
export type TextTokenCounter = (texts: readonly string[], signal?: AbortSignal) => Promise<number[]>

export interface VideoOptions {
  tools: FfmpegTools
  /** Decoded bytes per video (--max-video-mb). */
  maxVideoBytes: number
  /** Longest video, read from its headers before decoding (--max-video-seconds). */
  maxSeconds: number
  /** Video parts per request (--max-videos). */
  maxVideosPerRequest: number
  /** Largest frame, read from the headers and enforced again by the decoder. */
  maxFramePixels: number
  /** Upper bound for probing, and again for decoding, one video (--video-timeout-seconds). */
  timeoutSeconds: number
  /** The decoder's address space (Linux). */
  maxDecoderBytes: number
  decoderThreads: number
  /** How frames are sampled and sized; the budget is --max-video-tokens. */
  frames: FrameRules
  /** The served model's geometry, asked for each video, as images ask for it. */
  geometry: () => VisionGeometry
  outputFormat: OutputFormat
  /** The image pipeline's decode slots: probing and decoding a video take one, as decoding an image does. */
  decodeSlots: Semaphore
  /** Uploaded files; without it a `file_id` gets a 400 saying uploads are not enabled. */
  files?: FileLookup | undefined
  /** Fetch http(s) video URLs (--allow-remote-images), SSRF-guarded as images are. */
  allowRemote: boolean
  remote: RemoteFetchOptions
  /** The engine's tokenizer, for the timestamps' cost; without it they are estimated. */
  countTextTokens?: TextTokenCounter | undefined
}

/** Frame sizes per `detail`: 256², 448² and 768² pixels, i.e. at most 64, 196 and 576 tokens a frame pair (Qwen3-VL). */
export const videoFramePixels = Object.freeze({ low: 256 * 256, auto: 448 * 448, high: 768 * 768 })

export function videoFrameRules(budgetTokens: number): FrameRules {
  return Object.freeze({
    defaultFps: 2,
    minFrames: 4,
    maxFrames: 768,
    framePixels: videoFramePixels,
    // 64 tokens (about 320x180 at 16:9) is the least that still shows what happens in a frame.
    minFramePixels: 256 * 256,
    budgetTokens,
  })
}

/** The options `visto serve` runs with: its flags, and the image pipeline's geometry, slots and remote policy. */
export function videoOptionsFrom(
  config: ServeConfig,
  images: ImagePipelineOptions,
  extra: { files?: FileLookup | undefined; countTextTokens?: TextTokenCounter | undefined } = {},
): VideoOptions {
  return {
    tools: ffmpegTools(config.ffmpeg),
    maxVideoBytes: Math.round(config['max-video-mb'] * MiB),
    maxSeconds: config['max-video-seconds'],
    maxVideosPerRequest: config['max-videos'],
    // 4096x4096 covers 4K video in either orientation; a larger frame is refused before decoding.
    maxFramePixels: 4096 * 4096,
    timeoutSeconds: config['video-timeout-seconds'],
    maxDecoderBytes: 1024 * MiB,
    decoderThreads: Math.max(1, Math.min(4, Math.floor(availableParallelism() / config['decode-concurrency']))),
    frames: videoFrameRules(config['max-video-tokens']),
    geometry: images.geometry,
    outputFormat: images.outputFormat,
    decodeSlots: images.decodeSlots,
    files: extra.files,
    allowRemote: images.allowRemote,
    remote: images.remote,
    countTextTokens: extra.countTextTokens,
  }
}

/** A video read and measured, nothing decoded yet: what the limits are checked on. */
export interface InspectedVideo {
  part: ChatJobVideoPart
  bytes: Buffer
  probed: ProbedVideo & { durationSeconds: number; declaredSeconds: number }
  detail: ImageDetail
  plan: FramePlan
}

/** What a video adds to the prompt, timestamps included. */
export interface VideoCost {
  plan: FramePlan
  /** Tokens of each pair's timestamp text. */
  labelTokens: number[]
  /** True when the engine could not count them and they were estimated (Qwen's tokenizer: one token per digit, four more). */
  estimated: boolean
  imageTokens: number
  promptTokens: number
}

export function estimatedLabelTokens(label: string): number {
  return (label.match(/[0-9]/g)?.length ?? 0) + 4
}

function paramFor(part: Pick<ChatJobVideoPart, 'where' | 'fileId' | 'bytes'>): string {
  if (part.bytes !== undefined) return part.where
  return `${part.where}.video_url.${part.fileId !== undefined ? 'file_id' : 'url'}`
}

/**
 * Videos in chat requests: read the bytes, probe the headers (container, codec, size,
 * duration) and check the limits, plan the frames, then decode exactly those frames in
 * a limited ffmpeg child and hand each pair to the engine as one image after its
 * timestamp text. A video file exists on disk only while ffmpeg reads it, in a private
 * temporary folder.
 */
export class Videos {
  constructor(readonly options: VideoOptions) {}

  private invalid(part: Pick<ChatJobVideoPart, 'where' | 'fileId' | 'bytes'>, reason: string, code: string): InvalidVideoError {
    return new InvalidVideoError(`Invalid video data in ${part.where}: ${reason}`, { param: paramFor(part), code })
  }

  private tooLarge(part: Pick<ChatJobVideoPart, 'where' | 'fileId' | 'bytes'>, what: string, code: string): PayloadTooLargeError {
    return new PayloadTooLargeError(`Video too large in ${part.where}: ${what}`, { param: paramFor(part), code })
  }

  private tooManyBytes(part: ChatJobVideoPart, size: number): PayloadTooLargeError {
    return this.tooLarge(part, `the video is ${formatBytes(size)}, over the per-video limit of ${formatBytes(this.options.maxVideoBytes)} (--max-video-mb)`, 'video_too_large')
  }

  /** Before reading anything: the count of video parts. */
  checkParts(parts: readonly ChatJobVideoPart[]): void {
    const max = this.options.maxVideosPerRequest
    if (parts.length > max) {
      throw new InvalidRequestError(`Too many videos: ${parts.length} in this request, the limit is ${max} (--max-videos)`, { param: 'messages', code: 'too_many_videos' })
    }
  }

  async readBytes(part: ChatJobVideoPart, signal?: AbortSignal): Promise<Buffer> {
    if (part.bytes !== undefined) return this.checkBytes(part.bytes, part)
    if (part.fileId !== undefined) {
      if (!this.options.files) {
        throw this.invalid(
          part,
          'file_id is not supported: uploaded files are not enabled on this server; send the video inline as "url": "data:video/mp4;base64,..."',
          'file_uploads_disabled',
        )
      }
      const bytes = await this.options.files(part.fileId)
      if (bytes === undefined) throw this.invalid(part, `no uploaded file has the id ${JSON.stringify(part.fileId.slice(0, 80))}`, 'file_not_found')
      return this.checkBytes(bytes, part)
    }
    const url = part.url!.trim()
    if (url === '') throw this.invalid(part, 'the video URL is empty (zero bytes)', 'empty_video')
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase()
    let payload = url
    if (scheme === 'data') {
      const comma = url.indexOf(',')
      if (comma < 0 || comma > 256) throw this.invalid(part, 'malformed data URL: no "," separates the header from the data', 'invalid_base64')
      const params = url
        .slice(5, comma)
        .split(';')
        .map((p) => p.trim().toLowerCase())
      if (!params.includes('base64')) throw this.invalid(part, 'the data URL must be base64 (data:video/mp4;base64,...)', 'invalid_base64')
      payload = url.slice(comma + 1)
    } else if (scheme === 'http' || scheme === 'https') {
      if (!this.options.allowRemote) {
        throw this.invalid(
          part,
          'remote video URLs are disabled on this server; send the video inline as a data:video/mp4;base64,... URL or upload it and send its file_id, ' +
            'or start the server with --allow-remote-images (VISTO_ALLOW_REMOTE_IMAGES=1)',
          'remote_videos_disabled',
        )
      }
      let parsed: URL
      try {
        parsed = new URL(url)
      } catch {
        throw this.invalid(part, `"${url.slice(0, 80)}" is not a valid URL`, 'invalid_video_url')
      }
      const bytes = await fetchRemoteImage(parsed, { where: part.where, param: paramFor(part) }, { ...this.options.remote, maxBytes: this.options.maxVideoBytes }, signal)
      return this.checkBytes(bytes, part)
    } else if (scheme !== undefined) {
      throw this.invalid(part, `unsupported URL scheme "${scheme}:"; send the video inline as a data:video/mp4;base64,... URL`, 'invalid_video_url')
    }
    const bytes = decodeLenientBase64(payload, this.options.maxVideoBytes, {
      invalid: (reason) => this.invalid(part, reason, 'invalid_base64'),
      empty: () => this.invalid(part, 'the video data is empty (zero bytes)', 'empty_video'),
      tooLarge: (size) => this.tooManyBytes(part, size),
    })
    return this.checkBytes(bytes, part)
  }

  private checkBytes(bytes: Buffer, part: ChatJobVideoPart): Buffer {
    if (bytes.length === 0) throw this.invalid(part, 'the video is empty (zero bytes)', 'empty_video')
    if (bytes.length > this.options.maxVideoBytes) throw this.tooManyBytes(part, bytes.length)
    if (sniffVideoContainer(bytes) === null) throw this.invalid(part, notAVideo(bytes), 'unsupported_video_format')
    return bytes
  }

  private limits(signal: AbortSignal | undefined) {
    return { timeoutMs: this.options.timeoutSeconds * 1000, maxMemoryBytes: this.options.maxDecoderBytes, signal }
  }

  private failure(part: ChatJobVideoPart, failure: ProcessFailure, stderr: string, doing: 'read' | 'decode'): Error {
    switch (failure) {
      case 'missing':
        return new InvalidRequestError(
          'This server cannot read video: install ffmpeg (e.g. apt-get install ffmpeg, brew install ffmpeg) or point --ffmpeg at it, then restart Visto',
          {
            param: paramFor(part),
            code: 'video_unavailable',
          },
        )
      case 'timeout':
        return this.invalid(part, `the video took too long to ${doing}: over ${this.options.timeoutSeconds} s (--video-timeout-seconds)`, 'video_timeout')
      case 'memory':
        return this.invalid(part, `the video needs more than ${formatBytes(this.options.maxDecoderBytes)} of memory to ${doing}`, 'video_too_complex')
      case 'aborted':
        return this.invalid(part, 'the request was cancelled while the video was being read', 'request_cancelled')
      case 'output':
        return this.invalid(part, 'the video is too long to measure', 'corrupt_video')
      case 'exit': {
        const reason = lastReason(stderr)
        return this.invalid(part, `corrupt or unreadable video${reason ? ` (${reason})` : ''}`, 'corrupt_video')
      }
    }
  }

  /** Runs `task` on the video's bytes in a private temporary file, removed afterwards. */
  private async withFile<T>(bytes: Buffer, task: (file: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'visto-video-'))
    try {
      const file = join(dir, `${randomBytes(6).toString('hex')}.video`)
      await writeFile(file, bytes, { mode: 0o600 })
      return await task(file)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }

  /** Reads the headers and checks every limit; decodes nothing. */
  async inspect(part: ChatJobVideoPart, signal?: AbortSignal): Promise<InspectedVideo> {
    const bytes = await this.readBytes(part, signal)
    const probed = await this.options.decodeSlots.run(
      () =>
        this.withFile(bytes, async (file) => {
          const probe = await runLimited(this.options.tools.ffprobe, probeArgs(file), { ...this.limits(signal), maxOutputBytes: 1024 * 1024 })
          if (probe.kind === 'failed') throw this.failure(part, probe.failure, probe.stderr, 'read')
          const outcome = parseProbe(probe.stdout.toString('utf8'))
          if (outcome.kind === 'no-video-stream') throw this.invalid(part, 'the file has no video stream', 'no_video_stream')
          if (outcome.kind === 'unreadable') throw this.invalid(part, `corrupt or unreadable video (${outcome.reason})`, 'corrupt_video')
          this.checkFrame(part, outcome.video)
          let duration = outcome.video.durationSeconds
          if (duration === undefined) {
            // Live-recorded WebM declares no duration: the last packet's end says it, demuxing only.
            const packets = await runLimited(this.options.tools.ffprobe, lastPacketArgs(file), { ...this.limits(signal), maxOutputBytes: 16 * 1024 * 1024 })
            if (packets.kind === 'failed') throw this.failure(part, packets.failure, packets.stderr, 'read')
            duration = parseLastPacket(packets.stdout.toString('utf8'))
            if (duration === undefined) throw this.invalid(part, 'the video has no frames', 'corrupt_video')
          }
          return { ...outcome.video, durationSeconds: duration, declaredSeconds: Math.max(duration, outcome.video.declaredSeconds ?? 0) }
        }),
      signal,
    )
    if (probed.declaredSeconds > this.options.maxSeconds) {
      throw this.tooLarge(
        part,
        `the video lasts ${formatSeconds(probed.declaredSeconds)}, over the limit of ${formatSeconds(this.options.maxSeconds)} (--max-video-seconds)`,
        'video_too_long',
      )
    }
    let plan: FramePlan
    try {
      plan = planFrames(probed, this.frameRequest(part), this.options.frames, this.options.geometry())
    } catch (error) {
      if (error instanceof FramePlanError) throw this.invalid(part, error.message, 'corrupt_video')
      throw error
    }
    return { part, bytes, probed, detail: part.detail, plan }
  }

  private frameRequest(part: Pick<ChatJobVideoPart, 'fps' | 'maxFrames' | 'detail'>): FrameRequest {
    return { fps: part.fps, maxFrames: part.maxFrames, detail: part.detail }
  }

  private checkFrame(part: ChatJobVideoPart, video: ProbedVideo): void {
    const pixels = video.codedWidth * video.codedHeight
    if (pixels > this.options.maxFramePixels) {
      throw this.tooLarge(
        part,
        `its frames are ${video.codedWidth}x${video.codedHeight} (${formatPixels(pixels)}), over the limit of ${formatPixels(this.options.maxFramePixels)} a frame`,
        'video_too_many_pixels',
      )
    }
    const ratio = aspectRatioOf(video.width, video.height)
    if (ratio > maxAspectRatio) {
      throw this.invalid(part, `${video.width}x${video.height} has an aspect ratio of ${Math.round(ratio)}:1; the model accepts at most ${maxAspectRatio}:1`, 'image_aspect_ratio')
    }
  }

  /**
   * What a video of this duration and displayed size costs, for this part's `fps`,
   * `max_frames` and `detail`: its images, their markers and its timestamp texts.
   */
  async cost(
    source: { durationSeconds: number; width: number; height: number },
    request: Pick<ChatJobVideoPart, 'fps' | 'maxFrames' | 'detail'>,
    signal?: AbortSignal,
  ): Promise<VideoCost> {
    const plan = planFrames(source, this.frameRequest(request), this.options.frames, this.options.geometry())
    const labels = plan.pairs.map((pair) => pair.label)
    let labelTokens: number[] | undefined
    if (this.options.countTextTokens) {
      try {
        const counted = await this.options.countTextTokens(labels, signal)
        if (counted.length === labels.length) labelTokens = counted
      } catch {
        // The engine is loading or cannot tokenize: estimate instead.
      }
    }
    const estimated = labelTokens === undefined
    labelTokens ??= labels.map(estimatedLabelTokens)
    const textTokens = labelTokens.reduce((sum, n) => sum + n, 0)
    return { plan, labelTokens, estimated, imageTokens: plan.imageTokens, promptTokens: plan.imageTokens + plan.markerTokens + textTokens }
  }

  imageTokens(video: InspectedVideo): number {
    return video.plan.imageTokens
  }

  /** Decodes the planned frames at `size` and returns one raw RGB image per pair. */
  private async pairImages(video: InspectedVideo, size: { width: number; height: number }, signal: AbortSignal | undefined): Promise<Buffer[]> {
    const { plan, part } = video
    const result = await this.options.decodeSlots.run(
      () =>
        this.withFile(video.bytes, (file) =>
          extractFrames(
            this.options.tools,
            file,
            {
              sampleRate: plan.sampleRate,
              frames: plan.frameTimes.length,
              width: size.width,
              height: size.height,
              // A little past the declared end: the last frame's own duration.
              maxSeconds: Math.ceil(video.probed.durationSeconds + 1),
              maxSourcePixels: this.options.maxFramePixels,
              threads: this.options.decoderThreads,
            },
            this.limits(signal),
          ),
        ),
      signal,
    )
    if (result.kind === 'failed') throw this.failure(part, result.failure, result.stderr, 'decode')
    const { frames } = result
    const wanted = plan.frameTimes.length
    // A stream a little shorter than its container says (audio outlasting video) misses its
    // last sample times: the last frame stands in. Missing more than that is a broken file.
    if (frames.length === 0 || wanted - frames.length > Math.max(2, Math.floor(wanted / 10))) {
      throw this.invalid(
        part,
        `truncated or corrupt video: ${frames.length} of the ${wanted} frames sampled over its ${formatSeconds(video.probed.durationSeconds)} could be decoded`,
        'truncated_video',
      )
    }
    while (frames.length < wanted) frames.push(frames.at(-1)!)
    return plan.pairs.map((pair) => averageFrames(frames[pair.first]!, frames[pair.second]!))
  }

  /** Decodes the planned frames: each pair's timestamp text, then its image. */
  async render(video: InspectedVideo, signal?: AbortSignal): Promise<EngineContentPart[]> {
    const { plan } = video
    const images = await this.pairImages(video, plan, signal)
    configureSharp()
    const mime = this.options.outputFormat === 'png' ? 'image/png' : 'image/jpeg'
    const encoded = await Promise.all(images.map((rgb) => encode(sharp(rgb, { raw: { width: plan.width, height: plan.height, channels: 3 } }), this.options).toBuffer()))
    return plan.pairs.flatMap((pair, i): EngineContentPart[] => [
      { type: 'text', text: pair.label },
      { type: 'image', image: { data: encoded[i]!, mime, width: plan.width, height: plan.height } },
    ])
  }

  /** Small JPEGs of what the model sees (each pair's image), decoded straight at thumbnail size. */
  async thumbnails(video: InspectedVideo, box: { width: number; height: number }, signal?: AbortSignal): Promise<Buffer[]> {
    const { plan } = video
    const scale = Math.min(1, box.width / plan.width, box.height / plan.height)
    const size = { width: Math.max(2, Math.round((plan.width * scale) / 2) * 2), height: Math.max(2, Math.round((plan.height * scale) / 2) * 2) }
    const images = await this.pairImages(video, size, signal)
    configureSharp()
    return Promise.all(
      images.map((rgb) =>
        sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } })
          .jpeg({ quality: 70 })
          .toBuffer(),
      ),
    )
  }
}

function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${Number(seconds.toFixed(1))} s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`
}
