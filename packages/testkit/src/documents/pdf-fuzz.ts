import { createRandom, type ApiErrorClass } from '../images/image-fuzz.js'

/**
 * Hostile-PDF generator for the fuzz test: each case is a seed document mutated the ways
 * real damage and deliberate attacks look (flipped bytes, cut-off files, spliced
 * documents, absurd numbers, runaway nesting, lying page counts). Deterministic per seed
 * and case number, so a failure can be replayed.
 */
export interface PdfFuzzCase {
  label: string
  bytes: Buffer
}

type Mutation = (bytes: Buffer, random: () => number, seeds: readonly Buffer[]) => { label: string; bytes: Buffer }

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!

const absurdNumbers = ['0', '-1', '-612', '99999999999', '1e308', '3.4e38', 'NaN', '0.0000001', '2147483648', '4294967295', '9'.repeat(400)]

function replaceRandomMatch(bytes: Buffer, pattern: RegExp, random: () => number, replace: (match: string) => string): { bytes: Buffer; what: string } {
  const text = bytes.toString('latin1')
  const matches = [...text.matchAll(pattern)]
  if (matches.length === 0) return { bytes, what: 'no match' }
  const match = pick(random, matches)
  const replacement = replace(match[0])
  return {
    bytes: Buffer.from(text.slice(0, match.index) + replacement + text.slice(match.index! + match[0].length), 'latin1'),
    what: `${JSON.stringify(match[0].slice(0, 30))}->${JSON.stringify(replacement.slice(0, 30))}`,
  }
}

const mutations: Mutation[] = [
  (bytes, random) => {
    const copy = Buffer.from(bytes)
    const count = 1 + Math.floor(random() * 20)
    for (let i = 0; i < count; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256)
    return { label: `flip ${count} bytes`, bytes: copy }
  },
  (bytes, random) => {
    const at = Math.floor(random() * bytes.length)
    return { label: `truncate at ${at}`, bytes: bytes.subarray(0, at) }
  },
  (bytes, random, seeds) => {
    const other = pick(random, seeds)
    const at = Math.floor(random() * bytes.length)
    const from = Math.floor(random() * other.length)
    return { label: `splice at ${at}`, bytes: Buffer.concat([bytes.subarray(0, at), other.subarray(from, from + Math.floor(random() * 4096))]) }
  },
  (bytes, random) => {
    const changed = replaceRandomMatch(bytes, /-?\d+(\.\d+)?/g, random, () => pick(random, absurdNumbers))
    return { label: `number ${changed.what}`, bytes: changed.bytes }
  },
  (bytes, random) => {
    const changed = replaceRandomMatch(bytes, /\/Count \d+/g, random, () => `/Count ${pick(random, ['0', '-5', '100000000', '2147483647', '99999'])}`)
    return { label: `count ${changed.what}`, bytes: changed.bytes }
  },
  (bytes, random) => {
    const changed = replaceRandomMatch(bytes, /\/MediaBox \[[^\]]*\]/g, random, () => `/MediaBox [0 0 ${pick(random, absurdNumbers)} ${pick(random, absurdNumbers)}]`)
    return { label: `media box ${changed.what}`, bytes: changed.bytes }
  },
  (bytes, random) => {
    const depth = pick(random, [100, 1000, 20_000])
    const open = pick(random, ['[', '<<', '<< /A ', '[<< /K '])
    const changed = replaceRandomMatch(bytes, /\/Type \/Page\b/g, random, (m) => `${m} /Nest ${open.repeat(depth)}`)
    return { label: `nesting ${open} x${depth}`, bytes: changed.bytes }
  },
  (bytes, random) => {
    const changed = replaceRandomMatch(bytes, /\d+ 0 R/g, random, () => `${pick(random, ['1', '2', '0', '99999', '-1'])} 0 R`)
    return { label: `reference ${changed.what}`, bytes: changed.bytes }
  },
  (bytes, random) => {
    const at = bytes.lastIndexOf('xref')
    return { label: 'drop the xref table', bytes: at > 0 ? Buffer.concat([bytes.subarray(0, at), Buffer.from(random() < 0.5 ? '%%EOF\n' : '')]) : bytes }
  },
  (bytes, random) => {
    const changed = replaceRandomMatch(bytes, /\/Length \d+/g, random, () => `/Length ${pick(random, absurdNumbers)}`)
    return { label: `stream length ${changed.what}`, bytes: changed.bytes }
  },
]

export function pdfFuzzCase(seeds: readonly { name: string; bytes: Buffer }[], index: number, seed: number): PdfFuzzCase {
  const random = createRandom(seed * 7919 + index)
  const base = pick(random, seeds)
  let bytes = base.bytes
  const labels = [base.name]
  const rounds = 1 + Math.floor(random() * 3)
  for (let i = 0; i < rounds; i++) {
    const mutated = pick(random, mutations)(
      bytes,
      random,
      seeds.map((s) => s.bytes),
    )
    bytes = mutated.bytes
    labels.push(mutated.label)
  }
  return { label: labels.join(' / '), bytes }
}

export type PdfFuzzOutcome = { kind: 'accepted' } | { kind: 'refused' } | { kind: 'violation'; reason: string }

const refusalMessages = /^(Invalid file data in |File too large in |Too many PDF pages: |PDF pages over the token budget: )/

/** Only a 400/413 ApiError (the server's class, passed in) with one of the documented messages counts as a refusal. */
export function classifyPdfFailure(error: unknown, apiError: ApiErrorClass): PdfFuzzOutcome {
  if (!(error instanceof apiError)) return { kind: 'violation', reason: `not an ApiError: ${String(error instanceof Error ? error.stack : error).slice(0, 300)}` }
  if (error.status !== 400 && error.status !== 413) return { kind: 'violation', reason: `status ${error.status}: ${error.message}` }
  if (!refusalMessages.test(error.message)) return { kind: 'violation', reason: `unexpected message: ${error.message}` }
  return { kind: 'refused' }
}
