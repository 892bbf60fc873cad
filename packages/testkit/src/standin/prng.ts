/**
 * Deterministic random numbers for stand-in weights: sfc32 (a small, fast generator that
 * passes PractRand), seeded per tensor from the user's seed and the tensor's name, so a
 * tensor's values do not depend on generation order or chunk size.
 */

export class Sfc32 {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number, stream: string) {
    const h = fnv1a(`${seed >>> 0}\u0000${stream}`)
    this.a = splitmix32(h)
    this.b = splitmix32(this.a ^ 0x9e3779b9)
    this.c = splitmix32(this.b ^ 0x85ebca6b)
    this.d = 1
    for (let i = 0; i < 12; i++) this.nextUint32() // let the seeding settle
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Fills `out` with values uniform in [-scale, scale). */
  fillUniform(out: Float32Array, scale: number): void {
    const k = (2 * scale) / 2 ** 32
    for (let i = 0; i < out.length; i++) out[i] = this.nextUint32() * k - scale
  }
}

/** 32-bit FNV-1a over the UTF-16 code units of `s`. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}
