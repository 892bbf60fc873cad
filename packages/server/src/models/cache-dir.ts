import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'

import type { HubSourceName } from './hub.js'

/**
 * Where Visto keeps downloaded models and the engine build: `VISTO_CACHE` if set, else
 * `$XDG_CACHE_HOME/visto`, else `~/.cache/visto` (the layout Hugging Face and pip use, so
 * users already know where to look and what to clean).
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.VISTO_CACHE?.trim()
  if (explicit) return resolve(expandHome(explicit, env))
  const xdg = env.XDG_CACHE_HOME?.trim()
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'visto')
  return join(homeDir(env), '.cache', 'visto')
}

/** The directory holding one hub repository's files: `<cache>/models/<source>/<owner>/<repo>`. */
export function repoCacheDir(cacheDir: string, source: HubSourceName, repo: string): string {
  return join(cacheDir, 'models', source, ...repo.split('/'))
}

/** The final path of one hub file; hub paths may contain folders (`Q4_K_M/x.gguf`). */
export function cachedFilePath(cacheDir: string, source: HubSourceName, repo: string, file: string): string {
  return join(repoCacheDir(cacheDir, source, repo), ...file.split('/'))
}

/** `~` and `~/x` as a shell would expand them; other paths unchanged. */
export function expandHome(path: string, env: NodeJS.ProcessEnv = process.env): string {
  if (path === '~') return homeDir(env)
  if (path.startsWith('~/')) return join(homeDir(env), path.slice(2))
  return path
}

function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME?.trim() || homedir()
}
