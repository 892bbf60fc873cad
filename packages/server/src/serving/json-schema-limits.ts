import { InvalidRequestError } from '../errors.js'
import { isJsonObject, type JsonObject } from './json-value.js'

/**
 * Refuses response_format schemas that llama.cpp's json-schema-to-grammar converter or
 * its GBNF parser are known to crash, hang or choke on, so they never reach the engine:
 *
 * - deep nesting (its converter and grammar parser recurse per level: stack exhaustion);
 * - a `pattern` with a quantifier that follows nothing (`^+a`, `(*x)`, `{2}`), which reads
 *   past an empty sequence in its regex converter, or deeply nested groups;
 * - repetition counts (minItems/maxItems, minLength/maxLength, `x{n,m}` in patterns)
 *   beyond what its grammar parser expands (it refuses about 2000; the expansion itself
 *   costs memory and time per count), negative or fractional ones (read as C ints), and a
 *   minimum above its maximum: the parser computes max - min unsigned, so `{5,2}` makes it
 *   generate rules until memory runs out;
 * - a `pattern` whose repetitions nest into more copies than the sampler can follow:
 *   `^(((a{0,20}){0,20}){0,20})$` (31 bytes) kept llama-server at 100 % CPU for over ten
 *   minutes, every other request waiting (see patternRepetitionCost);
 * - integer `minimum`/`maximum` bounds that are not exact integers (read as int64) or
 *   that leave no value;
 * - `$ref` that is not a local JSON pointer into the schema, or a chain of `$ref`s that
 *   loops back without any structure in between (a left-recursive rule).
 */
export const maxRepetitionCount = 1000
const maxPatternGroupDepth = 32
const maxPatternLength = 4096
/**
 * The most nested repetition copies a pattern may cost (patternRepetitionCost). Measured
 * on the real engine with a Qwen3-VL-sized vocabulary (docs/benchmarks.md): at 16 the
 * worst shapes add about 0.3 s to a request, at 25 about 1 s, at 32 about 2 s (the cost
 * grows with its cube). Real patterns (dates, codes, phone numbers, IPv4) cost 1 to 10.
 */
export const maxPatternRepetitionCost = 16

export interface SchemaLimits {
  maxDepth: number
  maxBytes: number
}

function refuse(message: string, param: string, code: string): never {
  throw new InvalidRequestError(message, { param, code })
}

/** Depth first, without recursion: a body of 100,000 nested arrays must not overflow our own stack. */
function schemaDepthExceeds(schema: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[schema, 1]]
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!
    if (typeof value !== 'object' || value === null) continue
    if (depth > maxDepth) return true
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

const repetitionPairs = [
  ['minItems', 'maxItems'],
  ['minLength', 'maxLength'],
] as const
const integerBounds = ['minimum', 'exclusiveMinimum', 'maximum', 'exclusiveMaximum'] as const

