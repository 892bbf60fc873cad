import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

/**
 * llama.cpp's complete source ships inside the `node-llama-cpp` npm package as a git
 * bundle. We pin that package at exactly 3.21.1 (package.json): newer releases publish
 * platform binaries this workplace's registry mirror does not serve, so `npm ci`
 * refuses their lockfile, and the llama.cpp revision must stay fixed so the cached
 * engine build key stays valid. We never load its JS or its prebuilt binaries.
 */
export interface LlamaSource {
  bundlePath: string
  /** node-llama-cpp's version, which fixes the llama.cpp revision. */
  packageVersion: string
  /** llama.cpp release tag recorded by node-llama-cpp. */
  tag: string
}

export function locateLlamaSource(): LlamaSource {
  // Its "exports" hide package.json, so look through the node_modules folders ourselves.
  const candidates = createRequire(import.meta.url).resolve.paths('node-llama-cpp') ?? []
  const packageJsonPath = candidates.map((dir) => path.join(dir, 'node-llama-cpp', 'package.json')).find((file) => existsSync(file))
  if (!packageJsonPath) {
    throw new Error('The node-llama-cpp package (which carries the llama.cpp source) is not installed. Run `npm install`.')
  }
  const packageDir = path.dirname(packageJsonPath)
  const packageVersion = (JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { version: string }).version
  const bundlePath = path.join(packageDir, 'llama', 'gitRelease.bundle')
  if (!existsSync(bundlePath)) {
    throw new Error(`node-llama-cpp ${packageVersion} has no llama.cpp source bundle at ${bundlePath}.`)
  }
  let tag = 'unknown'
  try {
    tag = (JSON.parse(readFileSync(path.join(packageDir, 'llama', 'llama.cpp.info.json'), 'utf8')) as { tag: string }).tag
  } catch {
    // The tag is informational only.
  }
  return { bundlePath, packageVersion, tag }
}
