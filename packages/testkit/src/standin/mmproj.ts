/**
 * The Qwen3-VL vision projector (`clip` architecture, `qwen3vl_merger` projector):
 * ViT blocks, deepstack mergers and the final merger, named and shaped as llama.cpp's
 * mtmd loader (`tools/mtmd/clip.cpp`) expects.
 */
import type { GgmlTypeName } from '../gguf/tensor-types.js'
import { gguf, type GgufMetadata } from '../gguf/values.js'
import type { MmprojQuant, StandinPreset } from './presets.js'
import type { PlannedTensor } from './tensor-plan.js'

const MMPROJ_FILE_TYPES: Record<MmprojQuant, number> = { f16: 1, q8_0: 7 }
const MMPROJ_GGML_TYPES: Record<MmprojQuant, GgmlTypeName> = { f16: 'F16', q8_0: 'Q8_0' }

export function mmprojMetadata(preset: StandinPreset, quant: MmprojQuant, seed: number): GgufMetadata {
  const v = preset.vision
  return [
    ['general.architecture', gguf.str('clip')],
    ['general.type', gguf.str('mmproj')],
    ['general.name', gguf.str(preset.displayName)],
    ['general.file_type', gguf.u32(MMPROJ_FILE_TYPES[quant])],
    ['visto.standin.preset', gguf.str(preset.name)],
    ['visto.standin.seed', gguf.u32(seed)],
    ['clip.has_vision_encoder', gguf.bool(true)],
    ['clip.projector_type', gguf.str('qwen3vl_merger')],
    ['clip.use_gelu', gguf.bool(true)],
    ['clip.vision.image_size', gguf.u32(v.positionGrid * v.patchSize)],
    ['clip.vision.patch_size', gguf.u32(v.patchSize)],
    ['clip.vision.embedding_length', gguf.u32(v.hidden)],
    ['clip.vision.feed_forward_length', gguf.u32(v.feedForward)],
    ['clip.vision.block_count', gguf.u32(v.layers)],
    ['clip.vision.attention.head_count', gguf.u32(v.heads)],
    ['clip.vision.attention.layer_norm_epsilon', gguf.f32(v.layerNormEpsilon)],
    ['clip.vision.projection_dim', gguf.u32(preset.text.hidden)],
    ['clip.vision.image_mean', gguf.f32s([0.5, 0.5, 0.5])],
    ['clip.vision.image_std', gguf.f32s([0.5, 0.5, 0.5])],
    ['clip.vision.spatial_merge_size', gguf.u32(v.spatialMerge)],
    ['clip.vision.is_deepstack_layers', gguf.bools(Array.from({ length: v.layers }, (_, i) => v.deepstackLayers.includes(i)))],
  ]
}

export function mmprojTensors(preset: StandinPreset, quant: MmprojQuant): PlannedTensor[] {
  const v = preset.vision
  const w = MMPROJ_GGML_TYPES[quant]
  const h = v.hidden
  const merged = h * v.spatialMerge * v.spatialMerge
  const out = preset.text.hidden
  const ones = { kind: 'constant', value: 1 } as const
  const zeros = { kind: 'constant', value: 0 } as const
  const linear = (fanIn: number) => ({ kind: 'uniform', scale: 1 / Math.sqrt(fanIn) }) as const
  const dense = (prefix: string, inWidth: number, outWidth: number): PlannedTensor[] => [
    { name: `${prefix}.weight`, shape: [inWidth, outWidth], type: w, init: linear(inWidth) },
    { name: `${prefix}.bias`, shape: [outWidth], type: 'F32', init: zeros },
  ]
  const norm = (prefix: string, width: number): PlannedTensor[] => [
    { name: `${prefix}.weight`, shape: [width], type: 'F32', init: ones },
    { name: `${prefix}.bias`, shape: [width], type: 'F32', init: zeros },
  ]
  // The 16-wide patch kernels cannot be block-quantised; they stay F16 either way.
  const patchFanIn = v.patchSize * v.patchSize * 3 * 2
  const tensors: PlannedTensor[] = [
    { name: 'v.patch_embd.weight', shape: [v.patchSize, v.patchSize, 3, h], type: 'F16', init: linear(patchFanIn) },
    { name: 'v.patch_embd.weight.1', shape: [v.patchSize, v.patchSize, 3, h], type: 'F16', init: linear(patchFanIn) },
    { name: 'v.patch_embd.bias', shape: [h], type: 'F32', init: zeros },
    // Must be F32: llama.cpp resizes it bilinearly, which it implements for F32 only.
    { name: 'v.position_embd.weight', shape: [h, v.positionGrid * v.positionGrid], type: 'F32', init: { kind: 'uniform', scale: 0.05 } },
  ]
  for (let i = 0; i < v.layers; i++) {
    const b = `v.blk.${i}`
    tensors.push(
      ...norm(`${b}.ln1`, h),
      ...dense(`${b}.attn_qkv`, h, 3 * h),
      ...dense(`${b}.attn_out`, h, h),
      ...norm(`${b}.ln2`, h),
      ...dense(`${b}.ffn_up`, h, v.feedForward),
      ...dense(`${b}.ffn_down`, v.feedForward, h),
    )
  }
  for (const d of v.deepstackLayers) {
    tensors.push(...norm(`v.deepstack.${d}.norm`, merged), ...dense(`v.deepstack.${d}.fc1`, merged, merged), ...dense(`v.deepstack.${d}.fc2`, merged, out))
  }
  tensors.push(...norm('v.post_ln', h), ...dense('mm.0', merged, merged), ...dense('mm.2', merged, out))
  return tensors
}
