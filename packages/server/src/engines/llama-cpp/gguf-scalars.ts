import { open, type FileHandle } from 'node:fs/promises'

/**
 * The scalar metadata of a GGUF file (v2/v3): what the server needs to know about a model
 * before llama-server has loaded it. Only the header is read, front to back in chunks;
 * arrays (a text model's vocabulary) are skipped, never kept. Files are the operator's
 * own, but a damaged one still gets a clear error rather than a huge allocation.
 */
export type GgufScalarValue = number | bigint | boolean | string

const magic = 0x46554747 // "GGUF" read as a little-endian uint32
const chunkBytes = 64 * 1024
/** More metadata than any real model carries (a 150k-token vocabulary is a few MB). */
const maxHeaderBytes = 256 * 1024 * 1024
const maxStringBytes = 16 * 1024 * 1024

/** Byte sizes of the fixed-size value types, by GGUF type code (8 string and 9 array vary). */
const fixedSizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 }
const stringType = 8
const arrayType = 9

export class GgufReadError extends Error {
  override name = 'GgufReadError'
}

export async function readGgufScalars(path: string): Promise<Map<string, GgufScalarValue>> {
  const file = await open(path, 'r')
  try {
    const reader = new HeaderReader(file, path)
    if ((await reader.u32()) !== magic) throw reader.error('not a GGUF file (no GGUF magic)')
    const version = await reader.u32()
    if (version !== 2 && version !== 3) throw reader.error(`unsupported GGUF version ${version}`)
    await reader.u64() // tensor count: the tensors are not ours to read
    const count = await reader.u64()
    const scalars = new Map<string, GgufScalarValue>()
    for (let i = 0; i < count; i++) {
      const key = await reader.string()
      const type = await reader.u32()
      if (type === arrayType) {
        const elementType = await reader.u32()
        const length = await reader.u64()
        if (elementType === stringType) for (let j = 0; j < length; j++) await reader.string()
        else await reader.skip(length * reader.sizeOf(elementType))
      } else {
        scalars.set(key, await reader.scalar(type))
      }
    }
    return scalars
  } finally {
    await file.close()
  }
}

class HeaderReader {
  private buffer = Buffer.alloc(0)
  private at = 0
  private fileOffset = 0

  constructor(
    private readonly file: FileHandle,
    private readonly path: string,
  ) {}

  error(reason: string): GgufReadError {
    return new GgufReadError(`${this.path}: ${reason}`)
  }

  private async ensure(bytes: number): Promise<void> {
    while (this.buffer.length - this.at < bytes) {
      if (this.fileOffset + chunkBytes > maxHeaderBytes) throw this.error(`the metadata runs past ${maxHeaderBytes / 1024 / 1024} MiB`)
      const chunk = Buffer.alloc(Math.max(chunkBytes, bytes))
      const { bytesRead } = await this.file.read(chunk, 0, chunk.length, this.fileOffset)
      if (bytesRead === 0) throw this.error('the file ends inside its metadata')
      this.fileOffset += bytesRead
      this.buffer = Buffer.concat([this.buffer.subarray(this.at), chunk.subarray(0, bytesRead)])
      this.at = 0
    }
  }

  sizeOf(type: number): number {
    const size = fixedSizes[type]
    if (size === undefined) throw this.error(`unsupported metadata value type ${type}`)
    return size
  }

  async u32(): Promise<number> {
    await this.ensure(4)
    const value = this.buffer.readUInt32LE(this.at)
    this.at += 4
    return value
  }

  async u64(): Promise<number> {
    await this.ensure(8)
    const value = this.buffer.readBigUInt64LE(this.at)
    this.at += 8
    if (value > BigInt(maxHeaderBytes)) throw this.error(`a count of ${value} is larger than any metadata`)
    return Number(value)
  }

  async string(): Promise<string> {
    const length = await this.u64()
    if (length > maxStringBytes) throw this.error(`a ${length}-byte string is larger than any metadata value`)
    await this.ensure(length)
    const value = this.buffer.toString('utf8', this.at, this.at + length)
    this.at += length
    return value
  }

  async skip(bytes: number): Promise<void> {
    while (bytes > 0) {
      const step = Math.min(bytes, chunkBytes)
      await this.ensure(step)
      this.at += step
      bytes -= step
    }
  }

  async scalar(type: number): Promise<GgufScalarValue> {
    if (type === stringType) return this.string()
    const size = this.sizeOf(type)
    await this.ensure(size)
    const b = this.buffer
    const at = this.at
    this.at += size
    switch (type) {
      case 0:
        return b.readUInt8(at)
      case 1:
        return b.readInt8(at)
      case 2:
        return b.readUInt16LE(at)
      case 3:
        return b.readInt16LE(at)
      case 4:
        return b.readUInt32LE(at)
      case 5:
        return b.readInt32LE(at)
      case 6:
        return b.readFloatLE(at)
      case 7:
        return b.readUInt8(at) !== 0
      case 10:
        return b.readBigUInt64LE(at)
      case 11:
        return b.readBigInt64LE(at)
      default:
        return b.readDoubleLE(at)
    }
  }
}
