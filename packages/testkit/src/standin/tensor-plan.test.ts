import { describe, expect, it } from 'vitest'

import { mmprojTensors } from './mmproj.js'
import { STANDIN_PRESETS } from './presets.js'
import { tensorSource } from './tensor-plan.js'
import { textModelTensors, textVocabulary } from './text-model.js'

const preset = STANDIN_PRESETS['qwen3-vl-4b']

describe('qwen3-vl-4b tensor plan', () => {
  const vocab = textVocabulary(preset)
  const text = new Map(textModelTensors(preset, 'q4_0', vocab).map((t) => [t.name, t]))
  const vision = new Map(mmprojTensors(preset, 'f16').map((t) => [t.name, t]))
  const shape = (m: typeof text, name: string) => m.get(name)?.shape
  const type = (m: typeof text, name: string) => m.get(name)?.type

  it('has the real text model tensor shapes', () => {
    expect(text.size).toBe(1 + 36 * 11 + 2)
    expect(shape(text, 'token_embd.weight')).toEqual([2560, 151936])
    expect(shape(text, 'output.weight')).toEqual([2560, 151936])
    expect(shape(text, 'output_norm.weight')).toEqual([2560])
    for (const b of ['blk.0', 'blk.35']) {
      expect(shape(text, `${b}.attn_q.weight`)).toEqual([2560, 4096])
      expect(shape(text, `${b}.attn_k.weight`)).toEqual([2560, 1024])
      expect(shape(text, `${b}.attn_v.weight`)).toEqual([2560, 1024])
      expect(shape(text, `${b}.attn_output.weight`)).toEqual([4096, 2560])
      expect(shape(text, `${b}.attn_q_norm.weight`)).toEqual([128])
      expect(shape(text, `${b}.attn_k_norm.weight`)).toEqual([128])
      expect(shape(text, `${b}.ffn_gate.weight`)).toEqual([2560, 9728])
      expect(shape(text, `${b}.ffn_up.weight`)).toEqual([2560, 9728])
      expect(shape(text, `${b}.ffn_down.weight`)).toEqual([9728, 2560])
      expect(type(text, `${b}.ffn_down.weight`)).toBe('Q4_0')
      expect(type(text, `${b}.attn_norm.weight`)).toBe('F32')
    }
  })

  it('has the real vision tower, deepstack and merger shapes', () => {
    expect(shape(vision, 'v.patch_embd.weight')).toEqual([16, 16, 3, 1024])
    expect(shape(vision, 'v.patch_embd.weight.1')).toEqual([16, 16, 3, 1024])
    expect(shape(vision, 'v.position_embd.weight')).toEqual([1024, 2304])
    expect(type(vision, 'v.position_embd.weight')).toBe('F32')
    expect(shape(vision, 'v.blk.23.attn_qkv.weight')).toEqual([1024, 3072])
    expect(shape(vision, 'v.blk.23.attn_qkv.bias')).toEqual([3072])
    expect(shape(vision, 'v.blk.23.attn_out.weight')).toEqual([1024, 1024])
    expect(shape(vision, 'v.blk.23.ffn_up.weight')).toEqual([1024, 4096])
    expect(shape(vision, 'v.blk.23.ffn_down.weight')).toEqual([4096, 1024])
    expect(vision.has('v.blk.24.ln1.weight')).toBe(false)
    for (const d of [5, 11, 17]) {
      expect(shape(vision, `v.deepstack.${d}.norm.weight`)).toEqual([4096])
      expect(shape(vision, `v.deepstack.${d}.fc1.weight`)).toEqual([4096, 4096])
      expect(shape(vision, `v.deepstack.${d}.fc2.weight`)).toEqual([4096, 2560])
    }
    expect(shape(vision, 'v.post_ln.weight')).toEqual([1024])
    expect(shape(vision, 'mm.0.weight')).toEqual([4096, 4096])
    expect(shape(vision, 'mm.2.weight')).toEqual([4096, 2560])
    expect(shape(vision, 'mm.2.bias')).toEqual([2560])
  })

  it('generates a tensor in bounded chunks with the same bytes whatever is generated before it', () => {
    const tensor = { name: 'x', shape: [64, 40000], type: 'Q8_0' as const, init: { kind: 'uniform' as const, scale: 1 } }
    const first = [...(tensorSource(tensor, 3).data() as Iterable<Uint8Array>)].map((c) => Buffer.from(c))
    const second = [...(tensorSource(tensor, 3).data() as Iterable<Uint8Array>)].map((c) => Buffer.from(c))
    expect(first.length).toBeGreaterThan(1)
    expect(Math.max(...first.map((c) => c.length))).toBeLessThanOrEqual(((1 << 20) / 32) * 34)
    expect(Buffer.concat(first).equals(Buffer.concat(second))).toBe(true)
    expect(Buffer.concat(first).length).toBe(((64 * 40000) / 32) * 34)
  })
})
