/**
 * The tiny stand-in Qwen3-VL pair for tests that run the real engine. Generated once
 * into a cache directory keyed by the generator's version and source, and reused after;
 * the GGUF writer renames each file into place only when complete, so parallel test
 * workers never see half-written files.
 */
import { createHash } from 'node:crypto'
import { access, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { DEFAULT_STANDIN_SEED, STANDIN_GENERATOR_VERSION, generateStandin } from '@visto/testkit/standin/generate-standin'
import type { StandinOutput } from '@visto/testkit/standin/text-model'
import { writeGguf } from '@visto/testkit/gguf/writer'
import { mmprojMetadata, mmprojTensors } from '@visto/testkit/standin/mmproj'
import { STANDIN_PRESETS, type VisionDimensions } from '@visto/testkit/standin/presets'
import { tensorSource } from '@visto/testkit/standin/tensor-plan'
import { freshDataDir } from './data-dir.js'

export interface StandinPair {
  dir: string
  model: string
  mmproj: string
}

const testkitSource = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'testkit', 'src')

const pending = new Map<StandinOutput, Promise<StandinPair>>()

/** `invalid-utf8`: a variant that only emits invalid UTF-8, for engine-quirk tests. */
export function ensureTinyStandin(output: StandinOutput = 'printable'): Promise<StandinPair> {
  let pair = pending.get(output)
  if (!pair) {
    pair = generateOnce(output).catch((error: unknown) => {
      pending.delete(output)
      throw error
    })
    pending.set(output, pair)
  }
  return pair
}

async function generateOnce(output: StandinOutput): Promise<StandinPair> {
  const key = await cacheKey()
  const dir = join(tmpdir(), `visto-standin-tiny-${output === 'printable' ? '' : `${output}-`}${key}`)
  const pair = { dir, model: join(dir, 'model.gguf'), mmproj: join(dir, 'mmproj.gguf') }
  if (!((await exists(pair.model)) && (await exists(pair.mmproj)))) {
    await generateStandin({ preset: 'tiny', outDir: dir, seed: DEFAULT_STANDIN_SEED, output })
  }
  return pair
}

/** Version and seed, plus the generator's own source, so an edit never reuses stale files. */
async function cacheKey(): Promise<string> {
  const hash = createHash('sha256').update(`${STANDIN_GENERATOR_VERSION}:${DEFAULT_STANDIN_SEED}`)
  for (const folder of ['standin', 'gguf']) {
    const files = (await readdir(join(testkitSource, folder))).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort()
    for (const file of files) hash.update(file).update(await readFile(join(testkitSource, folder, file)))
  }
  return hash.digest('hex').slice(0, 16)
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/**
 * The tiny stand-in's vision projector with other vision dimensions, e.g. `{ patchSize: 14 }`
 * as Qwen2.5-VL's: a projector llama.cpp loads next to the tiny text model, for tests of
 * what the geometry changes. Written to `path` (a fresh temporary file is the caller's).
 */
export async function writeTinyMmproj(path: string, vision: Partial<VisionDimensions>): Promise<string> {
  const tiny = STANDIN_PRESETS.tiny
  const preset = { ...tiny, vision: { ...tiny.vision, ...vision } }
  await writeGguf(
    path,
    mmprojMetadata(preset, 'f16', DEFAULT_STANDIN_SEED),
    mmprojTensors(preset, 'f16').map((t) => tensorSource(t, DEFAULT_STANDIN_SEED)),
  )
  return path
}

/**
 * `visto serve` flags for the tiny stand-in on `port`, in a fresh data directory: what every
 * real-engine test server starts with (in this process or spawned), before its own flags.
 */
export function tinyServeArgs(standin: StandinPair, port: number, logLevel: string): string[] {
  return [
    '--port',
    String(port),
    '--model',
    standin.model,
    '--mmproj',
    standin.mmproj,
    '--ctx-size',
    '2048',
    '--threads',
    '2',
    '--log-level',
    logLevel,
    '--data-dir',
    freshDataDir(),
  ]
}
