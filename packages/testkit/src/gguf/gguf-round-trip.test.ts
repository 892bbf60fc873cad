import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { dequantizeQ4_0 } from './q4-0.js'
import { dequantizeQ8_0 } from './q8-0.js'
import { decodeF16 } from './f16.js'
import { readGguf, readGgufMetadata, readTensorBytes, GgufFormatError } from './reader.js'
import { tensorTypes, type GgmlTypeName } from './tensor-types.js'
import { gguf, type GgufMetadata } from './values.js'
import { writeGguf, type GgufTensorSource } from './writer.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-gguf-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const everyValueType: GgufMetadata = [
  ['t.uint8', gguf.u8(255)],
  ['t.int8', gguf.i8(-128)],
  ['t.uint16', gguf.u16(65535)],
  ['t.int16', gguf.i16(-32768)],
  ['t.uint32', gguf.u32(4294967295)],
  ['t.int32', gguf.i32(-2147483648)],
  ['t.float32', gguf.f32(0.25)],
  ['t.float64', gguf.f64(Math.PI)],
  ['t.uint64', gguf.u64(2n ** 64n - 1n)],
  ['t.int64', gguf.i64(-(2n ** 63n))],
  ['t.bool.true', gguf.bool(true)],
  ['t.bool.false', gguf.bool(false)],
  ['t.string', gguf.str('Ġhello <|im_start|> 世界 ✓')],
  ['t.string.empty', gguf.str('')],
  ['t.array.uint8', { type: 'array', itemType: 'uint8', items: [0, 1, 255] }],
  ['t.array.int8', { type: 'array', itemType: 'int8', items: [-1, 127] }],
  ['t.array.uint16', { type: 'array', itemType: 'uint16', items: [7, 65535] }],
  ['t.array.int16', { type: 'array', itemType: 'int16', items: [-7] }],
  ['t.array.uint32', { type: 'array', itemType: 'uint32', items: [1, 2, 3] }],
  ['t.array.int32', gguf.i32s([24, 20, 20, 0])],
  ['t.array.float32', gguf.f32s([0.5, 0.5, -0.5])],
  ['t.array.float64', { type: 'array', itemType: 'float64', items: [1e300] }],
  ['t.array.uint64', { type: 'array', itemType: 'uint64', items: [0n, 2n ** 40n] }],
  ['t.array.int64', { type: 'array', itemType: 'int64', items: [-5n] }],
  ['t.array.bool', gguf.bools([true, false, true])],
  ['t.array.string', gguf.strings(['a', '', 'ĠĊ', '<think>'])],
  ['t.array.empty', gguf.strings([])],
  ['t.array.nested', { type: 'array', itemType: 'array', items: [gguf.strings(['x']), { type: 'array', itemType: 'uint8', items: [9] }] }],
]

function encode(type: GgmlTypeName, values: Float32Array): Uint8Array {
  const bytes = new Uint8Array((values.length / tensorTypes[type].blockWeights) * tensorTypes[type].blockBytes)
  tensorTypes[type].encode(values, bytes, 0)
  return bytes
}

function tensor(name: string, type: GgmlTypeName, shape: number[], values: Float32Array): GgufTensorSource {
  const bytes = encode(type, values)
  // Hand the bytes over in uneven pieces to exercise the writer's buffering.
  return { name, type, shape, data: () => [bytes.subarray(0, 5), bytes.subarray(5)] }
}

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 64) / 16 - 2)

