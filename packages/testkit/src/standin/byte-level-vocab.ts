/**
 * A byte-level BPE vocabulary laid out like Qwen's: the 256 byte tokens first (in GPT-2
 * `bytes_to_unicode` order), ordinary tokens after them, then Qwen's added tokens, then
 * `[PADn]` fillers up to the embedding size, as llama.cpp's converter writes them.
 * The ordinary tokens are made-up ASCII words, so every token a stand-in can emit decodes
 * to valid UTF-8.
 */

/** llama.cpp token types (`llama_token_type`). */
export const TokenType = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const

/**
 * Qwen2/Qwen3's added tokens in id order. Marked special in `tokenizer_config.json`, or
 * shaped `<|…|>`, makes them control tokens in llama.cpp's converter; the rest are user-defined.
 */
export const QWEN_ADDED_TOKENS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|object_ref_start|>',
  '<|object_ref_end|>',
  '<|box_start|>',
  '<|box_end|>',
  '<|quad_start|>',
  '<|quad_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|vision_pad|>',
  '<|image_pad|>',
  '<|video_pad|>',
  '<tool_call>',
  '</tool_call>',
  '<|fim_prefix|>',
  '<|fim_middle|>',
  '<|fim_suffix|>',
  '<|fim_pad|>',
  '<|repo_name|>',
  '<|file_sep|>',
  '<tool_response>',
  '</tool_response>',
  '<think>',
  '</think>',
] as const

export type QwenAddedToken = (typeof QWEN_ADDED_TOKENS)[number]

/** Byte values in GPT-2 `bytes_to_unicode` order: the printable ones first, then the rest. */
export const BYTE_TOKEN_ORDER: readonly number[] = (() => {
  const printable: number[] = []
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b)
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b)
  for (let b = 0xae; b <= 0xff; b++) printable.push(b)
  const rest = Array.from({ length: 256 }, (_, b) => b).filter((b) => !printable.includes(b))
  return [...printable, ...rest]
})()

/** GPT-2's reversible byte → printable character map. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map = new Array<string>(256)
  let shifted = 0
  for (const b of BYTE_TOKEN_ORDER) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
    map[b] = String.fromCharCode(printable ? b : 256 + shifted++)
  }
  return map
})()

const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]))

/** The bytes a vocabulary token stands for (GPT-2 mapped characters back to bytes). */
export function tokenBytes(token: string): Uint8Array | undefined {
  const bytes = new Uint8Array(token.length)
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token[i]!)
    if (b === undefined) return undefined
    bytes[i] = b
  }
  return bytes
}

export interface Vocabulary {
  tokens: string[]
  types: number[]
  /** Ids a stand-in may generate: plain tokens of printable ASCII (plus newline). */
  emittable: Uint8Array
  /** Single-byte tokens 0x80–0xBF: UTF-8 continuation bytes, invalid on their own. */
  loneContinuationBytes: Uint8Array
  idOf(token: QwenAddedToken): number
}

/**
 * `size` tokens with the added tokens starting at `addedTokensStart` (151643 in Qwen).
 */
export function buildVocabulary(size: number, addedTokensStart: number): Vocabulary {
  if (addedTokensStart < 256 || addedTokensStart + QWEN_ADDED_TOKENS.length > size) {
    throw new RangeError(`a vocabulary of ${size} cannot hold the added tokens at ${addedTokensStart}`)
  }
  const tokens: string[] = []
  const types: number[] = []
  for (const b of BYTE_TOKEN_ORDER) {
    tokens.push(BYTE_TO_CHAR[b]!)
    types.push(TokenType.normal)
  }
  for (let k = 0; tokens.length < addedTokensStart; k++) {
    // "aa", "Ġaa", "ab", "Ġab", …: word-like pieces, with and without a leading space (Ġ).
    tokens.push(`${k % 2 === 1 ? BYTE_TO_CHAR[0x20] : ''}${letters((k >> 1) + 27)}`)
    types.push(TokenType.normal)
  }
  for (const token of QWEN_ADDED_TOKENS) {
    tokens.push(token)
    types.push(token.startsWith('<|') && token.endsWith('|>') ? TokenType.control : TokenType.userDefined)
  }
  while (tokens.length < size) {
    tokens.push(`[PAD${tokens.length}]`)
    types.push(TokenType.unused)
  }
  const emittable = new Uint8Array(size)
  const loneContinuationBytes = new Uint8Array(size)
  for (let id = 0; id < size; id++) {
    if (types[id] !== TokenType.normal) continue
    const bytes = tokenBytes(tokens[id]!)!
    emittable[id] = bytes.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x0a) ? 1 : 0
    loneContinuationBytes[id] = bytes.length === 1 && bytes[0]! >= 0x80 && bytes[0]! <= 0xbf ? 1 : 0
  }
  return {
    tokens,
    types,
    emittable,
    loneContinuationBytes,
    idOf: (token) => addedTokensStart + QWEN_ADDED_TOKENS.indexOf(token),
  }
}

/** Bijective base-26 numeral in a–z (1 → "a", 27 → "aa"). */
function letters(n: number): string {
  let s = ''
  while (n > 0) {
    n -= 1
    s = String.fromCharCode(0x61 + (n % 26)) + s
    n = Math.floor(n / 26)
  }
  return s
}
