import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/**
 * HEIC (HEVC-coded HEIF, the iPhone default) through libheif-js: libheif and libde265
 * compiled to WebAssembly, shipped on npm. sharp's prebuilt libheif only decodes AV1.
 *
 * Each decode runs in its own short-lived worker thread: the WebAssembly decode is
 * synchronous (seconds for a 12 MP photo), so it must not block the event loop; its
 * heap grows to the image size and is only returned when the worker exits; and a
 * hostile file that traps or hangs kills a worker, not the server.
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
    parentPort.postMessage({ kind: 'failed', reason: printed.replace(/^Could not parse HEIF file\s*/, '').slice(0, 120) || 'no image in the container' })
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

export function decodeHeic(bytes: Buffer, maxPixels: number, timeoutMs: number): Promise<HeicResult> {
  const path = heicDecoderPath()
  if (path === null) return Promise.resolve({ kind: 'failed', reason: 'no HEVC decoder is installed' })
  return new Promise((resolve) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { modulePath: path, bytes, maxPixels },
      // The decoded image lives in the WebAssembly heap plus one RGBA copy; leave room for both.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    })
    let settled = false
    const finish = (result: HeicResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      void worker.terminate()
      resolve(result)
    }
    const timer = setTimeout(() => finish({ kind: 'failed', reason: `decoding took longer than ${Math.round(timeoutMs / 1000)} s` }), timeoutMs)
    worker.once('message', (message: { kind: string; width?: number; height?: number; rgba?: Uint8ClampedArray; reason?: string }) => {
      if (message.kind === 'decoded') {
        const rgba = message.rgba!
        finish({ kind: 'decoded', width: message.width!, height: message.height!, rgba: Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength) })
      } else if (message.kind === 'too-large') {
        finish({ kind: 'too-large', width: message.width!, height: message.height! })
      } else {
        finish({ kind: 'failed', reason: message.reason ?? 'unknown error' })
      }
    })
    worker.once('error', (error) => finish({ kind: 'failed', reason: error.message.split('\n')[0]!.slice(0, 120) }))
    worker.once('exit', (code) => finish({ kind: 'failed', reason: `the decoder stopped (exit code ${code})` }))
  })
}
