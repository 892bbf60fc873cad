import { describe, expect, it } from 'vitest'

import { BYTE_TO_CHAR, BYTE_TOKEN_ORDER, QWEN_ADDED_TOKENS, TokenType, buildVocabulary, tokenBytes } from './byte-level-vocab.js'

describe('byte-level vocabulary', () => {
  it('maps bytes to characters exactly as GPT-2 bytes_to_unicode does', () => {
    expect(BYTE_TO_CHAR[0x21]).toBe('!')
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ') // U+0120
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ') // U+010A
    expect(BYTE_TO_CHAR[0x00]).toBe('Ā') // U+0100
    expect(BYTE_TO_CHAR[0xad]).toBe('Ń') // U+0143, the last shifted byte
    expect(BYTE_TO_CHAR[0xe9]).toBe('é')
    expect(new Set(BYTE_TO_CHAR).size).toBe(256)
  })

  it("puts the printable bytes first, then the rest, as Qwen's first 256 ids", () => {
    expect(BYTE_TOKEN_ORDER.slice(0, 3)).toEqual([0x21, 0x22, 0x23])
    expect(BYTE_TOKEN_ORDER[93]).toBe(0x7e)
    expect(BYTE_TOKEN_ORDER[94]).toBe(0xa1)
    expect(BYTE_TOKEN_ORDER[188]).toBe(0x00)
    expect([...BYTE_TOKEN_ORDER].sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, i) => i))
  })

  it("lays out the 4B vocabulary with Qwen's added tokens at their real ids and [PADn] after them", () => {
    const vocab = buildVocabulary(151936, 151643)
    expect(vocab.tokens).toHaveLength(151936)
    expect(vocab.types).toHaveLength(151936)
    expect(vocab.tokens[151643]).toBe('<|endoftext|>')
    expect(vocab.idOf('<|im_start|>')).toBe(151644)
    expect(vocab.idOf('<|im_end|>')).toBe(151645)
    expect(vocab.idOf('<|vision_start|>')).toBe(151652)
    expect(vocab.idOf('<|vision_end|>')).toBe(151653)
    expect(vocab.idOf('<|image_pad|>')).toBe(151655)
    expect(vocab.tokens[151668]).toBe('</think>')
    expect(vocab.tokens[151669]).toBe('[PAD151669]')
    expect(vocab.types[151669]).toBe(TokenType.unused)
    expect(vocab.types[vocab.idOf('<|fim_prefix|>')]).toBe(TokenType.control)
    expect(vocab.types[vocab.idOf('<tool_call>')]).toBe(TokenType.userDefined)
    expect(vocab.types[vocab.idOf('<think>')]).toBe(TokenType.userDefined)
    expect(QWEN_ADDED_TOKENS.filter((t) => vocab.types[vocab.idOf(t)] === TokenType.control)).toHaveLength(20)
    expect(new Set(vocab.tokens).size).toBe(vocab.tokens.length)
    // Every token is made of GPT-2 byte-mapped characters, as llama.cpp's gpt2 tokenizer requires.
    expect(vocab.tokens.filter((t) => tokenBytes(t) === undefined && !t.startsWith('<'))).toEqual([])
  })

  it('lets the model emit only plain tokens that decode to printable ASCII or newline', () => {
    const vocab = buildVocabulary(1024, 992)
    const emitted = vocab.tokens.filter((_, id) => vocab.emittable[id] === 1)
    expect(emitted.length).toBeGreaterThan(700)
    for (const token of emitted) {
      expect([...tokenBytes(token)!].every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0a)).toBe(true)
    }
    expect(vocab.emittable[BYTE_TOKEN_ORDER.indexOf(0xe9)]).toBe(0)
    expect(vocab.emittable[BYTE_TOKEN_ORDER.indexOf(0x0a)]).toBe(1)
    expect(vocab.emittable[vocab.idOf('<|im_end|>')]).toBe(0)
    expect(vocab.tokens.slice(256, 260)).toEqual(['aa', 'Ġaa', 'ab', 'Ġab'])
  })
})
