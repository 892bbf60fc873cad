import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { decodeF16 } from '../gguf/f16.js'
import { readGguf, readTensorBytes, type GgufFile } from '../gguf/reader.js'
import { metadataValue } from '../gguf/values.js'
import { generateStandin } from './generate-standin.js'
import { STANDIN_PRESETS } from './presets.js'
import { QWEN3_VL_CHAT_TEMPLATE } from './qwen3-vl-chat-template.js'

let dir: string
let model: GgufFile
let mmproj: GgufFile
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-standin-'))
  const files = await generateStandin({ preset: 'tiny', outDir: join(dir, 'a'), seed: 7 })
  model = await readGguf(files.model)
  mmproj = await readGguf(files.mmproj)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const meta = (file: GgufFile, key: string) => metadataValue(file.metadata, key)

describe('generateStandin', () => {
  it('writes byte-identical files for the same seed and different ones for another seed', async () => {
    const again = await generateStandin({ preset: 'tiny', outDir: join(dir, 'b'), seed: 7 })
    const other = await generateStandin({ preset: 'tiny', outDir: join(dir, 'c'), seed: 8 })
    const a = await readFile(join(dir, 'a', 'model.gguf'))
    expect((await readFile(again.model)).equals(a)).toBe(true)
    expect((await readFile(again.mmproj)).equals(await readFile(join(dir, 'a', 'mmproj.gguf')))).toBe(true)
    expect((await readFile(other.model)).equals(a)).toBe(false)
    expect(again.modelBytes).toBe(a.length)
  })

  it("types the text model keys exactly as llama.cpp's qwen3vl loader requires", () => {
    expect(meta(model, 'general.architecture')).toEqual({ type: 'string', value: 'qwen3vl' })
    expect(meta(model, 'general.file_type')).toEqual({ type: 'uint32', value: 1 })
    expect(meta(model, 'qwen3vl.rope.dimension_sections')).toEqual({ type: 'array', itemType: 'int32', items: [4, 2, 2, 0] })
    expect(meta(model, 'qwen3vl.rope.freq_base')).toEqual({ type: 'float32', value: 5_000_000 })
    expect(meta(model, 'qwen3vl.n_deepstack_layers')).toEqual({ type: 'uint32', value: 2 })
    expect(meta(model, 'qwen3vl.block_count')).toEqual({ type: 'uint32', value: 3 })
    expect(meta(model, 'tokenizer.ggml.eos_token_id')).toEqual({ type: 'uint32', value: 994 })
    expect(meta(model, 'tokenizer.ggml.bos_token_id')).toEqual({ type: 'uint32', value: 992 })
    expect(meta(model, 'tokenizer.ggml.add_bos_token')).toEqual({ type: 'bool', value: false })
    expect(meta(model, 'tokenizer.ggml.merges')).toEqual({ type: 'array', itemType: 'string', items: [] })
    expect(meta(model, 'tokenizer.chat_template')).toEqual({ type: 'string', value: QWEN3_VL_CHAT_TEMPLATE })
  })

  it('makes the projector output match the text model input: width × (1 + deepstack layers)', () => {
    const tensor = (file: GgufFile, name: string) => file.tensors.find((t) => t.name === name)
    const projectorWidth = tensor(mmproj, 'mm.2.bias')!.shape[0]!
    const deepstack = mmproj.tensors.filter((t) => /^v\.deepstack\.\d+\.fc2\.weight$/.test(t.name)).map((t) => t.name)
    expect(deepstack).toEqual(['v.deepstack.0.fc2.weight', 'v.deepstack.1.fc2.weight'])
    expect(projectorWidth).toBe(tensor(model, 'token_embd.weight')!.shape[0])
    expect(meta(mmproj, 'clip.vision.is_deepstack_layers')).toEqual({ type: 'array', itemType: 'bool', items: [true, true, false] })
    expect(tensor(mmproj, 'v.position_embd.weight')!.typeName).toBe('F32')
    expect(meta(mmproj, 'clip.vision.image_size')).toEqual({ type: 'uint32', value: 256 })
  })

  it('zeroes the output rows of every token that is not printable ASCII, and scales up the rest', async () => {
    const output = model.tensors.find((t) => t.name === 'output.weight')!
    const [width, vocabSize] = output.shape as [number, number]
    const weights = decodeF16(await readTensorBytes(join(dir, 'a', 'model.gguf'), output), width * vocabSize)
    const tokens = (meta(model, 'tokenizer.ggml.tokens') as { items: string[] }).items
    const rowMax = (id: number) => Math.max(...weights.subarray(id * width, (id + 1) * width).map(Math.abs))
    expect(rowMax(tokens.indexOf('é'))).toBe(0)
    expect(rowMax(tokens.indexOf('<|im_end|>'))).toBe(0)
    expect(rowMax(tokens.indexOf('[PAD1023]'))).toBe(0)
    expect(rowMax(tokens.indexOf('a'))).toBeGreaterThan(0.5)
    expect(rowMax(tokens.indexOf('Ġaa'))).toBeGreaterThan(0.5)
  })

  it('writes every tensor at a 32-byte aligned offset, back to back', () => {
    for (const file of [model, mmproj]) {
      let expected = file.dataOffset
      for (const t of file.tensors) {
        expect(t.offset).toBe(expected)
        expected = Math.ceil((t.offset + t.byteLength!) / 32) * 32
      }
    }
  })
})

describe('the qwen3-vl-4b preset', () => {
  it("has Qwen3-VL-4B-Instruct's real dimensions", () => {
    const { text, vision } = STANDIN_PRESETS['qwen3-vl-4b']
    expect(text).toMatchObject({ hidden: 2560, layers: 36, heads: 32, kvHeads: 8, headDim: 128, feedForward: 9728, vocabSize: 151936 })
    expect(text.ropeSections).toEqual([24, 20, 20, 0])
    expect(vision).toMatchObject({ hidden: 1024, layers: 24, heads: 16, feedForward: 4096, patchSize: 16, positionGrid: 48 })
    expect(vision.deepstackLayers).toEqual([5, 11, 17])
  })
})
