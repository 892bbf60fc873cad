/**
 * Stand-in model sizes. `qwen3-vl-4b` copies Qwen3-VL-4B-Instruct's `config.json`
 * exactly, so compute and memory per token match the real model; `tiny` keeps the same
 * architecture (deepstack included) small enough to generate in milliseconds.
 */

export interface TextDimensions {
  hidden: number
  layers: number
  heads: number
  kvHeads: number
  headDim: number
  feedForward: number
  vocabSize: number
  /** Id of `<|endoftext|>`, the first of Qwen's added tokens. */
  addedTokensStart: number
  contextLength: number
  ropeTheta: number
  /** Interleaved M-RoPE sections (t, h, w, unused); their sum is at most headDim / 2. */
  ropeSections: [number, number, number, number]
  rmsEpsilon: number
}

export interface VisionDimensions {
  hidden: number
  layers: number
  heads: number
  feedForward: number
  patchSize: number
  /** Learned position embeddings form a grid of this many patches per side. */
  positionGrid: number
  spatialMerge: number
  /** Vision layers whose output also feeds the text model (deepstack). */
  deepstackLayers: number[]
  layerNormEpsilon: number
}

export type TextQuant = 'q4_0' | 'q8_0' | 'f16'
export type MmprojQuant = 'f16' | 'q8_0'

export interface StandinPreset {
  name: string
  /** What `general.name` says, so nobody mistakes the file for real weights. */
  displayName: string
  text: TextDimensions
  vision: VisionDimensions
  defaultQuant: TextQuant
  defaultMmprojQuant: MmprojQuant
}

export type StandinPresetName = 'tiny' | 'qwen3-vl-4b'

export const STANDIN_PRESETS: Readonly<Record<StandinPresetName, StandinPreset>> = {
  tiny: {
    name: 'tiny',
    displayName: 'Visto stand-in Qwen3-VL tiny (random weights)',
    text: {
      hidden: 64,
      layers: 3,
      heads: 4,
      kvHeads: 2,
      headDim: 16,
      feedForward: 128,
      vocabSize: 1024,
      addedTokensStart: 992,
      contextLength: 32768,
      ropeTheta: 5_000_000,
      ropeSections: [4, 2, 2, 0],
      rmsEpsilon: 1e-6,
    },
    vision: {
      hidden: 64,
      layers: 3,
      heads: 4,
      feedForward: 128,
      patchSize: 16,
      positionGrid: 16,
      spatialMerge: 2,
      deepstackLayers: [0, 1],
      layerNormEpsilon: 1e-6,
    },
    defaultQuant: 'f16',
    defaultMmprojQuant: 'f16',
  },
  'qwen3-vl-4b': {
    name: 'qwen3-vl-4b',
    displayName: 'Visto stand-in Qwen3-VL-4B-Instruct (random weights, real shapes)',
    text: {
      hidden: 2560,
      layers: 36,
      heads: 32,
      kvHeads: 8,
      headDim: 128,
      feedForward: 9728,
      vocabSize: 151936,
      addedTokensStart: 151643,
      contextLength: 262144,
      ropeTheta: 5_000_000,
      ropeSections: [24, 20, 20, 0],
      rmsEpsilon: 1e-6,
    },
    vision: {
      hidden: 1024,
      layers: 24,
      heads: 16,
      feedForward: 4096,
      patchSize: 16,
      positionGrid: 48,
      spatialMerge: 2,
      deepstackLayers: [5, 11, 17],
      layerNormEpsilon: 1e-6,
    },
    defaultQuant: 'q4_0',
    defaultMmprojQuant: 'f16',
  },
}

export function isStandinPresetName(name: string): name is StandinPresetName {
  return Object.hasOwn(STANDIN_PRESETS, name)
}