/** Why a regex `pattern` is refused, or null. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length > maxPatternLength) return `it is ${pattern.length} characters long, the limit is ${maxPatternLength}`
  let depth = 0
  // Whether the current sequence has an atom a quantifier could apply to.
  let hasAtom = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\') {
      i++
      hasAtom = true
    } else if (c === '[') {
      // A character class is one atom; skip to its closing bracket (a leading ] is literal).
      let j = i + 1
      if (pattern[j] === '^') j++
      if (pattern[j] === ']') j++
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1
      i = j
      hasAtom = true
    } else if (c === '(') {
      depth++
      if (depth > maxPatternGroupDepth) return `its groups nest more than ${maxPatternGroupDepth} deep`
      if (pattern[i + 1] === '?' && pattern[i + 2] === ':') i += 2
      hasAtom = false
    } else if (c === ')') {
      depth--
      hasAtom = true
    } else if (c === '|' || c === '^') {
      hasAtom = false
    } else if (c === '*' || c === '+' || c === '?') {
      if (!hasAtom) return `the quantifier "${c}" at offset ${i} follows nothing`
      // A lazy or possessive marker right after a quantifier is not a new quantifier.
      if (pattern[i + 1] === '?' || pattern[i + 1] === '+') i++
      hasAtom = false
    } else if (c === '{') {
      const match = /^\{(\d*)(,(\d*))?\}/.exec(pattern.slice(i, i + 32))
      if (match === null) {
        hasAtom = true
        continue
      }
      if (!hasAtom) return `the repetition "${match[0]}" at offset ${i} follows nothing`
      const counts = [match[1], match[3]].filter((n): n is string => n !== undefined && n !== '').map(Number)
      if (counts.some((n) => n > maxRepetitionCount)) return `the repetition "${match[0]}" exceeds ${maxRepetitionCount}`
      if (match[3] !== undefined && match[3] !== '' && Number(match[1] || 0) > Number(match[3])) {
        return `the repetition "${match[0]}" has its minimum above its maximum`
      }
      i += match[0].length - 1
      hasAtom = false
    } else {
      hasAtom = true
    }
  }
  const cost = patternRepetitionCost(pattern)
  if (cost > maxPatternRepetitionCost) {
    return `its repetitions nest into ${cost} copies in the engine's grammar, the limit is ${maxPatternRepetitionCost} (a repeated group that itself repeats multiplies the counts; use smaller counts, fewer nested repetitions, or maxLength)`
  }
  return null
}

/**
 * What a regex `pattern` costs the engine's grammar sampler, in repetition copies that
 * nest. llama.cpp's json-schema-to-grammar makes each group a rule and keeps `x{m,n}`
 * as written; its GBNF parser then writes `x` out m times followed by n - m nested
 * optional copies. When `x` is one character (or a class, or a group without
 * repetitions) that is a chain the sampler walks one position per character, cheap at
 * any count the converter accepts. When `x` holds a repetition itself, the copies nest:
 * after a few characters of `((a{0,20}){0,20}){0,20}` the text could be at almost any
 * of the 20 × 20 × 20 positions, the sampler keeps a parse stack for each and checks
 * every candidate token against all of them, for every token. So: a repetition whose
 * item repeats nothing counts once, one whose item repeats something multiplies it by
 * its largest count (`+` by 2, `*` and `?` by 1: they add one copy that loops), and
 * sequences and alternatives add up. The three nested `{0,20}` above cost 400.
 *
 * Measured on the real engine (docs/benchmarks.md), a request's time grows with about
 * the cube of this number, whatever the nesting depth. It overestimates repetitions
 * whose copies a delimiter keeps apart (`([a-z]+\\.){1,10}` costs 20 but stays cheap):
 * telling those apart needs an ambiguity analysis of the regex, and refusing is safe.
 * Call it on a pattern patternProblem's structural checks accepted.
 */
export function patternRepetitionCost(pattern: string): number {
  interface Group {
    /** The alternatives before the current one, added up. */
    alternatives: number
    /** The current alternative up to, not including, its last atom. */
    sequence: number
    /** The last atom, which a following quantifier applies to. */
    last: number
    /** Whether the last atom holds a repetition (so repeating it nests copies). */
    lastRepeats: boolean
    /** Whether anything in the group so far is repeated. */
    repeats: boolean
  }
  const newGroup = (): Group => ({ alternatives: 0, sequence: 0, last: 0, lastRepeats: false, repeats: false })
  const open: Group[] = []
  let group = newGroup()
  const atom = (cost: number, repeats: boolean): void => {
    group.sequence += group.last
    group.last = cost
    group.lastRepeats = repeats
    group.repeats ||= repeats
  }
  const repeat = (count: number): void => {
    if (group.lastRepeats) group.last *= count
    group.lastRepeats = true
    group.repeats = true
  }
  const close = (): void => {
    const inner = group
    group = open.pop() ?? newGroup()
    atom(inner.alternatives + inner.sequence + inner.last, inner.repeats)
  }
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\') {
      i++
      atom(1, false)
    } else if (c === '[') {
      let j = i + 1
      if (pattern[j] === '^') j++
      if (pattern[j] === ']') j++
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1
      i = j
      atom(1, false)
    } else if (c === '(') {
      if (pattern[i + 1] === '?' && pattern[i + 2] === ':') i += 2
      open.push(group)
      group = newGroup()
    } else if (c === ')') {
      close()
    } else if (c === '|') {
      group.alternatives += group.sequence + group.last
      group.sequence = 0
      group.last = 0
      group.lastRepeats = false
    } else if (c === '^' || c === '$') {
      // Anchors match no character.
    } else if (c === '*' || c === '?' || c === '+') {
      repeat(c === '+' ? 2 : 1)
      if (pattern[i + 1] === '?' || pattern[i + 1] === '+') i++
    } else if (c === '{') {
      const match = /^\{(\d*)(,(\d*))?\}/.exec(pattern.slice(i, i + 32))
      if (match === null) {
        atom(1, false)
        continue
      }
      const min = Number(match[1] || 0)
      repeat(match[2] === undefined ? min : match[3] === '' ? min + 1 : Number(match[3]))
      i += match[0].length - 1
    } else {
      atom(1, false)
    }
  }
  while (open.length > 0) close()
  return group.alternatives + group.sequence + group.last
}

