import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/** Follows the static imports of a source module, as a browser bundler would. */
function staticGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  const visit = (file: string) => {
    if (graph.has(file)) return
    const source = readFileSync(file, 'utf8')
    const specifiers = [...source.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]!)
    const bare = [...source.matchAll(/^\s*import\s+'([^']+)'/gm)].map((m) => m[1]!)
    const all = [...specifiers, ...bare]
    graph.set(file, all)
    for (const specifier of all) if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
  }
  visit(entry)
  return graph
}

describe('the browser entry', () => {
  it('never statically imports a Node built-in or the node/ modules', () => {
    const graph = staticGraph(join(import.meta.dirname, '..', 'src', 'index.ts'))
    expect(graph.size).toBeGreaterThan(10)
    const offenders = [...graph].flatMap(([file, specifiers]) =>
      specifiers.filter((s) => s.startsWith('node:') || s.includes('/node/') || s === './node.js').map((s) => `${file} → ${s}`),
    )
    expect(offenders).toEqual([])
  })

  it('depends on nothing but @visto/protocol', () => {
    const graph = staticGraph(join(import.meta.dirname, '..', 'src', 'index.ts'))
    const packages = new Set([...graph.values()].flat().filter((s) => !s.startsWith('.')))
    expect([...packages]).toEqual(['@visto/protocol'])
  })
})
