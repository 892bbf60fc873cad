import { createRequire } from 'node:module'
import { runDecodeWorker } from './decode-worker.js'

/**
 * HEIC (HEVC-coded HEIF, the iPhone default) through libheif-js: libheif and libde265
 * compiled to WebAssembly, shipped on npm. sharp's prebuilt libheif only decodes AV1.
 *
 * Each decode runs in its own short-lived worker thread (decode-worker.ts): the
 * WebAssembly decode is synchronous (seconds for a 12 MP photo) and its heap grows to
 * the image size, only returned when the worker exits.
 */
export type HeicResult =
  | { kind: 'decoded'; width: number; height: number; rgba: Buffer }
  | { kind: 'too-large'; width: number; height: number }
  | { kind: 'failed'; reason: string }

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
// libheif reports parse errors by printing them; keep the last one as the reason.
let printed = ''
console.log = console.warn = console.error = (...args) => { printed = args.join(' ') }
const libheif = require(workerData.modulePath)
const bytes = Buffer.from(workerData.bytes.buffer, workerData.bytes.byteOffset, workerData.bytes.byteLength)
try {
  const images = new libheif.HeifDecoder().decode(bytes)
  if (!images || images.length === 0) {
    parentPort.postMessage({ kind: 'failed', reason: printed.replace(/^Could not parse HEIF file\\s*/, '').slice(0, 120) || 'no image in the container' })
  } else {
    const image = images.find((candidate) => candidate.is_primary()) || images[0]
    const width = image.get_width()
    const height = image.get_height()
    if (!(width > 0 && height > 0)) {
      parentPort.postMessage({ kind: 'failed', reason: 'no dimensions in the header' })
    } else if (width * height > workerData.maxPixels) {
      parentPort.postMessage({ kind: 'too-large', width, height })
    } else {
      const target = { data: new Uint8ClampedArray(width * height * 4), width, height }
      image.display(target, (result) => {
        if (!result) {
          parentPort.postMessage({ kind: 'failed', reason: 'the HEVC data could not be decoded' })
          return
        }
        const rgba = result.data
        parentPort.postMessage({ kind: 'decoded', width, height, rgba }, [rgba.buffer])
      })
    }
  }
} catch (error) {
  parentPort.postMessage({ kind: 'failed', reason: String(error && error.message || error).split('\\n')[0].slice(0, 120) })
}
`

let modulePath: string | null | undefined

/** Where libheif-js lives, or null when it is not installed (then HEIC gets a clear 400). */
export function heicDecoderPath(): string | null {
  if (modulePath === undefined) {
    try {
      modulePath = createRequire(import.meta.url).resolve('libheif-js/wasm-bundle')
    } catch {
      modulePath = null
    }
  }
  return modulePath
}

export async function decodeHeic(bytes: Buffer, maxPixels: number, timeoutMs: number, signal?: AbortSignal): Promise<HeicResult> {
  const path = heicDecoderPath()
  if (path === null) return { kind: 'failed', reason: 'no HEVC decoder is installed' }
  const outcome = await runDecodeWorker<{ kind: string; width?: number; height?: number; rgba?: Uint8ClampedArray; reason?: string }>({
    source: workerSource,
    workerData: { modulePath: path, bytes, maxPixels },
    timeoutMs,
    // The decoded image lives in the WebAssembly heap plus one RGBA copy; leave room for both.
    heapMb: 256,
    signal,
  })
  if (outcome.kind === 'failed') return outcome
  const message = outcome.message
  if (message.kind === 'decoded') {
    const rgba = message.rgba!
    return { kind: 'decoded', width: message.width!, height: message.height!, rgba: Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength) }
  }
  if (message.kind === 'too-large') return { kind: 'too-large', width: message.width!, height: message.height! }
  return { kind: 'failed', reason: message.reason ?? 'unknown error' }
}
