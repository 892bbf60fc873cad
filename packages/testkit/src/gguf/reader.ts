/**
 * GGUF v2/v3 reader. It reads the file front to back in chunks and stops where the part
 * asked for ends, so reading the metadata of a multi-gigabyte model touches only its
 * first few megabytes.
 */
import { open, type FileHandle } from 'node:fs/promises'

import { GGUF_MAGIC, alignUp, alignmentOf } from './format.js'
import { ggmlTypeName, tensorByteLength, type GgmlTypeName } from './tensor-types.js'
import { valueTypeName, type GgufArray, type GgufMetadata, type GgufScalar, type GgufScalarType, type GgufValue } from './values.js'

export interface GgufMetadataFile {
  version: number
  tensorCount: number
  metadata: GgufMetadata
}

export interface GgufTensorInfo {
  name: string
  /** ggml order: shape[0] is the row length. */
  shape: number[]
  /** The ggml type code; `typeName` is set for the types this module can encode. */
  type: number
  typeName: GgmlTypeName | undefined
  /** Absolute offset of the tensor's data in the file. */
  offset: number
  /** Set when the type is one this module knows. */
  byteLength: number | undefined
}

export interface GgufFile extends GgufMetadataFile {
  alignment: number
  dataOffset: number
  tensors: GgufTensorInfo[]
}

export class GgufFormatError extends Error {
  constructor(path: string, message: string) {
    super(`${path}: ${message}`)
    this.name = 'GgufFormatError'
  }
}

/** The header and metadata only: cheap even for multi-gigabyte files. */
export async function readGgufMetadata(path: string): Promise<GgufMetadataFile> {
  return withSource(path, (source) => readHead(source))
}

/** The header, metadata and tensor table (not the tensor data). */
export async function readGguf(path: string): Promise<GgufFile> {
  return withSource(path, async (source) => {
    const head = await readHead(source)
    const alignment = alignmentOf(head.metadata)
    const raw: Omit<GgufTensorInfo, 'offset'>[] = []
    const relativeOffsets: number[] = []
    for (let i = 0; i < head.tensorCount; i++) {
      const name = await source.string()
      const dims = await source.u32()
      if (dims > 8) throw source.error(`tensor ${name} has ${dims} dimensions`)
      const shape: number[] = []
      for (let d = 0; d < dims; d++) shape.push(await source.u64AsNumber())
      const type = await source.u32()
      relativeOffsets.push(await source.u64AsNumber())
      const typeName = ggmlTypeName(type)
      raw.push({ name, shape, type, typeName, byteLength: typeName ? tensorByteLength(typeName, shape) : undefined })
    }
    const dataOffset = alignUp(source.position, alignment)
    const tensors = raw.map((t, i) => ({ ...t, offset: dataOffset + relativeOffsets[i]! }))
    return { ...head, alignment, dataOffset, tensors }
  })
}

/** One tensor's raw (encoded) bytes. */
export async function readTensorBytes(path: string, tensor: GgufTensorInfo): Promise<Uint8Array> {
  if (tensor.byteLength === undefined) throw new GgufFormatError(path, `tensor ${tensor.name} has unsupported type ${tensor.type}`)
  const handle = await open(path, 'r')
  try {
    const bytes = new Uint8Array(tensor.byteLength)
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, tensor.offset)
    if (bytesRead !== bytes.length) throw new GgufFormatError(path, `tensor ${tensor.name} is truncated`)
    return bytes
  } finally {
    await handle.close()
  }
}

async function withSource<T>(path: string, body: (source: ChunkedSource) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r')
  try {
    return await body(new ChunkedSource(handle, path))
  } finally {
    await handle.close()
  }
}

async function readHead(source: ChunkedSource): Promise<GgufMetadataFile> {
  if ((await source.u32()) !== GGUF_MAGIC) throw source.error('not a GGUF file (bad magic)')
  const version = await source.u32()
  if (version !== 2 && version !== 3) throw source.error(`unsupported GGUF version ${version}`)
  const tensorCount = await source.u64AsNumber()
  const kvCount = await source.u64AsNumber()
  const metadata: [string, GgufValue][] = []
  for (let i = 0; i < kvCount; i++) {
    const key = await source.string()
    const type = valueTypeName(await source.u32())
    if (type === undefined) throw source.error(`unknown value type at key ${key}`)
    metadata.push([key, type === 'array' ? await readArray(source) : await readScalar(source, type)])
  }
  return { version, tensorCount, metadata }
}

