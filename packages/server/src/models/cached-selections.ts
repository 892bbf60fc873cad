import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What a hub spec resolved to last time: hub paths of the model file(s) and the mmproj. */
export interface CachedSelection {
  model: string[]
  mmproj: string | undefined
}

const MANIFEST = 'visto-selections.json'

/**
 * Remembers, per repository folder in the cache, which files each spec (`:Q4_K_M`, no
 * tag, …) picked, so a later start resolves the same spec without asking the hub: the
 * choice for a bare `owner/repo` depends on the repository's listing, which we do not
 * want to need once the files are on disk.
 */
export async function readCachedSelection(repoDir: string, key: string): Promise<CachedSelection | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(repoDir, MANIFEST), 'utf8')) as Record<string, CachedSelection>
    const entry = manifest[key]
    if (!entry || !Array.isArray(entry.model) || entry.model.length === 0) return undefined
    return entry
  } catch {
    return undefined
  }
}

export async function writeCachedSelection(repoDir: string, key: string, selection: CachedSelection): Promise<void> {
  await mkdir(repoDir, { recursive: true })
  const path = join(repoDir, MANIFEST)
  let manifest: Record<string, CachedSelection> = {}
  try {
    manifest = JSON.parse(await readFile(path, 'utf8')) as Record<string, CachedSelection>
  } catch {
    // Missing or damaged: start afresh, it is only a shortcut.
  }
  manifest[key] = selection
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`)
  await rename(temporary, path)
}

export async function allFilesExist(paths: readonly string[]): Promise<boolean> {
  for (const path of paths) {
    try {
      if (!(await stat(path)).isFile()) return false
    } catch {
      return false
    }
  }
  return true
}
