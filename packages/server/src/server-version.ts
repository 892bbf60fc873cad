import { readFileSync } from 'node:fs'

/** This server's version, from its package.json (next to src/ and dist/ alike). */
export const serverVersion: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
