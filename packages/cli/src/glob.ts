/**
 * A small glob for `visto batch 'photos/**\/*.jpg'` (Node 20 has no fs.glob): `*`, `?`,
 * `**`, `[abc]` and `{a,b}`. Enough for quoting-happy shells and Windows users.
 */
import { readdir } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'

const MAGIC = /[*?[{]/

export function hasMagic(pattern: string): boolean {
  return MAGIC.test(pattern)
}

function escape(ch: string): string {
  return /[\\^$.|+()[\]{}*?/]/.test(ch) ? `\\${ch}` : ch
}

/** Translates a glob (with `/` separators) to an anchored RegExp. */
export function globToRegExp(pattern: string): RegExp {
  let out = ''
  let braces = 0
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/'
        out += slash ? '(?:[^/]*/)*' : '.*'
        i += slash ? 2 : 1
      } else out += '[^/]*'
    } else if (ch === '?') out += '[^/]'
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1)
      if (end === -1) out += '\\['
      else {
        const body = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')
        out += `[${body}]`
        i = end
      }
    } else if (ch === '{') {
      braces++
      out += '(?:'
    } else if (ch === '}' && braces > 0) {
      braces--
      out += ')'
    } else if (ch === ',' && braces > 0) out += '|'
    else out += escape(ch)
  }
  return new RegExp(`^${out}$`)
}

async function* walk(dir: string, prefix: string, recursive: boolean): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) {
      if (recursive && !entry.name.startsWith('.')) yield* walk(join(dir, entry.name), relative, recursive)
    } else if (entry.isFile() || entry.isSymbolicLink()) yield relative
  }
}

/** Absolute paths of the files matching `pattern` (relative to `cwd` unless absolute), sorted. */
export async function glob(pattern: string, cwd = process.cwd()): Promise<string[]> {
  const normalised = pattern.split(sep).join('/')
  const segments = normalised.split('/')
  const firstMagic = segments.findIndex((segment) => hasMagic(segment))
  const baseSegments = firstMagic === -1 ? segments.slice(0, -1) : segments.slice(0, firstMagic)
  const rest = firstMagic === -1 ? segments.slice(-1) : segments.slice(firstMagic)
  const base = resolve(cwd, baseSegments.join('/') || (normalised.startsWith('/') ? '/' : '.'))
  const regex = globToRegExp(rest.join('/'))
  const recursive = rest.length > 1 || rest.some((segment) => segment.includes('**'))
  const matches: string[] = []
  for await (const relative of walk(base, '', recursive)) if (regex.test(relative)) matches.push(join(base, relative))
  return matches.sort()
}