/** Follows a local JSON pointer ("#/$defs/a", "#/properties/x~1y"); undefined when it leads nowhere. */
function resolvePointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined
  let node: unknown = root
  for (const raw of ref.slice(2).split('/')) {
    const token = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
    if (Array.isArray(node)) node = /^\d+$/.test(token) ? node[Number(token)] : undefined
    else if (isJsonObject(node) && Object.hasOwn(node, token)) node = node[token]
    else return undefined
  }
  return node
}

/**
 * Checks a response_format json_schema (already known to be an object) against the size
 * limits and the converter's known failure modes. `param` names the schema in messages.
 */
export function checkResponseSchema(schema: JsonObject, limits: SchemaLimits, param = 'response_format.json_schema.schema'): void {
  if (schemaDepthExceeds(schema, limits.maxDepth)) {
    refuse(`The JSON schema in ${param} nests deeper than ${limits.maxDepth} levels (--max-schema-depth)`, param, 'schema_too_deep')
  }
  const bytes = Buffer.byteLength(JSON.stringify(schema))
  if (bytes > limits.maxBytes) {
    refuse(`The JSON schema in ${param} is ${bytes} bytes, the limit is ${limits.maxBytes} bytes (--max-schema-kb)`, param, 'schema_too_large')
  }
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      for (const [i, child] of node.entries()) walk(child, `${path}[${i}]`)
      return
    }
    if (!isJsonObject(node)) return
    for (const [minKeyword, maxKeyword] of repetitionPairs) {
      for (const keyword of [minKeyword, maxKeyword]) {
        const value = node[keyword]
        if (value === undefined) continue
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
          refuse(`${path}.${keyword} must be a whole number of at least 0, got ${JSON.stringify(value)}`, `${path}.${keyword}`, 'unsupported_schema')
        }
        if (value > maxRepetitionCount) {
          refuse(
            `${path}.${keyword} is ${value}; the engine's grammar cannot enforce a count above ${maxRepetitionCount}. Lower it or leave it out`,
            `${path}.${keyword}`,
            'unsupported_schema',
          )
        }
      }
      const [min, max] = [node[minKeyword], node[maxKeyword]]
      if (typeof min === 'number' && typeof max === 'number' && min > max) {
        refuse(`${path}.${minKeyword} (${min}) is greater than ${maxKeyword} (${max}): no value can satisfy it`, `${path}.${minKeyword}`, 'unsupported_schema')
      }
    }
    if (node.type === 'integer') {
      for (const keyword of integerBounds) {
        const value = node[keyword]
        if (value !== undefined && !Number.isSafeInteger(value)) {
          refuse(
            `${path}.${keyword} of an integer must be a whole number within ±${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(value)}`,
            `${path}.${keyword}`,
            'unsupported_schema',
          )
        }
      }
      const low = typeof node.minimum === 'number' ? node.minimum : typeof node.exclusiveMinimum === 'number' ? node.exclusiveMinimum + 1 : undefined
      const high = typeof node.maximum === 'number' ? node.maximum : typeof node.exclusiveMaximum === 'number' ? node.exclusiveMaximum - 1 : undefined
      if (low !== undefined && high !== undefined && low > high) {
        refuse(`${path} allows no integer: its lower bound ${low} is above its upper bound ${high}`, path, 'unsupported_schema')
      }
    }
    if (typeof node.pattern === 'string') {
      const problem = patternProblem(node.pattern)
      if (problem !== null) refuse(`${path}.pattern cannot be used as a grammar: ${problem}`, `${path}.pattern`, 'unsupported_schema')
    }
    if (node.$ref !== undefined) checkRef(node.$ref, `${path}.$ref`)
    for (const [key, child] of Object.entries(node)) {
      // Values of these keywords are data, not schemas.
      if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples') continue
      walk(child, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`)
    }
  }
  // References already followed to a real schema: a thousand $refs into one long chain cost one walk.
  const leadsToSchema = new Set<string>()
  const checkRef = (ref: unknown, at: string): void => {
    if (typeof ref !== 'string' || !ref.startsWith('#/')) {
      refuse(`${at} must be a local reference such as "#/$defs/name"; got ${JSON.stringify(ref).slice(0, 80)}`, at, 'unsupported_schema')
    }
    const seen = new Set<string>()
    let current: string = ref
    for (;;) {
      if (leadsToSchema.has(current)) break
      if (seen.has(current)) refuse(`${at} is circular: "${current}" refers back to itself through $ref alone`, at, 'unsupported_schema')
      seen.add(current)
      const target = resolvePointer(schema, current)
      if (target === undefined) refuse(`${at} points to "${current}", which is not in the schema`, at, 'unsupported_schema')
      if (!isJsonObject(target) || typeof target.$ref !== 'string') break
      current = target.$ref
    }
    for (const followed of seen) leadsToSchema.add(followed)
  }
  walk(schema, param)
}
