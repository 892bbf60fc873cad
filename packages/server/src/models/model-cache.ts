import { readdir, rm, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'

import { repoCacheDir } from './cache-dir.js'
import { isGguf, isMmproj, matchesQuant } from './gguf-file-choice.js'
import type { HubSourceName } from './hub.js'
import { ModelNotFoundError } from './model-errors.js'

/**
 * What `visto models list` and `visto models rm` see: the hub repositories in the cache
 * (`<cache>/models/<source>/<owner>/<repo>`, as resolve.ts lays them out), their GGUF
 * files with sizes, and downloads that stopped part-way (`<file>.part`, resumed by the
 * next pull). Models outside the cache (`--model /path/x.gguf`) are the user's own files
 * and never listed or removed.
 */
export interface CachedFile {
  /** The path inside the repository, `/`-separated (`Q4_K_M/x.gguf`). */
  path: string
  bytes: number
  /** True for a `.part` file: a download that will resume. */
  partial: boolean
}

export interface CachedRepo {
  source: HubSourceName
  repo: string
  dir: string
  files: CachedFile[]
  /** All files together, partial ones included: what removing the repository frees. */
  bytes: number
}

const SOURCES: readonly HubSourceName[] = ['huggingface', 'modelscope']
const PART = '.part'

export async function listCachedModels(cacheDir: string): Promise<CachedRepo[]> {
  const repos: CachedRepo[] = []
  for (const source of SOURCES) {
    const sourceDir = join(cacheDir, 'models', source)
    for (const owner of await subfolders(sourceDir)) {
      for (const name of await subfolders(join(sourceDir, owner))) {
        const repo = `${owner}/${name}`
        const dir = repoCacheDir(cacheDir, source, repo)
        const files = await ggufFilesUnder(dir)
        if (files.length === 0) continue
        repos.push({ source, repo, dir, files, bytes: files.reduce((sum, file) => sum + file.bytes, 0) })
      }
    }
  }
  return repos
}

export interface RemovedFiles {
  dir: string
  /** Repository paths removed; every file when the whole repository went. */
  files: string[]
  bytes: number
}

/**
 * Removes a repository from the cache (`owner/repo`), one file of it (`owner/repo:x.gguf`)
 * or a quant's model files (`owner/repo:Q8_0`, its mmproj kept). Throws ModelNotFoundError,
 * naming what is cached, when nothing matches.
 */
export async function removeCachedModel(cacheDir: string, spec: string, source: HubSourceName = 'huggingface'): Promise<RemovedFiles> {
  const match = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)(?::([^:\s]+))?$/.exec(spec.trim())
  if (!match) throw new ModelNotFoundError(`"${spec}" is not a cached model spec: expected owner/repo, owner/repo:QUANT or owner/repo:file.gguf.`)
  const [, owner, name, tag] = match
  const repo = `${owner}/${name}`
  const cached = (await listCachedModels(cacheDir)).find((entry) => entry.source === source && entry.repo === repo)
  if (!cached) {
    const others = (await listCachedModels(cacheDir)).map((entry) => `  ${entry.repo} (${entry.source})`)
    throw new ModelNotFoundError(
      `${repo} from ${source} is not in the cache (${join(cacheDir, 'models')}).${others.length > 0 ? ` Cached:\n${others.join('\n')}` : ' Nothing is cached.'}`,
    )
  }
  if (!tag) {
    await rm(cached.dir, { recursive: true, force: true })
    return { dir: cached.dir, files: cached.files.map((file) => file.path), bytes: cached.bytes }
  }
  const chosen = cached.files.filter((file) => {
    const path = withoutPart(file)
    return isGguf(tag) ? path === tag : !isMmproj(path) && matchesQuant(path, tag)
  })
  if (chosen.length === 0) {
    throw new ModelNotFoundError(`${repo} has no cached file matching "${tag}". Its cached files:\n${cached.files.map((file) => `  ${file.path}`).join('\n')}`)
  }
  for (const file of chosen) {
    const path = join(cached.dir, ...file.path.split('/'))
    await rm(path, { force: true })
    // A download lock left by a process that died goes with its file.
    await rm(`${path.endsWith(PART) ? path.slice(0, -PART.length) : path}.lock`, { recursive: true, force: true })
  }
  return { dir: cached.dir, files: chosen.map((file) => file.path), bytes: chosen.reduce((sum, file) => sum + file.bytes, 0) }
}

function withoutPart(file: CachedFile): string {
  return file.partial ? file.path.slice(0, -PART.length) : file.path
}

async function subfolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
}

async function ggufFilesUnder(dir: string): Promise<CachedFile[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  const files: CachedFile[] = []
  for (const entry of entries) {
    const partial = entry.name.endsWith(PART)
    if (!entry.isFile() || !isGguf(partial ? entry.name.slice(0, -PART.length) : entry.name)) continue
    const full = join(entry.parentPath ?? entry.path, entry.name)
    const info = await stat(full).catch(() => undefined)
    if (!info) continue
    files.push({ path: relative(dir, full).split(sep).join('/'), bytes: info.size, partial })
  }
  return files.sort((a, b) => a.path.localeCompare(b.path))
}
