/** Deterministic test weights: uniform in [-scale, scale) from a small LCG. */
export function seededUniform(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count)
  let state = seed >>> 0
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = (state / 2 ** 32) * 2 * scale - scale
  }
  return out
}
