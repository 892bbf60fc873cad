/**
 * Finds JSON objects in a model's answer, forgiving the slips models make: prose and
 * Markdown fences around the JSON, trailing or missing commas, single quotes, unquoted
 * keys, Python's True/False/None, comments, and an answer cut off by max_tokens (the
 * objects closed before the cut still count). It never throws on any text; it reports
 * every object the caller accepts, wherever it sits (top level, in a list, nested).
 */

/** An object found in the text, with the characters it spans (`end` exclusive). */
export interface FoundObject {
  value: Record<string, unknown>
  start: number
  end: number
}

/** Thrown inside the parser when the text stops being (lenient) JSON here. */
class NotJson {
  constructor(readonly at: number) {}
}

// Deeper nesting than any answer has: a guard against a stack overflow on "[[[[…".
const MAX_DEPTH = 64

const NUMBER = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y
const IDENTIFIER = /[A-Za-z_$][\w$-]*/y

const words: Record<string, unknown> = {
  true: true,
  True: true,
  false: false,
  False: false,
  null: null,
  None: null,
  undefined: null,
}

const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0' }

class Parser {
  pos = 0

  constructor(
    private readonly text: string,
    private readonly accept: (value: Record<string, unknown>) => boolean,
    private readonly found: Map<number, FoundObject>,
  ) {}

  private fail(): never {
    throw new NotJson(this.pos)
  }

  private skipSpace(): void {
    const text = this.text
    while (this.pos < text.length) {
      const ch = text[this.pos]!
      if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t' || ch === '\u00a0') this.pos++
      else if (ch === '/' && text[this.pos + 1] === '/') this.skipLine()
      else if (ch === '#') this.skipLine()
      else if (ch === '/' && text[this.pos + 1] === '*') {
        const close = text.indexOf('*/', this.pos + 2)
        this.pos = close === -1 ? text.length : close + 2
      } else return
    }
  }

  private skipLine(): void {
    const newline = this.text.indexOf('\n', this.pos)
    this.pos = newline === -1 ? this.text.length : newline + 1
  }

  value(depth: number): unknown {
    this.skipSpace()
    if (depth > MAX_DEPTH) this.fail()
    const ch = this.text[this.pos]
    if (ch === '{') return this.object(depth)
    if (ch === '[') return this.array(depth)
    if (ch === '"' || ch === "'") return this.string()
    NUMBER.lastIndex = this.pos
    const number = NUMBER.exec(this.text)
    if (number) {
      this.pos += number[0].length
      return Number(number[0])
    }
    IDENTIFIER.lastIndex = this.pos
    const word = IDENTIFIER.exec(this.text)
    if (word && Object.hasOwn(words, word[0])) {
      this.pos += word[0].length
      return words[word[0]]
    }
    return this.fail()
  }

  private string(): string {
    const quote = this.text[this.pos]!
    let out = ''
    this.pos++
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!
      if (ch === quote) {
        this.pos++
        return out
      }
      if (ch === '\\') {
        const next = this.text[this.pos + 1]
        if (next === undefined) break
        if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(parseInt(this.text.slice(this.pos + 2, this.pos + 6), 16))
          this.pos += 6
          continue
        }
        out += escapes[next] ?? next
        this.pos += 2
        continue
      }
      out += ch
      this.pos++
    }
    return this.fail()
  }

  private key(): string {
    const ch = this.text[this.pos]
    if (ch === '"' || ch === "'") return this.string()
    IDENTIFIER.lastIndex = this.pos
    NUMBER.lastIndex = this.pos
    const word = IDENTIFIER.exec(this.text) ?? NUMBER.exec(this.text)
    if (!word) this.fail()
    this.pos += word[0].length
    return word[0]
  }

  /** After an element: a comma (or several), the closer, or (a missing comma) the next element. */
  private separator(closer: string): boolean {
    this.skipSpace()
    let sawComma = false
    while (this.text[this.pos] === ',') {
      this.pos++
      sawComma = true
      this.skipSpace()
    }
    if (this.text[this.pos] === closer) {
      this.pos++
      return false
    }
    if (this.pos >= this.text.length) this.fail()
    if (!sawComma && !/["'{[\w$+\-.]/.test(this.text[this.pos]!)) this.fail()
    return true
  }

  private object(depth: number): Record<string, unknown> {
    const start = this.pos
    this.pos++
    // No prototype: a key "__proto__" in an answer stays an ordinary key.
    const object: Record<string, unknown> = Object.create(null)
    this.skipSpace()
    while (this.text[this.pos] === ',') {
      this.pos++
      this.skipSpace()
    }
    if (this.text[this.pos] === '}') this.pos++
    else {
      do {
        this.skipSpace()
        const key = this.key()
        this.skipSpace()
        if (this.text[this.pos] !== ':') this.fail()
        this.pos++
        object[key] = this.value(depth + 1)
      } while (this.separator('}'))
    }
    if (this.accept(object)) this.found.set(start, { value: object, start, end: this.pos })
    return object
  }

  private array(depth: number): unknown[] {
    this.pos++
    const array: unknown[] = []
    this.skipSpace()
    while (this.text[this.pos] === ',') {
      this.pos++
      this.skipSpace()
    }
    if (this.text[this.pos] === ']') {
      this.pos++
      return array
    }
    do array.push(this.value(depth + 1))
    while (this.separator(']'))
    return array
  }
}

/**
 * Every object in `text` that `accept` takes, in the order they start. Parsing starts at
 * each `{` or `[`; where the text stops being JSON the objects closed so far are kept and
 * parsing starts again just after that start. Re-reading is bounded (a few times the
 * text's length in all), so no answer costs more than linear time.
 */
export function findJsonObjects(text: string, accept: (value: Record<string, unknown>) => boolean): FoundObject[] {
  const found = new Map<number, FoundObject>()
  const parser = new Parser(text, accept, found)
  let budget = 20 * text.length + 10_000
  let from = 0
  while (from < text.length) {
    const brace = text.indexOf('{', from)
    const bracket = text.indexOf('[', from)
    const start = brace === -1 ? bracket : bracket === -1 ? brace : Math.min(brace, bracket)
    if (start === -1) break
    parser.pos = start
    try {
      parser.value(0)
      from = parser.pos
    } catch (error) {
      if (!(error instanceof NotJson)) throw error
      budget -= error.at - start
      // Out of budget: resume where this attempt failed, which stays linear.
      from = budget > 0 ? start + 1 : Math.max(error.at, start + 1)
    }
  }
  return [...found.values()].sort((a, b) => a.start - b.start)
}
