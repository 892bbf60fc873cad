import { AmbiguousModelError, ModelNotFoundError } from './model-errors.js'

/** The quantisation picked when a hub spec names none (llama.cpp's `-hf` default too). */
export const DEFAULT_QUANT = 'Q4_K_M'

/** mmproj precisions in order of preference: F16 is what the model was released with. */
const MMPROJ_PREFERENCE = ['F16', 'BF16', 'F32', 'Q8_0']

const SHARD = /-(\d{5})-of-(\d{5})\.gguf$/i

/** One loadable model: a single file, or the shards of a split GGUF (llama.cpp loads the first and finds the rest). */
export interface ModelCandidate {
  /** Every file, in shard order. */
  files: string[]
  /** How many shards the file names promise (1 when not split). */
  expectedParts: number
}

export function isGguf(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf')
}

export function isMmproj(path: string): boolean {
  return baseName(path).toLowerCase().includes('mmproj')
}

/** Whether a path names this quant as a whole word: `…-Q4_K_M.gguf`, `Q4_K_M/…`, not `…-IQ4_K_M…` nor `…Q4_K_M_L…`. */
export function matchesQuant(path: string, quant: string): boolean {
  const escaped = quant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`(?:^|[/_. -])${escaped}(?=$|[/. -])`, 'i').test(path)
}

/** Groups model GGUF paths (not mmproj) into candidates, joining the shards of split files. */
export function modelCandidates(paths: readonly string[]): ModelCandidate[] {
  const groups = new Map<string, { files: Array<{ index: number; path: string }>; expectedParts: number }>()
  for (const path of paths) {
    if (!isGguf(path) || isMmproj(path)) continue
    const shard = path.match(SHARD)
    const key = shard ? path.slice(0, shard.index) : path
    const group = groups.get(key) ?? { files: [], expectedParts: shard ? Number(shard[2]) : 1 }
    group.files.push({ index: shard ? Number(shard[1]) : 1, path })
    groups.set(key, group)
  }
  return [...groups.values()]
    .map((group) => ({ files: group.files.sort((a, b) => a.index - b.index).map((f) => f.path), expectedParts: group.expectedParts }))
    .sort((a, b) => a.files[0]!.localeCompare(b.files[0]!))
}

export function isComplete(candidate: ModelCandidate): boolean {
  return candidate.files.length === candidate.expectedParts
}

export interface ModelSelector {
  /** A quant such as Q4_K_M, or an exact file name/path ending in .gguf. */
  tag?: string | undefined
  /** When no tag is given and several candidates exist: prefer DEFAULT_QUANT (hubs) or refuse (local folders). */
  preferDefaultQuant: boolean
  /** For messages: where the files are ("Qwen/Qwen3-VL-4B-Instruct-GGUF", "/models/qwen"). */
  where: string
  /** How the user picks one instead, e.g. `--model owner/repo:QUANT`. */
  howToPick: string
}

/** Picks the one model among `paths` that the selector means, or explains why it cannot. */
export function chooseModel(paths: readonly string[], selector: ModelSelector): ModelCandidate {
  const candidates = modelCandidates(paths)
  if (candidates.length === 0) {
    throw new ModelNotFoundError(`There is no model .gguf file in ${selector.where} (only mmproj files or none at all).`)
  }
  const { tag } = selector
  if (tag !== undefined && isGguf(tag)) {
    const wanted = tag.toLowerCase()
    const match = candidates.find((c) => c.files.some((f) => f.toLowerCase() === wanted || baseName(f).toLowerCase() === wanted))
    if (!match) throw new ModelNotFoundError(`${selector.where} has no file named ${tag}. It has:\n${listCandidates(candidates)}`)
    return match
  }
  if (tag !== undefined) {
    const matches = candidates.filter((c) => matchesQuant(c.files[0]!, tag))
    if (matches.length === 1) return matches[0]!
    if (matches.length === 0) {
      throw new ModelNotFoundError(`${selector.where} has no ${tag} file. Available: ${availableQuants(candidates).join(', ') || 'see below'}.\n${listCandidates(candidates)}`)
    }
    throw new AmbiguousModelError(
      `${selector.where} has several ${tag} files:\n${listCandidates(matches)}\nName the one you mean: ${selector.howToPick}`,
      matches.map((c) => c.files[0]!),
    )
  }
  if (candidates.length === 1) return candidates[0]!
  if (selector.preferDefaultQuant) {
    const matches = candidates.filter((c) => matchesQuant(c.files[0]!, DEFAULT_QUANT))
    if (matches.length === 1) return matches[0]!
  }
  throw new AmbiguousModelError(
    `${selector.where} holds several models; which one?\n${listCandidates(candidates)}\nName the one you mean: ${selector.howToPick}`,
    candidates.map((c) => c.files[0]!),
  )
}

/** Picks the mmproj among `paths` (F16 first), undefined when there is none. */
export function chooseMmproj(paths: readonly string[], where: string): string | undefined {
  const mmprojs = paths.filter((p) => isGguf(p) && isMmproj(p)).sort()
  if (mmprojs.length <= 1) return mmprojs[0]
  for (const precision of MMPROJ_PREFERENCE) {
    const matches = mmprojs.filter((p) => matchesQuant(p, precision))
    if (matches.length === 1) return matches[0]
    if (matches.length > 1) break
  }
  throw new AmbiguousModelError(`${where} holds several mmproj files; which one?\n${mmprojs.map((p) => `  ${p}`).join('\n')}\nName the one you mean with --mmproj.`, mmprojs)
}

/** `Q4_K_M`, `Q8_0`, `F16`, `IQ4_XS`, `UD-Q4_K_XL`: the quant-looking word of each candidate, for messages. */
function availableQuants(candidates: readonly ModelCandidate[]): string[] {
  const quants = candidates
    .map((c) =>
      baseName(c.files[0]!)
        .replace(SHARD, '')
        .replace(/\.gguf$/i, ''),
    )
    .map((stem) => stem.match(/(?:^|[-_.])((?:UD-)?(?:I?Q\d[\w]*|BF16|F16|F32))$/i)?.[1])
    .filter((q): q is string => q !== undefined)
  return [...new Set(quants)]
}

function listCandidates(candidates: readonly ModelCandidate[]): string {
  return candidates.map((c) => `  ${c.files[0]}${c.files.length > 1 || c.expectedParts > 1 ? ` (${c.expectedParts} parts)` : ''}`).join('\n')
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}
