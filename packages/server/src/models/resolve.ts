import { open, readdir, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve as resolvePath, sep } from 'node:path'

import { cachedFilePath, expandHome, repoCacheDir } from './cache-dir.js'
import { allFilesExist, readCachedSelection, writeCachedSelection } from './cached-selections.js'
import { createHub } from './create-hub.js'
import { DEFAULT_MODEL } from './default-model.js'
import { downloadFile } from './download.js'
import type { DownloadProgress } from './download-progress.js'
import { chooseMmproj, chooseModel, DEFAULT_QUANT, isComplete, isGguf, isMmproj, type ModelCandidate } from './gguf-file-choice.js'
import { HubUnreachableError, type Hub, type HubFile, type HubSourceName } from './hub.js'
import { ModelNotFoundError, ModelUnavailableError } from './model-errors.js'

export { defaultCacheDir } from './cache-dir.js'
export { DEFAULT_MODEL } from './default-model.js'
export { createProgressPrinter, type DownloadProgress } from './download-progress.js'
export * from './model-errors.js'
export type { HubSourceName } from './hub.js'

export interface ModelSpec {
  /** A local .gguf file, a local folder, or a hub spec `owner/repo[:QUANT]` (`owner/repo:file.gguf` also works). */
  model?: string | undefined
  /** A local mmproj .gguf (or a folder holding one). */
  mmproj?: string | undefined
  source?: HubSourceName | undefined
}

export interface ResolvedModel {
  modelPath: string
  mmprojPath: string
  /** For logs: which files, from where. */
  label: string
}

export interface ResolveModelOptions {
  cacheDir: string
  env?: NodeJS.ProcessEnv
  fetch?: typeof fetch
  onProgress?: (progress: DownloadProgress) => void
  signal?: AbortSignal
  /** Further attempts per file after a network failure (each resumes). */
  retries?: number
  retryDelayMs?: number
}

const HUB_SPEC = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)(?::([^:\s]+))?$/
const HUB_URL_PREFIX = /^(?:https?:\/\/)?(?:hf\.co|huggingface\.co)\//i

/**
 * Turns what the user asked for into a model file and an mmproj file on disk, downloading
 * from the hub into the cache when needed. A spec resolved once resolves again without
 * network.
 */
export async function resolveModel(spec: ModelSpec, options: ResolveModelOptions): Promise<ResolvedModel> {
  const env = options.env ?? process.env
  const localMmproj = spec.mmproj?.trim() ? await resolveLocalMmproj(spec.mmproj.trim(), env) : undefined
  const hub = createHub(spec.source ?? 'huggingface', env)
  const model = spec.model?.trim()
  if (!model) {
    return resolveFromHub(hub, { repo: DEFAULT_MODEL.repo, exact: { model: DEFAULT_MODEL.file, mmproj: DEFAULT_MODEL.mmproj } }, localMmproj, options)
  }

  const localPath = resolvePath(expandHome(model, env))
  const info = await stat(localPath).catch(() => undefined)
  if (info?.isFile()) return resolveLocalFile(localPath, localMmproj)
  if (info?.isDirectory()) return resolveLocalDirectory(localPath, localMmproj)

  const hubSpec = looksLikePath(model) ? undefined : model.replace(HUB_URL_PREFIX, '').match(HUB_SPEC)
  if (!hubSpec) {
    throw new ModelNotFoundError(`--model ${model}: there is no such file or folder (${localPath}), and it is not a hub spec like ${DEFAULT_MODEL.repo}:${DEFAULT_QUANT}.`)
  }
  const [, owner, name, tag] = hubSpec
  return resolveFromHub(hub, { repo: `${owner}/${name}`, tag, localPathTried: localPath }, localMmproj, options)
}

function looksLikePath(model: string): boolean {
  return /^(?:\/|\.{1,2}[/\\]|~)/.test(model) || model.includes('\\') || (isGguf(model) && !model.includes(':'))
}

// ─── Local files ────────────────────────────────────────────────────────────

