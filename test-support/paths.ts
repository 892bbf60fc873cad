import { mkdirSync, mkdtempSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
/** The real `visto` binary (built dist), run as a user would. */
export const vistoBin = join(repoRoot, 'packages', 'cli', 'bin', 'visto.js')
/** The real server started like `visto serve`, plus a batch failpoint that kills it (crash tests). */
export const serveWithFailpoint = join(repoRoot, 'test-support', 'serve-with-failpoint.js')
/** Small committed images, one per format, for SDK and CLI tests that read files. */
export const fixturesDir = join(repoRoot, 'test-support', 'fixtures')

/**
 * A fresh folder inside the repository (under node_modules/.cache, which git ignores), for
 * generated code that must resolve the repository's packages (`import OpenAI from 'openai'`).
 * The cache folder does not exist in a fresh clone until something writes there.
 */
export function scratchDirInRepo(prefix: string): string {
  const parent = join(repoRoot, 'node_modules', '.cache')
  mkdirSync(parent, { recursive: true })
  return mkdtempSync(join(parent, prefix))
}