async function readArray(source: ChunkedSource): Promise<GgufArray> {
  const itemType = valueTypeName(await source.u32())
  if (itemType === undefined) throw source.error('unknown array item type')
  const count = await source.u64AsNumber()
  if (itemType === 'array') {
    const items: GgufArray[] = []
    for (let i = 0; i < count; i++) items.push(await readArray(source))
    return { type: 'array', itemType, items }
  }
  // Items are decoded synchronously; we only await when the window needs refilling.
  const items: unknown[] = []
  if (itemType === 'string') {
    for (let i = 0; i < count; i++) items.push(source.tryString() ?? (await source.string()))
  } else {
    const size = scalarSizes[itemType]
    for (let i = 0; i < count; i++) {
      const pending = source.need(size)
      if (pending) await pending
      items.push(decodeScalar(source, itemType))
    }
  }
  return { type: 'array', itemType, items } as GgufArray
}

async function readScalar(source: ChunkedSource, type: GgufScalarType): Promise<GgufScalar> {
  if (type === 'string') return { type, value: await source.string() }
  const pending = source.need(scalarSizes[type])
  if (pending) await pending
  return { type, value: decodeScalar(source, type) } as GgufScalar
}

function decodeScalar(source: ChunkedSource, type: Exclude<GgufScalarType, 'string'>): number | bigint | boolean {
  const b = source.buffer
  const p = source.take(scalarSizes[type])
  switch (type) {
    case 'uint8':
      return b.readUInt8(p)
    case 'int8':
      return b.readInt8(p)
    case 'uint16':
      return b.readUInt16LE(p)
    case 'int16':
      return b.readInt16LE(p)
    case 'uint32':
      return b.readUInt32LE(p)
    case 'int32':
      return b.readInt32LE(p)
    case 'float32':
      return b.readFloatLE(p)
    case 'float64':
      return b.readDoubleLE(p)
    case 'uint64':
      return b.readBigUInt64LE(p)
    case 'int64':
      return b.readBigInt64LE(p)
    case 'bool':
      return b.readUInt8(p) !== 0
  }
}

const scalarSizes: Record<Exclude<GgufScalarType, 'string'>, number> = {
  uint8: 1,
  int8: 1,
  bool: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
}

const CHUNK_BYTES = 1 << 20

/**
 * A forward-only window onto a file. `need(n)` returns a promise only when the window
 * has to be refilled, so the hot path (hundreds of thousands of small vocabulary
 * strings) does not pay for an await per value.
 */
class ChunkedSource {
  buffer = Buffer.alloc(0)
  private pos = 0
  private fileOffset = 0 // file offset of buffer[0]

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
  ) {}

  get position(): number {
    return this.fileOffset + this.pos
  }

  need(n: number): Promise<void> | undefined {
    return this.buffer.length - this.pos >= n ? undefined : this.refill(n)
  }

  take(n: number): number {
    const p = this.pos
    this.pos += n
    return p
  }

  error(message: string): GgufFormatError {
    return new GgufFormatError(this.path, `${message} (at byte ${this.position})`)
  }

  async u32(): Promise<number> {
    const pending = this.need(4)
    if (pending) await pending
    return this.buffer.readUInt32LE(this.take(4))
  }

  async u64AsNumber(): Promise<number> {
    const pending = this.need(8)
    if (pending) await pending
    const value = this.buffer.readBigUInt64LE(this.take(8))
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`count ${value} is too large`)
    return Number(value)
  }

  /** The next string if it is already in the window (consumed), else `undefined` (nothing consumed). */
  tryString(): string | undefined {
    const available = this.buffer.length - this.pos
    if (available < 8) return undefined
    const length = Number(this.buffer.readBigUInt64LE(this.pos))
    if (available < 8 + length) return undefined
    const start = this.pos + 8
    this.pos = start + length
    return this.buffer.toString('utf8', start, start + length)
  }

  async string(): Promise<string> {
    const length = await this.u64AsNumber()
    if (length > 1 << 30) throw this.error(`string of ${length} bytes`)
    const pending = this.need(length)
    if (pending) await pending
    const p = this.take(length)
    return this.buffer.toString('utf8', p, p + length)
  }

  private async refill(n: number): Promise<void> {
    const kept = this.buffer.subarray(this.pos)
    const next = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n))
    kept.copy(next)
    let filled = kept.length
    const readFrom = this.fileOffset + this.buffer.length
    while (filled < n) {
      const { bytesRead } = await this.handle.read(next, filled, next.length - filled, readFrom + filled - kept.length)
      if (bytesRead === 0) throw this.error('unexpected end of file')
      filled += bytesRead
    }
    this.fileOffset += this.pos
    this.buffer = next.subarray(0, filled)
    this.pos = 0
  }
}