async function resolveLocalFile(modelPath: string, localMmproj: string | undefined): Promise<ResolvedModel> {
  if (isMmproj(basename(modelPath))) {
    throw new ModelNotFoundError(
      `--model ${modelPath} is an mmproj (the vision projector), not the language model. ` + 'Pass the model file with --model and this file with --mmproj.',
    )
  }
  await assertGguf(modelPath, '--model')
  const folder = dirname(modelPath)
  let mmprojPath = localMmproj
  if (!mmprojPath) {
    const found = chooseMmproj(await ggufFilesIn(folder), folder)
    if (!found) throw missingMmproj(`next to ${modelPath}`)
    mmprojPath = join(folder, found)
  }
  return { modelPath, mmprojPath, label: localLabel(modelPath, mmprojPath) }
}

async function resolveLocalDirectory(folder: string, localMmproj: string | undefined): Promise<ResolvedModel> {
  const names = await ggufFilesIn(folder)
  const candidate = chooseModel(names, {
    preferDefaultQuant: false,
    where: folder,
    howToPick: `--model ${join(folder, '<one of the files above>')}`,
  })
  assertComplete(candidate, folder)
  const modelPath = join(folder, candidate.files[0]!)
  await assertGguf(modelPath, '--model')
  let mmprojPath = localMmproj
  if (!mmprojPath) {
    const found = chooseMmproj(names, folder)
    if (!found) throw missingMmproj(`in ${folder}`)
    mmprojPath = join(folder, found)
  }
  return { modelPath, mmprojPath, label: localLabel(modelPath, mmprojPath) }
}

async function resolveLocalMmproj(spec: string, env: NodeJS.ProcessEnv): Promise<string> {
  const path = resolvePath(expandHome(spec, env))
  const info = await stat(path).catch(() => undefined)
  if (info?.isDirectory()) {
    const found = chooseMmproj(await ggufFilesIn(path), path)
    if (!found) throw new ModelNotFoundError(`--mmproj ${spec}: the folder ${path} holds no mmproj*.gguf file.`)
    return join(path, found)
  }
  if (!info?.isFile()) throw new ModelNotFoundError(`--mmproj ${spec}: there is no such file (${path}).`)
  await assertGguf(path, '--mmproj')
  return path
}

async function ggufFilesIn(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true })
  const names: string[] = []
  for (const entry of entries) {
    if (!isGguf(entry.name)) continue
    // Links to model files are common (one download shared by several tools).
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(join(folder, entry.name)).catch(() => undefined))?.isFile())) {
      names.push(entry.name)
    }
  }
  return names.sort()
}

/** A wrong file given to llama-server fails deep inside it; a four-byte check fails here, clearly. */
async function assertGguf(path: string, flag: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0)
    if (bytesRead < 4 || buffer.toString('latin1') !== 'GGUF') {
      throw new ModelNotFoundError(`${flag} ${path} is not a GGUF file (it does not start with the GGUF signature).`)
    }
  } finally {
    await handle.close()
  }
}

function assertComplete(candidate: ModelCandidate, where: string): void {
  if (isComplete(candidate)) return
  throw new ModelNotFoundError(`${where}: ${candidate.files[0]} is split into ${candidate.expectedParts} parts but only ${candidate.files.length} are there.`)
}

function missingMmproj(where: string): ModelNotFoundError {
  return new ModelNotFoundError(
    `There is no mmproj*.gguf file ${where}. Qwen3-VL reads images through its vision projector (mmproj); ` + 'pass it with --mmproj /path/to/mmproj.gguf.',
  )
}

function localLabel(modelPath: string, mmprojPath: string): string {
  const mmproj = dirname(mmprojPath) === dirname(modelPath) ? basename(mmprojPath) : mmprojPath
  return `${modelPath} + ${mmproj}`
}

// ─── Hub ────────────────────────────────────────────────────────────────────

interface HubTarget {
  repo: string
  /** A quant, or an exact file name ending in .gguf. */
  tag?: string | undefined
  /** Known file names (the default model): no listing needed to know what to fetch. */
  exact?: { model: string; mmproj: string }
  /** For the not-found message of specs like `models/qwen` that were meant as a path. */
  localPathTried?: string
}