describe('GGUF writer and reader', () => {
  it('round-trips every metadata value type, arrays included, in order', async () => {
    const path = join(dir, 'values.gguf')
    await writeGguf(path, everyValueType, [])
    const read = await readGgufMetadata(path)
    expect(read.version).toBe(3)
    expect(read.tensorCount).toBe(0)
    expect(read.metadata).toEqual(everyValueType)
  })

  it('writes the GGUF v3 header layout byte for byte', async () => {
    const path = join(dir, 'header.gguf')
    await writeGguf(path, [['a', gguf.u32(7)]], [])
    const bytes = await readFile(path)
    expect([...bytes]).toEqual([
      ...[0x47, 0x47, 0x55, 0x46], // "GGUF"
      ...[3, 0, 0, 0], // version
      ...[0, 0, 0, 0, 0, 0, 0, 0], // tensor count
      ...[1, 0, 0, 0, 0, 0, 0, 0], // key/value count
      ...[1, 0, 0, 0, 0, 0, 0, 0, 0x61], // key "a"
      ...[4, 0, 0, 0], // UINT32
      ...[7, 0, 0, 0],
      ...new Array(23).fill(0), // 41 header bytes, padded to the 32-byte alignment
    ])
  })

  it('round-trips F32, F16, Q8_0 and Q4_0 tensors at aligned offsets', async () => {
    const path = join(dir, 'tensors.gguf')
    const values = ramp(64 * 3)
    const sources = [
      tensor('f32', 'F32', [64, 3], values),
      tensor('odd', 'F32', [3], new Float32Array([1, 2, 3])), // 12 bytes: forces padding after it
      tensor('f16', 'F16', [64, 3], values),
      tensor('q8', 'Q8_0', [64, 3], values),
      tensor('q4', 'Q4_0', [64, 3], values),
    ]
    const size = await writeGguf(path, [['general.alignment', gguf.u32(64)]], sources)
    const file = await readGguf(path)
    expect(size).toBe((await readFile(path)).length)
    expect(file.alignment).toBe(64)
    expect(file.tensors.map((t) => [t.name, t.typeName, t.shape])).toEqual([
      ['f32', 'F32', [64, 3]],
      ['odd', 'F32', [3]],
      ['f16', 'F16', [64, 3]],
      ['q8', 'Q8_0', [64, 3]],
      ['q4', 'Q4_0', [64, 3]],
    ])
    for (const t of file.tensors) expect(t.offset % 64).toBe(0)
    const byName = Object.fromEntries(file.tensors.map((t) => [t.name, t]))
    const f32 = await readTensorBytes(path, byName.f32!)
    expect([...new Float32Array(f32.buffer, f32.byteOffset, 192)]).toEqual([...values])
    expect([...new Float32Array((await readTensorBytes(path, byName.odd!)).slice().buffer)]).toEqual([1, 2, 3])
    // Multiples of 1/16 in [-2, 2) are exact halves; the quantised copies come back byte-identical.
    expect([...decodeF16(await readTensorBytes(path, byName.f16!), 192)]).toEqual([...values])
    const q8 = await readTensorBytes(path, byName.q8!)
    const q4 = await readTensorBytes(path, byName.q4!)
    expect(Buffer.from(q8).equals(encode('Q8_0', values))).toBe(true)
    expect(Buffer.from(q4).equals(encode('Q4_0', values))).toBe(true)
    expect(Math.max(...dequantizeQ8_0(q8, 192).map((v, i) => Math.abs(v - values[i]!)))).toBeLessThan(0.01)
    expect(Math.max(...dequantizeQ4_0(q4, 192).map((v, i) => Math.abs(v - values[i]!)))).toBeLessThanOrEqual(0.25)
  })

  it('reports monotonic progress that ends at the file size', async () => {
    const path = join(dir, 'progress.gguf')
    const seen: { bytesWritten: number; totalBytes: number; tensorName: string }[] = []
    const big = tensor('big', 'F32', [256, 1024], new Float32Array(256 * 1024))
    const size = await writeGguf(path, [], [big, tensor('small', 'F16', [4], new Float32Array(4))], {
      bufferBytes: 100_000,
      onProgress: (p) => seen.push(p),
    })
    expect(seen.length).toBeGreaterThan(5)
    expect(seen.every((p, i) => i === 0 || p.bytesWritten >= seen[i - 1]!.bytesWritten)).toBe(true)
    expect(seen.at(-1)).toMatchObject({ bytesWritten: size, totalBytes: size, tensorName: 'small' })
  })

  it('fails and leaves no file behind when a tensor source gives the wrong number of bytes', async () => {
    const path = join(dir, 'short.gguf')
    const bad: GgufTensorSource = { name: 'w', type: 'F32', shape: [4], data: () => [new Uint8Array(12)] }
    await expect(writeGguf(path, [], [bad])).rejects.toThrow('tensor w: data source gave 12 bytes, expected 16')
    expect((await readdir(dir)).filter((f) => f.startsWith('short'))).toEqual([])
  })

  it('rejects quantised rows that do not fill whole blocks', async () => {
    const bad: GgufTensorSource = { name: 'w', type: 'Q4_0', shape: [16, 2], data: () => [] }
    await expect(writeGguf(join(dir, 'bad.gguf'), [], [bad])).rejects.toThrow('Q4_0 needs a row length divisible by 32, got 16')
  })

  it('reports a file that is not GGUF', async () => {
    const path = join(dir, 'not.gguf')
    await writeFile(path, 'PNG, not GGUF at all')
    await expect(readGgufMetadata(path)).rejects.toThrow(GgufFormatError)
    await expect(readGgufMetadata(path)).rejects.toThrow('not a GGUF file (bad magic)')
  })

  it('reports a truncated file', async () => {
    const path = join(dir, 'values.gguf')
    const bytes = await readFile(path)
    await writeFile(join(dir, 'cut.gguf'), bytes.subarray(0, bytes.length - 40))
    await expect(readGgufMetadata(join(dir, 'cut.gguf'))).rejects.toThrow(/unexpected end of file/)
  })
})
