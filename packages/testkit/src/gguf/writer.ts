/**
 * Streaming GGUF v3 writer. The header (metadata and tensor table) is built in memory —
 * it is megabytes at most — and tensor data is pulled from each tensor's iterator and
 * written through a fixed buffer, so a multi-gigabyte file never sits in memory. The file
 * appears under its final name only once complete.
 */
import { open, rename, rm } from 'node:fs/promises'

import { GGUF_MAGIC, GGUF_VERSION, alignUp, alignmentOf } from './format.js'
import { GgmlType, tensorByteLength, type GgmlTypeName } from './tensor-types.js'
import { GgufValueType, type GgufArray, type GgufMetadata, type GgufValue } from './values.js'

export interface GgufTensorSource {
  name: string
  /** ggml order: shape[0] is the row length (the fastest-moving dimension). */
  shape: readonly number[]
  type: GgmlTypeName
  /** The tensor's encoded bytes, in order; they must add up to exactly its byte length. */
  data(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>
}

export interface GgufWriteProgress {
  file: string
  tensorIndex: number
  tensorCount: number
  tensorName: string
  bytesWritten: number
  totalBytes: number
}

export interface WriteGgufOptions {
  onProgress?: (progress: GgufWriteProgress) => void
  /** Bytes buffered before each write to disk. */
  bufferBytes?: number
}

/** Writes a complete GGUF file to `path` and returns its size in bytes. */
export async function writeGguf(path: string, metadata: GgufMetadata, tensors: readonly GgufTensorSource[], options: WriteGgufOptions = {}): Promise<number> {
  const alignment = alignmentOf(metadata)
  const layout = layoutTensors(tensors, alignment)
  const header = encodeHeader(metadata, tensors, layout.offsets)
  const dataStart = alignUp(header.length, alignment)
  const totalBytes = dataStart + layout.dataBytes

  const partial = `${path}.partial-${process.pid}-${Date.now()}`
  const handle = await open(partial, 'w')
  try {
    const out = new BufferedFileWriter(handle, options.bufferBytes ?? 8 << 20)
    await out.write(header)
    await out.zeros(dataStart - header.length)
    for (const [index, tensor] of tensors.entries()) {
      const expected = layout.sizes[index]!
      let written = 0
      for await (const chunk of tensor.data()) {
        written += chunk.length
        if (written > expected) break
        await out.write(chunk, () => report(index))
      }
      if (written !== expected) {
        throw new Error(`tensor ${tensor.name}: data source gave ${written} bytes, expected ${expected}`)
      }
      const end = index + 1 < tensors.length ? layout.offsets[index + 1]! : layout.dataBytes
      await out.zeros(end - layout.offsets[index]! - expected)
      report(index)
    }
    await out.flush()
    if (out.position !== totalBytes) throw new Error(`wrote ${out.position} bytes, expected ${totalBytes}`)
    await handle.close()
    await rename(partial, path)
    return totalBytes

    function report(tensorIndex: number): void {
      options.onProgress?.({
        file: path,
        tensorIndex,
        tensorCount: tensors.length,
        tensorName: tensors[tensorIndex]!.name,
        bytesWritten: out.accepted,
        totalBytes,
      })
    }
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(partial, { force: true })
    throw error
  }
}

function layoutTensors(tensors: readonly GgufTensorSource[], alignment: number) {
  const offsets: number[] = []
  const sizes: number[] = []
  const names = new Set<string>()
  let cursor = 0
  for (const tensor of tensors) {
    if (names.has(tensor.name)) throw new Error(`duplicate tensor name ${tensor.name}`)
    names.add(tensor.name)
    const size = tensorByteLength(tensor.type, tensor.shape)
    offsets.push(cursor)
    sizes.push(size)
    cursor = alignUp(cursor + size, alignment)
  }
  return { offsets, sizes, dataBytes: cursor }
}

function encodeHeader(metadata: GgufMetadata, tensors: readonly GgufTensorSource[], offsets: number[]): Uint8Array {
  const b = new ByteBuilder()
  b.u32(GGUF_MAGIC)
  b.u32(GGUF_VERSION)
  b.u64(BigInt(tensors.length))
  b.u64(BigInt(metadata.length))
  for (const [key, value] of metadata) {
    b.string(key)
    b.u32(GgufValueType[value.type])
    encodeValue(b, value)
  }
  for (const [index, tensor] of tensors.entries()) {
    b.string(tensor.name)
    b.u32(tensor.shape.length)
    for (const dim of tensor.shape) b.u64(BigInt(dim))
    b.u32(GgmlType[tensor.type])
    b.u64(BigInt(offsets[index]!))
  }
  return b.finish()
}

function encodeValue(b: ByteBuilder, value: GgufValue): void {
  if (value.type === 'array') encodeArray(b, value)
  else encodeScalar(b, value.type, value.value)
}

function encodeArray(b: ByteBuilder, array: GgufArray): void {
  b.u32(GgufValueType[array.itemType])
  b.u64(BigInt(array.items.length))
  if (array.itemType === 'array') {
    for (const item of array.items) encodeArray(b, item)
    return
  }
  for (const item of array.items) encodeScalar(b, array.itemType, item)
}

function encodeScalar(b: ByteBuilder, type: Exclude<GgufValue['type'], 'array'>, value: unknown): void {
  if (type === 'string') {
    b.string(value as string)
    return
  }
  const view = b.reserve(scalarSize(type))
  switch (type) {
    case 'uint8':
      view.setUint8(0, checkInt(value, 0, 0xff))
      break
    case 'int8':
      view.setInt8(0, checkInt(value, -0x80, 0x7f))
      break
    case 'uint16':
      view.setUint16(0, checkInt(value, 0, 0xffff), true)
      break
    case 'int16':
      view.setInt16(0, checkInt(value, -0x8000, 0x7fff), true)
      break
    case 'uint32':
      view.setUint32(0, checkInt(value, 0, 0xffffffff), true)
      break
    case 'int32':
      view.setInt32(0, checkInt(value, -0x80000000, 0x7fffffff), true)
      break
    case 'float32':
      view.setFloat32(0, value as number, true)
      break
    case 'float64':
      view.setFloat64(0, value as number, true)
      break
    case 'uint64':
      view.setBigUint64(0, BigInt.asUintN(64, value as bigint), true)
      break
    case 'int64':
      view.setBigInt64(0, BigInt.asIntN(64, value as bigint), true)
      break
    case 'bool':
      view.setUint8(0, value ? 1 : 0)
      break
  }
}

const utf8 = new TextEncoder()

function scalarSize(type: string): number {
  switch (type) {
    case 'uint8':
    case 'int8':
    case 'bool':
      return 1
    case 'uint16':
    case 'int16':
      return 2
    case 'uint32':
    case 'int32':
    case 'float32':
      return 4
    default:
      return 8
  }
}

function checkInt(value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${String(value)} is not an integer in [${min}, ${max}]`)
  }
  return value
}

/** Little-endian byte accumulator for the header. */
class ByteBuilder {
  private chunk = new Uint8Array(1 << 16)
  private used = 0
  private readonly done: Uint8Array[] = []

  reserve(n: number): DataView {
    if (this.used + n > this.chunk.length) {
      this.done.push(this.chunk.subarray(0, this.used))
      this.chunk = new Uint8Array(Math.max(1 << 16, n))
      this.used = 0
    }
    const view = new DataView(this.chunk.buffer, this.used, n)
    this.used += n
    return view
  }

  u32(n: number): void {
    this.reserve(4).setUint32(0, n, true)
  }

  u64(n: bigint): void {
    this.reserve(8).setBigUint64(0, n, true)
  }

  /** GGUF string: uint64 byte length, then UTF-8 bytes without a terminator. */
  string(s: string): void {
    const bytes = utf8.encode(s)
    this.u64(BigInt(bytes.length))
    const view = this.reserve(bytes.length)
    new Uint8Array(view.buffer, view.byteOffset, bytes.length).set(bytes)
  }

  finish(): Uint8Array {
    this.done.push(this.chunk.subarray(0, this.used))
    return Buffer.concat(this.done)
  }
}

class BufferedFileWriter {
  /** Bytes on disk. */
  position = 0
  private readonly buffer: Uint8Array
  private used = 0

  constructor(
    private readonly handle: import('node:fs/promises').FileHandle,
    size: number,
  ) {
    this.buffer = new Uint8Array(size)
  }

  /** Bytes on disk or buffered. */
  get accepted(): number {
    return this.position + this.used
  }

  async write(bytes: Uint8Array, onFlush?: () => void): Promise<void> {
    let offset = 0
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, this.buffer.length - this.used)
      this.buffer.set(bytes.subarray(offset, offset + n), this.used)
      this.used += n
      offset += n
      if (this.used === this.buffer.length) {
        await this.flush()
        onFlush?.()
      }
    }
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n))
  }

  async flush(): Promise<void> {
    let offset = 0
    while (offset < this.used) {
      const { bytesWritten } = await this.handle.write(this.buffer, offset, this.used - offset)
      offset += bytesWritten
    }
    this.position += this.used
    this.used = 0
  }
}