interface WantedFile {
  path: string
  url: string
  dest: string
  hubFile: HubFile | undefined
}

async function resolveFromHub(hub: Hub, target: HubTarget, localMmproj: string | undefined, options: ResolveModelOptions): Promise<ResolvedModel> {
  const { repo } = target
  const repoDir = repoCacheDir(options.cacheDir, hub.source, repo)
  const selectionKey = target.exact ? `=${target.exact.model}` : (target.tag ?? '')
  const spec = target.tag ? `${repo}:${target.tag}` : repo
  const wantedFor = (path: string, hubFile?: HubFile): WantedFile => ({
    path,
    url: hub.fileUrl(repo, path),
    dest: cachedFilePath(options.cacheDir, hub.source, repo, path),
    hubFile,
  })
  const result = (modelFiles: string[], mmproj: string | undefined): ResolvedModel => {
    const modelPath = wantedFor(modelFiles[0]!).dest
    const mmprojPath = localMmproj ?? wantedFor(mmproj!).dest
    const files = [modelFiles[0]!, localMmproj ?? mmproj!].map((p) => basename(p)).join(' + ')
    return { modelPath, mmprojPath, label: `${spec} from ${hub.displayName} (${files})` }
  }

  // 1. Already in the cache: no network at all.
  const remembered = target.exact ? { model: [target.exact.model], mmproj: target.exact.mmproj } : await readCachedSelection(repoDir, selectionKey)
  const placedByHand = remembered ? undefined : await chooseFromCache(repoDir, target.tag)
  for (const selection of [remembered, placedByHand]) {
    if (!selection) continue
    const needed = [...selection.model, ...(localMmproj ? [] : selection.mmproj ? [selection.mmproj] : [])]
    if ((localMmproj || selection.mmproj) && (await allFilesExist(needed.map((p) => wantedFor(p).dest)))) {
      return result(selection.model, selection.mmproj)
    }
  }

  // 2. Ask the hub what the repository holds.
  const unavailable = (headline: string, wanted: WantedFile[] | undefined, cause?: unknown) =>
    new ModelUnavailableError(offlineGuidance(headline, hub, target, repoDir, wanted), { cause })
  const knownWanted = target.exact ? [wantedFor(target.exact.model), ...(localMmproj ? [] : [wantedFor(target.exact.mmproj)])] : undefined
  if (isTruthy((options.env ?? process.env).HF_HUB_OFFLINE)) {
    throw unavailable(`HF_HUB_OFFLINE is set and ${spec} is not in the cache (${repoDir}).`, knownWanted)
  }
  let listing: HubFile[]
  try {
    listing = await hub.listFiles(repo, { fetch: options.fetch ?? globalThis.fetch, signal: options.signal })
  } catch (error) {
    if (error instanceof HubUnreachableError) throw unavailable(error.message, knownWanted, error)
    if (error instanceof ModelNotFoundError && target.localPathTried) {
      throw new ModelNotFoundError(`${error.message}\n(--model ${target.tag ? spec : repo} is not a local file or folder either: ${target.localPathTried})`, {
        cause: error,
      })
    }
    throw error
  }
  const byPath = new Map(listing.map((f) => [f.path, f]))
  const ggufPaths = listing.map((f) => f.path).filter(isGguf)
  const where = `${hub.displayName} repository ${repo}`

  // 3. Choose the files.
  let modelFiles: string[]
  let mmproj: string | undefined
  if (target.exact) {
    for (const path of [target.exact.model, ...(localMmproj ? [] : [target.exact.mmproj])]) {
      if (!byPath.has(path)) {
        throw new ModelNotFoundError(`${where} no longer lists ${path}. Its GGUF files are:\n${ggufPaths.map((p) => `  ${p}`).join('\n')}`)
      }
    }
    modelFiles = [target.exact.model]
    mmproj = target.exact.mmproj
  } else {
    const candidate = chooseModel(ggufPaths, {
      tag: target.tag,
      preferDefaultQuant: true,
      where,
      howToPick: `--model ${repo}:QUANT (or ${repo}:<file name>.gguf)`,
    })
    assertComplete(candidate, where)
    modelFiles = candidate.files
    mmproj = chooseMmproj(ggufPaths, where)
    if (!mmproj && !localMmproj) {
      throw new ModelNotFoundError(`${where} has no mmproj*.gguf file, and Visto needs one to read images. Pass it with --mmproj /path/to/mmproj.gguf.`)
    }
  }

  // 4. Fetch what is missing, then remember the choice.
  const wanted = [...modelFiles, ...(localMmproj ? [] : [mmproj!])].map((p) => wantedFor(p, byPath.get(p)))
  for (const file of wanted) {
    try {
      await downloadFile({
        url: file.url,
        dest: file.dest,
        file: file.path,
        expectedSize: file.hubFile?.size,
        sha256: file.hubFile?.sha256,
        authorization: hub.authorization,
        authHint: hub.authHint,
        fetch: options.fetch ?? globalThis.fetch,
        onProgress: options.onProgress,
        signal: options.signal,
        ...(options.retries === undefined ? {} : { retries: options.retries }),
        ...(options.retryDelayMs === undefined ? {} : { retryDelayMs: options.retryDelayMs }),
      })
    } catch (error) {
      if (error instanceof ModelUnavailableError) throw unavailable(error.message, wanted, error)
      throw error
    }
  }
  await writeCachedSelection(repoDir, selectionKey, { model: modelFiles, mmproj }).catch(() => undefined)
  return result(modelFiles, mmproj)
}

