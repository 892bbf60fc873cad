import { describe, expect, it } from 'vitest'
import { jsonDepthExcess } from './json-depth.js'

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
