/**
 * What a stand-in tensor holds, and how its bytes are produced: row by row in bounded
 * chunks (random values, then encoding or quantisation), so memory stays at a few
 * megabytes whatever the tensor's size.
 */
import { tensorTypes, type GgmlTypeName } from '../gguf/tensor-types.js'
import type { GgufTensorSource } from '../gguf/writer.js'
import { Sfc32 } from './prng.js'

export type TensorInit =
  | { kind: 'constant'; value: number }
  /** Uniform in [-scale, scale); rows whose `rowMask` entry is 0 are zero instead. */
  | { kind: 'uniform'; scale: number; rowMask?: Uint8Array }

export interface PlannedTensor {
  name: string
  /** ggml order: shape[0] is the row length. */
  shape: number[]
  type: GgmlTypeName
  init: TensorInit
}

const CHUNK_WEIGHTS = 1 << 20

/** A writer source that generates `tensor`'s bytes on demand from `seed`. */
export function tensorSource(tensor: PlannedTensor, seed: number): GgufTensorSource {
  return { name: tensor.name, shape: tensor.shape, type: tensor.type, data: () => generateBytes(tensor, seed) }
}

function* generateBytes(tensor: PlannedTensor, seed: number): Generator<Uint8Array> {
  const rowLength = tensor.shape[0]!
  const rows = tensor.shape.slice(1).reduce((a, b) => a * b, 1)
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_WEIGHTS / rowLength))
  const { blockWeights, blockBytes, encode } = tensorTypes[tensor.type]
  const values = new Float32Array(rowsPerChunk * rowLength)
  const bytes = new Uint8Array((values.length / blockWeights) * blockBytes)
  const random = new Sfc32(seed, tensor.name)
  const { init } = tensor
  for (let row = 0; row < rows; row += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - row)
    const chunk = values.subarray(0, n * rowLength)
    if (init.kind === 'constant') {
      chunk.fill(init.value)
    } else {
      random.fillUniform(chunk, init.scale)
      if (init.rowMask) {
        for (let r = 0; r < n; r++) {
          if (init.rowMask[row + r] === 0) chunk.fill(0, r * rowLength, (r + 1) * rowLength)
        }
      }
    }
    const length = (chunk.length / blockWeights) * blockBytes
    encode(chunk, bytes, 0)
    yield bytes.subarray(0, length)
  }
}