/** Files a person copied into the repository's cache folder, chosen as the hub choice would be. */
async function chooseFromCache(repoDir: string, tag: string | undefined): Promise<{ model: string[]; mmproj: string | undefined } | undefined> {
  const paths = await listGgufRecursively(repoDir)
  if (paths.length === 0) return undefined
  try {
    const candidate = chooseModel(paths, { tag: tag ?? DEFAULT_QUANT, preferDefaultQuant: true, where: repoDir, howToPick: '' })
    if (!isComplete(candidate)) return undefined
    return { model: candidate.files, mmproj: chooseMmproj(paths, repoDir) }
  } catch {
    return undefined
  }
}

async function listGgufRecursively(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isFile() && isGguf(entry.name))
    .map((entry) =>
      relative(root, join(entry.parentPath ?? entry.path, entry.name))
        .split(sep)
        .join('/'),
    )
    .sort()
}

function offlineGuidance(headline: string, hub: Hub, target: HubTarget, repoDir: string, wanted: WantedFile[] | undefined): string {
  const lines = [headline, '']
  if (wanted && wanted.length > 0) {
    lines.push(`Visto needs these files from ${hub.displayName} (${target.repo}):`)
    for (const file of wanted) {
      lines.push(`  ${file.path}`, `    download: ${file.url}`, `    save as:  ${file.dest}`)
    }
    lines.push('Download them where the network allows and copy them to exactly those paths; Visto then starts offline.')
  } else {
    const what = target.tag && isGguf(target.tag) ? target.tag : `the ${target.tag ?? DEFAULT_QUANT} .gguf file`
    lines.push(
      `Visto needs ${what} and the mmproj*.gguf file (F16 preferred) of ${target.repo},`,
      `listed at ${hub.repoUrl(target.repo)} (API: ${hub.listingUrl(target.repo)}).`,
      `Download them where the network allows and copy them into ${repoDir}${sep}, keeping their file names.`,
    )
  }
  lines.push('Or point Visto at files you already have:', '  visto serve --model /path/to/model.gguf --mmproj /path/to/mmproj.gguf')
  lines.push(
    hub.source === 'huggingface'
      ? `If ${hub.endpoint} is blocked where you are, set HF_ENDPOINT to a mirror (for example https://hf-mirror.com) or use --source modelscope.`
      : 'If ModelScope is unreachable, try --source huggingface (HF_ENDPOINT selects a mirror).',
  )
  return lines.join('\n')
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim())
}
