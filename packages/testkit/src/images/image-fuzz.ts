/**
 * Hostile-input generator shared by the server's pipeline fuzz test (a few thousand
 * cases in `npm test`) and scripts/fuzz-images.js (as many as you like). Deterministic
 * for a given seed, so a failure can be replayed with the same seed and case number.
 */
export interface FuzzSeed {
  name: string
  format: string
  bytes: Buffer
}

export interface FuzzCase {
  /** What the case did, for replaying a failure. */
  label: string
  /** The `image_url.url` sent. */
  url: string
}

/** xorshift32: small, fast, and the same everywhere. */
export function createRandom(seed: number): () => number {
  // Mix the seed first (murmur3's finaliser): raw xorshift starts near zero for small seeds.
  let state = seed >>> 0
  state = Math.imul(state ^ (state >>> 16), 0x85ebca6b) >>> 0
  state = Math.imul(state ^ (state >>> 13), 0xc2b2ae35) >>> 0
  state = (state ^ (state >>> 16)) >>> 0 || 0x9e3779b9
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 0x100000000
  }
}

const magicNumbers: Array<[string, number[]]> = [
  ['jpeg', [0xff, 0xd8, 0xff]],
  ['jpeg-sof', [0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03]],
  ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]],
  ['gif', [...Buffer.from('GIF89a')]],
  ['webp', [...Buffer.from('RIFF'), 0xff, 0xff, 0xff, 0x7f, ...Buffer.from('WEBPVP8 ')]],
  ['webp-lossless', [...Buffer.from('RIFF'), 0, 0, 0, 0, ...Buffer.from('WEBPVP8L')]],
  ['tiff-le', [0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]],
  ['tiff-be', [0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8]],
  ['bmp', [0x42, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0]],
  ['avif', [0, 0, 0, 0x1c, ...Buffer.from('ftypavif'), 0, 0, 0, 0, ...Buffer.from('avifmif1miaf')]],
  ['heic', [0, 0, 0, 0x18, ...Buffer.from('ftypheic'), 0, 0, 0, 0, ...Buffer.from('mif1heic')]],
  ['svg', [...Buffer.from('<svg xmlns="http://www.w3.org/2000/svg">')]],
  ['pdf', [...Buffer.from('%PDF-1.7\n')]],
]

const mimeLabels = ['image/jpeg', 'image/png', 'image/bmp', 'image/webp', 'image/gif', 'application/octet-stream', 'text/plain', 'image/svg+xml', '', 'IMAGE/JPEG']

function randomBytes(random: () => number, length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256)
  return bytes
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

/** Wraps bytes the way clients do: a data URL with a random label, sometimes bare or line-wrapped. */
function wrap(random: () => number, bytes: Buffer): { url: string; how: string } {
  const roll = random()
  const base64 = bytes.toString('base64')
  if (roll < 0.6) {
    const mime = pick(random, mimeLabels)
    return { url: `data:${mime};base64,${base64}`, how: `data:${mime}` }
  }
  if (roll < 0.75) return { url: base64, how: 'bare base64' }
  if (roll < 0.9) return { url: `data:image/jpeg;base64,${base64.replace(/.{76}/g, '$&\n')}`, how: 'wrapped base64' }
  return { url: `data:image/png;base64,${bytes.toString('base64url')}`, how: 'base64url' }
}

/** Rewrites the width/height fields a format keeps in its header to `value`. */
function lieAboutDimensions(seed: FuzzSeed, width: number, height: number): Buffer | null {
  const bytes = Buffer.from(seed.bytes)
  switch (seed.format) {
    case 'png':
      if (bytes.length < 24) return null
      bytes.writeUInt32BE(width >>> 0, 16)
      bytes.writeUInt32BE(height >>> 0, 20)
      return bytes
    case 'gif':
      bytes.writeUInt16LE(width & 0xffff, 6)
      bytes.writeUInt16LE(height & 0xffff, 8)
      return bytes
    case 'bmp':
      bytes.writeInt32LE(width | 0, 18)
      bytes.writeInt32LE(height | 0, 22)
      return bytes
    case 'jpeg': {
      for (let i = 2; i + 9 < bytes.length; i++) {
        if (bytes[i] === 0xff && (bytes[i + 1] === 0xc0 || bytes[i + 1] === 0xc2)) {
          bytes.writeUInt16BE(height & 0xffff, i + 5)
          bytes.writeUInt16BE(width & 0xffff, i + 7)
          return bytes
        }
      }
      return null
    }
    case 'webp': {
      // VP8X canvas size (24-bit, minus one) or the VP8 frame header.
      if (bytes.toString('latin1', 12, 16) === 'VP8X' && bytes.length >= 30) {
        bytes.writeUIntLE(Math.max(0, (width - 1) & 0xffffff), 24, 3)
        bytes.writeUIntLE(Math.max(0, (height - 1) & 0xffffff), 27, 3)
        return bytes
      }
      if (bytes.toString('latin1', 12, 16) === 'VP8 ' && bytes.length >= 30) {
        bytes.writeUInt16LE(width & 0x3fff, 26)
        bytes.writeUInt16LE(height & 0x3fff, 28)
        return bytes
      }
      return null
    }
    default:
      return null
  }
}

