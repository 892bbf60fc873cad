import { BmpDecodeError, createBmpDecoder, type BmpErrorKind, type DecodedRaster } from './bmp-decoder.js'
import { runDecodeWorker } from './decode-worker.js'

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { BmpDecodeError, readBmpHeader, decodeBmp } = (${createBmpDecoder.toString()})()
const bytes = new Uint8Array(workerData.bytes.buffer, workerData.bytes.byteOffset, workerData.bytes.byteLength)
try {
  const raster = decodeBmp(bytes, readBmpHeader(bytes), workerData.reduceFactor)
  const data = raster.data
  parentPort.postMessage({ kind: 'decoded', width: raster.width, height: raster.height, data }, data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer] : [])
} catch (error) {
  if (error instanceof BmpDecodeError) parentPort.postMessage({ kind: 'bmp-error', errorKind: error.kind, message: error.message })
  else parentPort.postMessage({ kind: 'failed', reason: String(error && error.message || error).split('\\n')[0].slice(0, 120) })
}
`

type WorkerMessage =
  | { kind: 'decoded'; width: number; height: number; data: Uint8Array }
  | { kind: 'bmp-error'; errorKind: BmpErrorKind; message: string }
  | { kind: 'failed'; reason: string }

/**
 * decodeBmp in a worker thread (decode-worker.ts): a 100-megapixel BMP takes seconds of
 * pure JavaScript, which on the main thread would stall every other request. Decoder
 * errors come back as the same BmpDecodeError; a timeout or a crashed worker is a
 * 'corrupt' one naming what happened.
 */
export async function decodeBmpInWorker(bytes: Uint8Array, reduceFactor: number, timeoutMs: number, signal?: AbortSignal): Promise<DecodedRaster> {
  const outcome = await runDecodeWorker<WorkerMessage>({ source: workerSource, workerData: { bytes, reduceFactor }, timeoutMs, heapMb: 64, signal })
  if (outcome.kind === 'failed') throw new BmpDecodeError('corrupt', `BMP could not be decoded (${outcome.reason})`)
  const message = outcome.message
  if (message.kind === 'bmp-error') throw new BmpDecodeError(message.errorKind, message.message)
  if (message.kind === 'failed') throw new BmpDecodeError('corrupt', `BMP could not be decoded (${message.reason})`)
  const data = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength)
  return { width: message.width, height: message.height, channels: 3, data }
}
