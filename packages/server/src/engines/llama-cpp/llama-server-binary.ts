import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import { buildEngine, detectFlavor, findCachedBuild, type BuildOptions } from './engine-build.js'

export interface LocatedBinary {
  path: string
  origin: 'flag' | 'path' | 'cache' | 'built'
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first `name` on PATH that exists and answers `--version` (a broken install is skipped). */
function workingOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    if (isExecutable(candidate) && spawnSync(candidate, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0) return candidate
  }
  return undefined
}

/**
 * Which llama-server to run: an explicit `--llama-server`, else one on PATH (package
 * managers, Docker images), else Visto's own native build from the cache — building it
 * now if `build` is allowed (it is what `npm install` normally did already).
 */
export async function locateLlamaServer(options: {
  explicitPath?: string
  cacheDir: string
  env?: NodeJS.ProcessEnv
  build?: Omit<BuildOptions, 'cacheDir'> | false
}): Promise<LocatedBinary> {
  const env = options.env ?? process.env
  if (options.explicitPath) {
    if (!isExecutable(options.explicitPath)) {
      throw new Error(`--llama-server ${options.explicitPath} is not an executable file.`)
    }
    return { path: options.explicitPath, origin: 'flag' }
  }
  const fromPath = workingOnPath('llama-server', env)
  if (fromPath) return { path: fromPath, origin: 'path' }
  const flavor = detectFlavor()
  const cached = findCachedBuild(options.cacheDir, flavor)
  if (cached) return { path: cached.llamaServer, origin: 'cache' }
  if (options.build === false) {
    throw new Error(
      'No llama-server found: none given with --llama-server, none on PATH, and no cached build. ' +
        'Run `npx visto engine build` (needs git, cmake and a C++ compiler), or install llama.cpp and put llama-server on PATH.',
    )
  }
  const built = await buildEngine({ cacheDir: options.cacheDir, flavor, ...(options.build ?? {}) })
  return { path: built.llamaServer, origin: 'built' }
}
