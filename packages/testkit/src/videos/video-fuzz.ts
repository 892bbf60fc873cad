import { createRandom } from '../images/image-fuzz.js'

/**
 * Hostile-video generator for the fuzz test and scripts/fuzz-images.js: each case is a
 * seed clip (made by ffmpeg) mutated the ways real damage and deliberate attacks look:
 * cut-off files, flipped bytes, spliced clips, lying box sizes and durations, frame
 * sizes that claim gigapixels, mislabelled data. Deterministic per seed and case
 * number, so a failure can be replayed.
 */
export interface VideoFuzzCase {
  label: string
  /** The `video_url.url` to send. */
  url: string
}

type Mutation = (bytes: Buffer, random: () => number, seeds: readonly Buffer[]) => { label: string; bytes: Buffer; mime?: string }

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

const absurd32 = [0, 1, 0x7fffffff, 0xffffffff, 0x10000, 0xfffffff0]

/** Offsets of a box/atom's four-character type (ISO BMFF) in the file. */
function boxes(bytes: Buffer, type: string): number[] {
  const found: number[] = []
  for (let at = bytes.indexOf(type); at >= 4; at = bytes.indexOf(type, at + 1)) found.push(at)
  return found
}

function patch32(bytes: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(bytes)
  if (offset >= 0 && offset + 4 <= copy.length) copy.writeUInt32BE(value >>> 0, offset)
  return copy
}

const mutations: Mutation[] = [
  (bytes, random) => {
    const at = Math.floor(random() * bytes.length)
    return { label: `truncate at ${at} of ${bytes.length}`, bytes: bytes.subarray(0, at) }
  },
  (bytes, random) => {
    const copy = Buffer.from(bytes)
    const count = 1 + Math.floor(random() * 40)
    for (let i = 0; i < count; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256)
    return { label: `flip ${count} bytes`, bytes: copy }
  },
  (bytes, random, seeds) => {
    const other = pick(random, seeds)
    const at = Math.floor(random() * bytes.length)
    const from = Math.floor(random() * other.length)
    return { label: `splice at ${at}`, bytes: Buffer.concat([bytes.subarray(0, at), other.subarray(from, from + Math.floor(random() * 8192))]) }
  },
  (bytes, random) => {
    // A box claims a size it does not have: 0, 1 (64-bit size follows), or gigabytes.
    const type = pick(random, ['moov', 'trak', 'mdia', 'stbl', 'stsz', 'stco', 'mdat', 'avcC'])
    const at = pick(random, boxes(bytes, type).concat([-1]))
    const value = pick(random, absurd32)
    return { label: `${type} size ${value}`, bytes: at < 0 ? bytes : patch32(bytes, at - 4, value) }
  },
  (bytes, random) => {
    // Durations and timescales: hours declared, or zero.
    const type = pick(random, ['mvhd', 'mdhd', 'tkhd'])
    const at = pick(random, boxes(bytes, type).concat([-1]))
    const field = pick(random, [16, 20])
    const value = pick(random, absurd32)
    return { label: `${type}+${field} = ${value}`, bytes: at < 0 ? bytes : patch32(bytes, at + 4 + field, value) }
  },
  (bytes, random) => {
    // Sample tables that point past the end or count billions of samples.
    const type = pick(random, ['stsz', 'stco', 'stts', 'stsc', 'stss'])
    const at = pick(random, boxes(bytes, type).concat([-1]))
    const value = pick(random, absurd32)
    return { label: `${type} count ${value}`, bytes: at < 0 ? bytes : patch32(bytes, at + 8, value) }
  },
  (bytes, random) => {
    // The sample entry's frame size: 65535x65535.
    const at = pick(random, [...boxes(bytes, 'avc1'), ...boxes(bytes, 'vp09'), -1])
    if (at < 0) return { label: 'no sample entry', bytes }
    const copy = Buffer.from(bytes)
    if (at + 4 + 28 <= copy.length) {
      copy.writeUInt16BE(0xffff, at + 4 + 24)
      copy.writeUInt16BE(0xffff, at + 4 + 26)
    }
    return { label: 'sample entry 65535x65535', bytes: copy }
  },
  (bytes, random) => {
    // Zero a run: lost sectors in the middle of the stream.
    const copy = Buffer.from(bytes)
    const at = Math.floor(random() * copy.length)
    const length = Math.floor(random() * 4096)
    copy.fill(0, at, at + length)
    return { label: `zero ${length} bytes at ${at}`, bytes: copy }
  },
  (bytes, random) => {
    // A valid-looking header, then junk.
    const keep = Math.min(bytes.length, 32 + Math.floor(random() * 256))
    const junk = Buffer.alloc(Math.floor(random() * 16384))
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256)
    return { label: `header of ${keep} bytes then junk`, bytes: Buffer.concat([bytes.subarray(0, keep), junk]) }
  },
  (bytes, random) => {
    // Mislabelled: text, a JPEG's start, or nothing, sent as video/mp4.
    const body = pick(random, [Buffer.from('<html><body>not a video</body></html>'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46]), Buffer.alloc(0), bytes.subarray(8)])
    return { label: `mislabelled ${body.length} bytes`, bytes: body, mime: 'video/mp4' }
  },
  (bytes) => ({ label: 'untouched', bytes }),
]

export function videoFuzzCase(seeds: readonly { name: string; bytes: Buffer; mime: string }[], index: number, seed: number): VideoFuzzCase {
  const random = createRandom(seed * 104_729 + index)
  const base = pick(random, seeds)
  const mutation = pick(random, mutations)
  const result = mutation(
    base.bytes,
    random,
    seeds.map((s) => s.bytes),
  )
  return { label: `${base.name}: ${result.label}`, url: `data:${result.mime ?? base.mime};base64,${result.bytes.toString('base64')}` }
}

/** What a fuzzed request may answer: a usable answer, or a 400/413 in the OpenAI envelope. Anything else is a violation. */
export function isAllowedVideoStatus(status: number): boolean {
  return status === 200 || status === 400 || status === 413
}
