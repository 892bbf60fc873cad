/**
 * The ggml tensor types we write, with their block geometry and encoders. Real model
 * files use many more (Q4_K, BF16, ...); the reader reports those by number only.
 */
import { encodeF16 } from './f16.js'
import { Q4_0_BLOCK_BYTES, Q4_0_BLOCK_WEIGHTS, quantizeQ4_0 } from './q4-0.js'
import { Q8_0_BLOCK_BYTES, Q8_0_BLOCK_WEIGHTS, quantizeQ8_0 } from './q8-0.js'

export const GgmlType = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const
export type GgmlTypeName = keyof typeof GgmlType

interface TensorTypeInfo {
  /** Weights per block (1 for plain floats). */
  blockWeights: number
  blockBytes: number
  /** Encodes a whole number of blocks of float32 weights into `dst` at `offset`. */
  encode(src: Float32Array, dst: Uint8Array, offset: number): void
}

export const tensorTypes: Record<GgmlTypeName, TensorTypeInfo> = {
  F32: {
    blockWeights: 1,
    blockBytes: 4,
    encode: (src, dst, offset) => dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset),
  },
  F16: { blockWeights: 1, blockBytes: 2, encode: encodeF16 },
  Q4_0: { blockWeights: Q4_0_BLOCK_WEIGHTS, blockBytes: Q4_0_BLOCK_BYTES, encode: quantizeQ4_0 },
  Q8_0: { blockWeights: Q8_0_BLOCK_WEIGHTS, blockBytes: Q8_0_BLOCK_BYTES, encode: quantizeQ8_0 },
}

const namesByCode = new Map<number, GgmlTypeName>(Object.entries(GgmlType).map(([name, code]) => [code, name as GgmlTypeName]))

export function ggmlTypeName(code: number): GgmlTypeName | undefined {
  return namesByCode.get(code)
}

/** Bytes taken by `elements` weights of `type`; throws if rows would split a block. */
export function tensorByteLength(type: GgmlTypeName, shape: readonly number[]): number {
  const { blockWeights, blockBytes } = tensorTypes[type]
  const rowLength = shape[0] ?? 1
  if (rowLength % blockWeights !== 0) {
    throw new RangeError(`${type} needs a row length divisible by ${blockWeights}, got ${rowLength}`)
  }
  return (shape.reduce((a, b) => a * b, 1) / blockWeights) * blockBytes
}

// Typed-array views below assume the host stores numbers little-endian, as GGUF does.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('GGUF writing needs a little-endian host')
