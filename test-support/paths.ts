import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
/** The real `visto` binary (built dist), run as a user would. */
export const vistoBin = join(repoRoot, 'packages', 'cli', 'bin', 'visto.js')
/** Small committed images, one per format, for SDK and CLI tests that read files. */
export const fixturesDir = join(repoRoot, 'test-support', 'fixtures')
