/**
 * Writes a stand-in Qwen3-VL pair — `model.gguf` (text) and `mmproj.gguf` (vision
 * projector) — with random weights, real shapes, Qwen's special tokens and chat template.
 * Same preset, quantisation and seed → byte-identical files.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'

import { writeGguf, type GgufWriteProgress } from '../gguf/writer.js'
import { mmprojMetadata, mmprojTensors } from './mmproj.js'
import { STANDIN_PRESETS, type MmprojQuant, type StandinPresetName, type TextQuant } from './presets.js'
import { tensorSource } from './tensor-plan.js'
import { textModelMetadata, textModelTensors, textVocabulary, type StandinOutput } from './text-model.js'

/** Bump whenever the bytes written for the same options change (caches key on it). */
export const STANDIN_GENERATOR_VERSION = 1
export const DEFAULT_STANDIN_SEED = 42

export interface GenerateStandinOptions {
  preset: StandinPresetName
  outDir: string
  quant?: TextQuant
  mmprojQuant?: MmprojQuant
  seed?: number
  /** `invalid-utf8` makes a model that only emits invalid UTF-8 (engine-quirk tests). */
  output?: StandinOutput
  onProgress?: (progress: GgufWriteProgress) => void
}

export interface StandinFiles {
  model: string
  mmproj: string
  modelBytes: number
  mmprojBytes: number
}

export async function generateStandin(options: GenerateStandinOptions): Promise<StandinFiles> {
  const preset = STANDIN_PRESETS[options.preset]
  const quant = options.quant ?? preset.defaultQuant
  const mmprojQuant = options.mmprojQuant ?? preset.defaultMmprojQuant
  const seed = options.seed ?? DEFAULT_STANDIN_SEED
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`)
  await mkdir(options.outDir, { recursive: true })

  const model = join(options.outDir, 'model.gguf')
  const mmproj = join(options.outDir, 'mmproj.gguf')
  const writeOptions = options.onProgress ? { onProgress: options.onProgress } : {}

  const vocab = textVocabulary(preset)
  const modelBytes = await writeGguf(
    model,
    textModelMetadata(preset, quant, seed, vocab),
    textModelTensors(preset, quant, vocab, options.output).map((t) => tensorSource(t, seed)),
    writeOptions,
  )
  const mmprojBytes = await writeGguf(
    mmproj,
    mmprojMetadata(preset, mmprojQuant, seed),
    mmprojTensors(preset, mmprojQuant).map((t) => tensorSource(t, seed)),
    writeOptions,
  )
  return { model, mmproj, modelBytes, mmprojBytes }
}
