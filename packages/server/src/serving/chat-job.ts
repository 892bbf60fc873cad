import type { ImageDetail } from '@visto/protocol'
import type { EngineFunction, EngineToolCall, SamplingParams } from '../engines/engine.js'
import type { Reservation } from './admission.js'
import type { CacheDirective } from './response-cache.js'

/**
 * One chat for the engine to answer, whichever entry point it came through: an OpenAI
 * JSON body (`parseChatRequest`), an upload form, a batch line. No wire shape lives
 * here: each entry point reads its own format and builds a job; the chat service runs
 * it, deciding itself how to read each image and how to key the response cache.
 */
export interface ChatJob extends ChatJobRequest {
  /** Names the request in logs, metrics and the engine. */
  requestId: string
  admission: AdmissionClass
  /** What the client allows the response cache to do. */
  cache: CacheDirective
}

/** What the model is asked: the part of a job that a request body becomes. */
export interface ChatJobRequest {
  /** The model asked for; undefined or '' is the engine's first. */
  model: string | undefined
  messages: ChatJobMessage[]
  sampling: ChatJobSampling
  stream: boolean
  /** Streams only: a last chunk carries the token usage. */
  includeUsage: boolean
  /** Functions the model may call; undefined: none. */
  tools?: ChatJobTools | undefined
  /** How many answers to generate (choices), 1 when undefined; at most --max-n. */
  n?: number | undefined
}

/**
 * The functions offered, as every API states them: a name, a description, a JSON
 * schema of the arguments. `none` is kept (rather than dropping the tools) so that the
 * response cache tells it apart from a request without tools.
 */
export interface ChatJobTools {
  functions: EngineFunction[]
  choice: 'none' | 'auto' | 'required' | { name: string }
  /** False: at most one call per answer. */
  parallel: boolean
}

/** `maxTokens` undefined: the server's --default-max-tokens. */
export type ChatJobSampling = Omit<SamplingParams, 'maxTokens'> & { maxTokens: number | undefined }

/**
 * How a job waits for the engine. `interactive`: a place in the bounded queue (503 at
 * once when it is full); an entry point that reads and decodes its input first (uploads)
 * reserves that place beforehand and hands it over here. `batch`: a background slot,
 * granted only while no interactive request waits, to at most `concurrency` jobs at once
 * (Infinity: as many as there are free slots).
 */
export type AdmissionClass = { class: 'interactive'; reservation?: Reservation | undefined } | { class: 'batch'; concurrency: number }

export interface ChatJobMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  parts: ChatJobPart[]
  /** Assistant messages: the calls the model made (`arguments` JSON text, as the client sent it back). */
  toolCalls?: EngineToolCall[] | undefined
  /** Tool messages: the call this result answers. */
  toolCallId?: string | undefined
}

export type ChatJobPart = ChatJobTextPart | ChatJobImagePart | ChatJobFilePart | ChatJobVideoPart

export interface ChatJobTextPart {
  type: 'text'
  text: string
}

/** An image, not decoded yet: a URL the client wrote, or bytes the entry point already read. */
export type ChatJobImagePart = ImageFromUrl | ImageFromBytes

interface ImagePartBase {
  type: 'image'
  detail: ImageDetail
  /** What errors call the part: `messages[0].content[1]` in a chat body, `image[0]` in an upload form. */
  where: string
}

/** A data URL, bare base64 or http(s) URL, as the client sent it. */
export interface ImageFromUrl extends ImagePartBase {
  url: string
  bytes?: undefined
}

/** Bytes already read (an upload). */
export interface ImageFromBytes extends ImagePartBase {
  bytes: Buffer
  /** The bytes' sha256 (hex): the response cache keys them as the same bytes sent inline. */
  sha256: string
  url?: undefined
}

/** A PDF, not read yet: exactly one of `fileData`, `fileId` and `bytes` is set. */
export interface ChatJobFilePart {
  type: 'file'
  /** What errors call the part, as for images. */
  where: string
  filename: string | undefined
  /** Inline, as sent: a data:application/pdf;base64 URL or bare base64. */
  fileData: string | undefined
  /** A file uploaded earlier through the Files API. */
  fileId: string | undefined
  /** Bytes already read (an upload). */
  bytes?: Buffer | undefined
  /** The `pages` selection as sent ("1-3,7"); undefined: every page. */
  pages: string | undefined
  detail: ImageDetail
}

/**
 * A video, not read yet: exactly one of `url` (a data URL, bare base64 or http(s) URL, as
 * sent), `fileId` and `bytes` is set. Its frames reach the engine as images.
 */
export interface ChatJobVideoPart {
  type: 'video'
  /** What errors call the part, as for images. */
  where: string
  url: string | undefined
  /** A file uploaded earlier through the Files API. */
  fileId: string | undefined
  /** Bytes already read (an upload), with their sha256 (hex) for the response cache. */
  bytes?: Buffer | undefined
  sha256?: string | undefined
  /** Frames sampled per second; undefined: the server's default (2, as Qwen's processor). */
  fps: number | undefined
  /** At most this many frames; undefined: the server's ceiling. */
  maxFrames: number | undefined
  detail: ImageDetail
}
