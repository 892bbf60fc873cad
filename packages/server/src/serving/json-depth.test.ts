import { describe, expect, it } from 'vitest'
import { JsonDepthScanner, jsonDepthExcess } from './json-depth.js'

describe('jsonDepthExcess: nesting found by one scan, before any parser', () => {
  it('passes text within the limit and names the offset of the first bracket beyond it', () => {
    expect(jsonDepthExcess('{"a":[1,{"b":[]}]}', 4)).toBe(-1)
    expect(jsonDepthExcess('{"a":[1,{"b":[]}]}', 3)).toBe(13)
    expect(jsonDepthExcess('[[[]]]', 3)).toBe(-1)
    expect(jsonDepthExcess('[[[[]]]]', 3)).toBe(3)
    expect(jsonDepthExcess('1', 1)).toBe(-1)
  })

  it('counts depth, not brackets: siblings at the same level do not add up', () => {
    expect(jsonDepthExcess(`[${'[[1]],'.repeat(10_000)}[]]`, 3)).toBe(-1)
  })

  it('ignores brackets inside strings, escaped quotes and backslashes included', () => {
    expect(jsonDepthExcess(JSON.stringify({ text: '[[[[{{{{' }), 1)).toBe(-1)
    expect(jsonDepthExcess(JSON.stringify({ text: 'say \\"[[[[" and \\\\' }), 1)).toBe(-1)
    expect(jsonDepthExcess(JSON.stringify(['a\\', '[[[[']), 1)).toBe(-1)
    // After the string closes, brackets count again.
    expect(jsonDepthExcess('["\\"[[", [[]]]', 2)).toBe(10)
  })

  it('reads UTF-8 bytes the same as the string', () => {
    const text = JSON.stringify({ 名前: '「[[[」', list: [[['é']]] })
    expect(jsonDepthExcess(Buffer.from(text), 4)).toBe(-1)
    expect(jsonDepthExcess(text, 4)).toBe(-1)
    // The offsets differ (bytes against UTF-16 units); both find the fourth level.
    expect(Buffer.from(text)[jsonDepthExcess(Buffer.from(text), 3)]).toBe(0x5b)
    expect(text[jsonDepthExcess(text, 3)]).toBe('[')
  })

  it('stops at the first bracket too deep in 46 MiB of [', () => {
    // A flat string, as a received body is (a repeat() rope would be flattened on first read).
    const body = Buffer.alloc(46 * 1024 * 1024, '[').toString('latin1')
    // The answer is the 65th character's offset: the scan stopped there, not at the end.
    expect(jsonDepthExcess(body, 64)).toBe(64)
  })

  it('leaves malformed text to the parser: unbalanced closers and an unterminated string do not throw', () => {
    expect(jsonDepthExcess(']]]]{', 1)).toBe(-1)
    expect(jsonDepthExcess('["[[[[', 1)).toBe(-1)
  })
})

describe('JsonDepthScanner: the same scan over pieces of a text', () => {
  /** Feeds `text`'s UTF-8 bytes in pieces of `size`, as a file is read in chunks. */
  function scanInPieces(text: string, maxDepth: number, size: number): number {
    const bytes = Buffer.from(text)
    const scanner = new JsonDepthScanner(maxDepth)
    for (let at = 0; at < bytes.length; at += size) {
      const found = scanner.feed(bytes.subarray(at, at + size))
      if (found >= 0) return found
    }
    return -1
  }

  it('finds what jsonDepthExcess finds, at the same UTF-16 offset, however the text is cut', () => {
    const texts = [
      '{"a":[1,{"b":[]}]}',
      '["\\"[[", [[]]]',
      JSON.stringify({ text: 'say \\"[[[[" and \\\\', list: [[[[1]]]] }),
      JSON.stringify({ 名前: '「[[[」', emoji: '😀[[', list: [[['é']]] }),
      `${'['.repeat(100)}${']'.repeat(100)}`,
    ]
    for (const text of texts) {
      for (const maxDepth of [1, 2, 3, 4, 64]) {
        for (const size of [1, 2, 3, 7, 1 << 20]) expect(scanInPieces(text, maxDepth, size), `${text} at ${maxDepth} in pieces of ${size}`).toBe(jsonDepthExcess(text, maxDepth))
      }
    }
  })

  it('keeps a backslash at the end of one piece escaping the first byte of the next', () => {
    const scanner = new JsonDepthScanner(1)
    expect(scanner.feed(Buffer.from('["a\\'))).toBe(-1)
    // The quote is escaped, so the string goes on and these brackets do not count.
    expect(scanner.feed(Buffer.from('"[[[[",'))).toBe(-1)
    expect(scanner.feed(Buffer.from('"x"]'))).toBe(-1)
    // Offsets count from the start of the whole text.
    expect(scanner.feed(Buffer.from('[['))).toBe(16)
  })
})
