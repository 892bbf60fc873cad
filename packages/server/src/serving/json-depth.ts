/**
 * How deep a JSON text nests, found by one linear scan of its bytes before any parser
 * sees it. JSON.parse (and everything that walks its result) costs memory and time per
 * level: a 46 MiB run of `[` blocks the event loop for seconds and a 190 MB one exhausts
 * the heap, however far below the body limit it is. Brackets inside strings do not
 * count; the scan knows nothing else about JSON, so malformed text is left to the parser.
 */

/** Deep enough for any real request: a --max-schema-depth 32 schema sits about 5 levels down in a chat body or batch line. */
export const defaultMaxJsonDepth = 64

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/**
 * The offset of the bracket that opens level `maxDepth + 1`, or -1 when the text stays
 * within `maxDepth` levels. Takes a string or its UTF-8 bytes (every byte that matters
 * is ASCII, and UTF-8 never reuses ASCII bytes inside multi-byte characters).
 */
export function jsonDepthExcess(text: string | Uint8Array, maxDepth: number): number {
  const isString = typeof text === 'string'
  const length = text.length
  let depth = 0
  let inString = false
  for (let i = 0; i < length; i++) {
    const c = isString ? text.charCodeAt(i) : text[i]!
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return i
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--
    }
  }
  return -1
}

/**
 * The same scan fed piece by piece (a batch line read from disk in chunks), so a line too
 * deep is refused at its first bracket past the limit without ever being held whole.
 * `position` counts UTF-16 units, as `jsonDepthExcess` on the decoded string would.
 */
export class JsonDepthScanner {
  private depth = 0
  private inString = false
  private escaped = false
  /** UTF-16 units seen so far. */
  private units = 0

  constructor(private readonly maxDepth: number) {}

  /** Feeds the next bytes; returns the position of the first bracket too deep, or -1. */
  feed(bytes: Uint8Array): number {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!
      // UTF-8 continuation bytes add no unit; a 4-byte sequence (U+10000 and up) is a surrogate pair.
      if ((c & 0xc0) !== 0x80) this.units += c >= 0xf0 ? 2 : 1
      if (this.escaped) {
        this.escaped = false
      } else if (this.inString) {
        if (c === BACKSLASH) this.escaped = true
        else if (c === QUOTE) this.inString = false
      } else if (c === QUOTE) {
        this.inString = true
      } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
        if (++this.depth > this.maxDepth) return this.units - 1
      } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
        this.depth--
      }
    }
    return -1
  }
}