const liedSizes: Array<[number, number]> = [
  [0, 0],
  [1, 0],
  [65535, 65535],
  [100_000, 100_000],
  [0x7fffffff, 1],
  [1, 0x7fffffff],
  [50_000, 3],
  [-5, -5],
  [0x3fff, 0x3fff],
  [16384, 16384],
]

/** The `index`-th case: kinds rotate so any count covers all of them. */
export function fuzzCase(seeds: readonly FuzzSeed[], index: number, seed: number): FuzzCase {
  const random = createRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0)
  const kind = index % 8
  const base = seeds[Math.floor(random() * seeds.length)]!
  switch (kind) {
    case 0: {
      const [name, magic] = pick(random, magicNumbers)
      const tail = randomBytes(random, Math.floor(random() * 600))
      const { url, how } = wrap(random, Buffer.concat([Buffer.from(magic), tail]))
      return { label: `random bytes behind ${name} magic (${tail.length} bytes, ${how})`, url }
    }
    case 1:
    case 2: {
      const offset = random() < 0.5 ? Math.floor(random() * Math.min(base.bytes.length, 96)) : Math.floor(random() * base.bytes.length)
      const { url, how } = wrap(random, base.bytes.subarray(0, offset))
      return { label: `${base.name} truncated at ${offset}/${base.bytes.length} (${how})`, url }
    }
    case 3: {
      const bytes = Buffer.from(base.bytes)
      const flips = 1 + Math.floor(random() * 8)
      for (let i = 0; i < flips; i++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      const { url, how } = wrap(random, bytes)
      return { label: `${base.name} with ${flips} random bytes changed (${how})`, url }
    }
    case 4: {
      const [width, height] = pick(random, liedSizes)
      const lied = lieAboutDimensions(base, width, height)
      if (lied === null) return fuzzCase(seeds, index + 8, seed)
      const { url, how } = wrap(random, lied)
      return { label: `${base.name} whose header claims ${width}x${height} (${how})`, url }
    }
    case 5: {
      const { url, how } = wrap(random, base.bytes)
      return { label: `intact ${base.name} (${how})`, url }
    }
    case 6: {
      // Splice: the head of one file onto the tail of another.
      const other = seeds[Math.floor(random() * seeds.length)]!
      const cut = Math.floor(random() * base.bytes.length)
      const { url, how } = wrap(random, Buffer.concat([base.bytes.subarray(0, cut), other.bytes.subarray(Math.floor(random() * other.bytes.length))]))
      return { label: `${base.name} head spliced onto ${other.name} tail (${how})`, url }
    }
    default: {
      const shapes = [
        () => `data:image/png;base64,${randomBytes(random, 40).toString('latin1')}`,
        () =>
          `data:;base64,${randomBytes(random, 30)
            .toString('base64')
            .slice(0, 1 + Math.floor(random() * 39))}`,
        () => `data:image/jpeg;base64,${'='.repeat(1 + Math.floor(random() * 4))}`,
        () => `data:image/jpeg,${encodeURIComponent(randomBytes(random, 50).toString('latin1'))}`,
        () => randomBytes(random, 80).toString('latin1'),
        () => `${pick(random, ['javascript', 'ftp', 'file', 'blob', 'gopher'])}:${randomBytes(random, 10).toString('hex')}`,
        () =>
          `data:image/png;base64,${randomBytes(random, 60)
            .toString('base64')
            .replace(/[A-Z]/g, () => pick(random, ['%', '!', ' ', '\u00e9', '.']))}`,
      ]
      return { label: `malformed image URL shape`, url: pick(random, shapes)() }
    }
  }
}

export type FuzzOutcome = { kind: 'accepted' } | { kind: 'refused'; status: number; code: string | null } | { kind: 'violation'; reason: string }

/** The parts of the server's ApiError the verdict reads; the class is passed in so this package never imports the server. */
export type ApiErrorClass = abstract new (...args: never[]) => Error & { status: number; code: string | null }

/**
 * Every failure must be a client error an OpenAI client can print: an `apiError` (the
 * server's ApiError class) with status 400 or 413 whose message starts "Invalid image
 * data" or names a limit. Anything else would reach the client as a 500.
 */
export function classifyFailure(error: unknown, apiError: ApiErrorClass): FuzzOutcome {
  if (!(error instanceof apiError)) {
    const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return { kind: 'violation', reason: `not an ApiError: ${name}` }
  }
  if (error.status !== 400 && error.status !== 413) return { kind: 'violation', reason: `status ${error.status}: ${error.message}` }
  if (!/^(Invalid image data in |Image too large in )/.test(error.message)) return { kind: 'violation', reason: `message: ${error.message}` }
  return { kind: 'refused', status: error.status, code: error.code }
}

/** A success must look like what the engine expects: aligned, within budget, our own encoding. */
export function checkAccepted(image: { width: number; height: number; data: Buffer; mime: string }, alignTo: number, maxBudget: number): FuzzOutcome {
  if (image.width % alignTo !== 0 || image.height % alignTo !== 0) return { kind: 'violation', reason: `unaligned output ${image.width}x${image.height}` }
  if (image.width * image.height > Math.max(maxBudget, alignTo * alignTo)) return { kind: 'violation', reason: `output ${image.width}x${image.height} over budget` }
  if (image.data.length === 0) return { kind: 'violation', reason: 'empty output' }
  return { kind: 'accepted' }
}
