/**
 * The `qwen3vl` text model: metadata and tensor plan, following llama.cpp's loader
 * (`src/models/qwen3vl.cpp`) and the key types it insists on.
 */
import type { GgmlTypeName } from '../gguf/tensor-types.js'
import { gguf, type GgufMetadata } from '../gguf/values.js'
import { buildVocabulary, type Vocabulary } from './byte-level-vocab.js'
import type { StandinPreset, TextQuant } from './presets.js'
import { QWEN3_VL_CHAT_TEMPLATE } from './qwen3-vl-chat-template.js'
import type { PlannedTensor } from './tensor-plan.js'

/** `general.file_type` values (llama.cpp `llama_ftype`). */
export const FILE_TYPES: Record<TextQuant, number> = { f16: 1, q4_0: 2, q8_0: 7 }
export const GGML_TYPES: Record<TextQuant, GgmlTypeName> = { f16: 'F16', q4_0: 'Q4_0', q8_0: 'Q8_0' }

/**
 * How much larger than a plain uniform init the output rows are. With the rows for
 * non-ASCII bytes and special tokens zeroed, their logits are exactly 0 while every other
 * logit is spread ±several units, so greedy decoding always picks printable ASCII.
 */
const OUTPUT_ROW_GAIN = 8

export function textModelMetadata(preset: StandinPreset, quant: TextQuant, seed: number, vocab: Vocabulary): GgufMetadata {
  const t = preset.text
  const a = 'qwen3vl'
  return [
    ['general.architecture', gguf.str(a)],
    ['general.type', gguf.str('model')],
    ['general.name', gguf.str(preset.displayName)],
    ['general.quantization_version', gguf.u32(2)],
    ['general.file_type', gguf.u32(FILE_TYPES[quant])],
    ['visto.standin.preset', gguf.str(preset.name)],
    ['visto.standin.seed', gguf.u32(seed)],
    [`${a}.context_length`, gguf.u32(t.contextLength)],
    [`${a}.embedding_length`, gguf.u32(t.hidden)],
    [`${a}.block_count`, gguf.u32(t.layers)],
    [`${a}.feed_forward_length`, gguf.u32(t.feedForward)],
    [`${a}.attention.head_count`, gguf.u32(t.heads)],
    [`${a}.attention.head_count_kv`, gguf.u32(t.kvHeads)],
    [`${a}.attention.key_length`, gguf.u32(t.headDim)],
    [`${a}.attention.value_length`, gguf.u32(t.headDim)],
    [`${a}.rope.freq_base`, gguf.f32(t.ropeTheta)],
    [`${a}.rope.dimension_sections`, gguf.i32s([...t.ropeSections])],
    [`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(t.rmsEpsilon)],
    [`${a}.n_deepstack_layers`, gguf.u32(preset.vision.deepstackLayers.length)],
    ['tokenizer.ggml.model', gguf.str('gpt2')],
    ['tokenizer.ggml.pre', gguf.str('qwen2')],
    ['tokenizer.ggml.tokens', gguf.strings(vocab.tokens)],
    ['tokenizer.ggml.token_type', gguf.i32s(vocab.types)],
    // No merges: text tokenises to byte tokens, which is all a random model needs.
    ['tokenizer.ggml.merges', gguf.strings([])],
    ['tokenizer.ggml.eos_token_id', gguf.u32(vocab.idOf('<|im_end|>'))],
    ['tokenizer.ggml.padding_token_id', gguf.u32(vocab.idOf('<|endoftext|>'))],
    ['tokenizer.ggml.bos_token_id', gguf.u32(vocab.idOf('<|endoftext|>'))],
    ['tokenizer.ggml.add_bos_token', gguf.bool(false)],
    ['tokenizer.chat_template', gguf.str(QWEN3_VL_CHAT_TEMPLATE)],
  ]
}

/**
 * What the stand-in's output layer lets it say: `printable` ASCII (what tests and
 * benchmarks want), or only lone UTF-8 continuation bytes (`invalid-utf8`), which
 * reproduces the random-weight output stock llama-server builds refuse (their chat
 * parser fails on it), so the engine-quirk tests can check that Visto's patched build lets it through.
 */
export type StandinOutput = 'printable' | 'invalid-utf8'

export function textModelTensors(preset: StandinPreset, quant: TextQuant, vocab: Vocabulary, output: StandinOutput = 'printable'): PlannedTensor[] {
  const t = preset.text
  const w = GGML_TYPES[quant]
  const qWidth = t.heads * t.headDim
  const kvWidth = t.kvHeads * t.headDim
  const ones = { kind: 'constant', value: 1 } as const
  const linear = (fanIn: number) => ({ kind: 'uniform', scale: 1 / Math.sqrt(fanIn) }) as const
  const tensors: PlannedTensor[] = [{ name: 'token_embd.weight', shape: [t.hidden, t.vocabSize], type: w, init: { kind: 'uniform', scale: 1 } }]
  for (let i = 0; i < t.layers; i++) {
    const b = `blk.${i}`
    tensors.push(
      { name: `${b}.attn_norm.weight`, shape: [t.hidden], type: 'F32', init: ones },
      { name: `${b}.attn_q.weight`, shape: [t.hidden, qWidth], type: w, init: linear(t.hidden) },
      { name: `${b}.attn_k.weight`, shape: [t.hidden, kvWidth], type: w, init: linear(t.hidden) },
      { name: `${b}.attn_v.weight`, shape: [t.hidden, kvWidth], type: w, init: linear(t.hidden) },
      { name: `${b}.attn_output.weight`, shape: [qWidth, t.hidden], type: w, init: linear(qWidth) },
      { name: `${b}.attn_q_norm.weight`, shape: [t.headDim], type: 'F32', init: ones },
      { name: `${b}.attn_k_norm.weight`, shape: [t.headDim], type: 'F32', init: ones },
      { name: `${b}.ffn_norm.weight`, shape: [t.hidden], type: 'F32', init: ones },
      { name: `${b}.ffn_gate.weight`, shape: [t.hidden, t.feedForward], type: w, init: linear(t.hidden) },
      { name: `${b}.ffn_up.weight`, shape: [t.hidden, t.feedForward], type: w, init: linear(t.hidden) },
      { name: `${b}.ffn_down.weight`, shape: [t.feedForward, t.hidden], type: w, init: linear(t.feedForward) },
    )
  }
  tensors.push(
    { name: 'output_norm.weight', shape: [t.hidden], type: 'F32', init: ones },
    // Untied (the real model ties it to token_embd): see OUTPUT_ROW_GAIN.
    {
      name: 'output.weight',
      shape: [t.hidden, t.vocabSize],
      type: w,
      init: { kind: 'uniform', scale: OUTPUT_ROW_GAIN / Math.sqrt(t.hidden), rowMask: output === 'printable' ? vocab.emittable : vocab.loneContinuationBytes },
    },
  )
  return tensors
}

export function textVocabulary(preset: StandinPreset): Vocabulary {
  return buildVocabulary(preset.text.vocabSize, preset.text.addedTokensStart)
}
