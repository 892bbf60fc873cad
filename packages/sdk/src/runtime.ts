/**
 * Node-only helpers are reached through this one door, by a specifier bundlers do not
 * follow, so a browser build never pulls in node:fs.
 */

export function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process
  return typeof proc?.versions?.node === 'string'
}

export type NodeHelpers = typeof import('./node/helpers.js')

let helpers: Promise<NodeHelpers> | undefined

export function loadNodeHelpers(feature: string): Promise<NodeHelpers> {
  if (!isNode()) return Promise.reject(new TypeError(`${feature} needs Node.js; in a browser pass bytes, a Blob or an explicit cache`))
  const specifier = './node/helpers.js'
  helpers ??= import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<NodeHelpers>
  return helpers
}
