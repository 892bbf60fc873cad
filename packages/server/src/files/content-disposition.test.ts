import { describe, expect, it } from 'vitest'
import { contentDisposition } from './content-disposition.js'
import { storedFileName } from './file-name.js'

/** What a client reads back from filename*: RFC 8187 says UTF-8, percent-decoded. */
function exactName(header: string): string | undefined {
  const match = /filename\*=UTF-8''([^;\s]+)/.exec(header)
  return match ? decodeURIComponent(match[1]!) : undefined
}

describe('contentDisposition: a download header for a name of any script', () => {
  it('sends a plain ASCII name as it is, with no filename*', () => {
    expect(contentDisposition('requests.jsonl')).toBe('attachment; filename="requests.jsonl"')
    expect(contentDisposition('batch_abc_output.jsonl')).toBe('attachment; filename="batch_abc_output.jsonl"')
  })

  it.each([
    ['CJK', '请求.jsonl', '__.jsonl', '%E8%AF%B7%E6%B1%82.jsonl'],
    ['emoji (outside the BMP)', 'photos 📷.jsonl', 'photos _.jsonl', 'photos%20%F0%9F%93%B7.jsonl'],
    ['quotes and a backslash', 'say "hi" \\ it\'s.jsonl', "say _hi_ _ it's.jsonl", 'say%20%22hi%22%20%5C%20it%27s.jsonl'],
    ['control characters', 'a\r\nb\u0000\u007f.jsonl', 'a__b__.jsonl', 'a%0D%0Ab%00%7F.jsonl'],
    ['U+202E', 'invoice\u202Efdp.exe', 'invoice_fdp.exe', 'invoice%E2%80%AEfdp.exe'],
    ['Latin-1 accents', 'résumé.jsonl', 'r_sum_.jsonl', 'r%C3%A9sum%C3%A9.jsonl'],
    ['RFC 8187 specials', "a(b)*c';%.jsonl", "a(b)*c';%.jsonl", null],
  ])('%s: an ASCII fallback and the exact name in filename*', (_case, name, fallback, encoded) => {
    const header = contentDisposition(name)
    // Node accepts it as a header value: only tab and printable ASCII.
    expect(header).toMatch(/^[\t\x20-\x7e]*$/)
    expect(header.startsWith(`attachment; filename="${fallback}"`)).toBe(true)
    if (encoded === null) {
      expect(header).toBe(`attachment; filename="${fallback}"`)
    } else {
      expect(header).toBe(`attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`)
      expect(exactName(header)).toBe(name)
    }
  })

  it('percent-encodes what RFC 8187 leaves out of attr-char even when the fallback needs nothing', () => {
    // `'` ends the charset part of filename* and `%` starts an escape: both must be encoded there.
    const header = contentDisposition("请求 (1) 50%'s.jsonl")
    expect(header).toBe("attachment; filename=\"__ (1) 50%'s.jsonl\"; filename*=UTF-8''%E8%AF%B7%E6%B1%82%20%281%29%2050%25%27s.jsonl")
    expect(exactName(header)).toBe("请求 (1) 50%'s.jsonl")
  })

  it('gives a name with nothing printable a fallback, and writes a lone surrogate as U+FFFD', () => {
    expect(contentDisposition('请求')).toBe('attachment; filename="__"; filename*=UTF-8\'\'%E8%AF%B7%E6%B1%82')
    expect(contentDisposition('\uD800.jsonl')).toBe('attachment; filename="_.jsonl"; filename*=UTF-8\'\'%EF%BF%BD.jsonl')
  })
})

describe('storedFileName: the name kept for an upload', () => {
  it('keeps any script, emoji, quotes and spaces exactly', () => {
    for (const name of ['请求.jsonl', 'photos 📷.jsonl', 'say "hi" it\'s.jsonl', 'résumé (final).jsonl', 'שלום.jsonl']) expect(storedFileName(name, 'upload')).toBe(name)
  })

  it('keeps the last path component only', () => {
    expect(storedFileName('C:\\Users\\me\\请求.jsonl', 'upload')).toBe('请求.jsonl')
    expect(storedFileName('../../etc/passwd', 'upload')).toBe('passwd')
    expect(storedFileName('folder/', 'upload')).toBe('upload')
  })

  it('drops control characters and bidirectional controls, which only serve to mislead', () => {
    expect(storedFileName('a\r\nb\u0000\u001b[31m\u007f\u0085.jsonl', 'upload')).toBe('ab[31m.jsonl')
    expect(storedFileName('invoice\u202Efdp.exe', 'upload')).toBe('invoicefdp.exe')
    expect(storedFileName('\u2066x\u2069\u200e\u200f\u061c.jsonl', 'upload')).toBe('x.jsonl')
  })

  it('falls back when nothing is left, and cuts at 255 code points without splitting one', () => {
    expect(storedFileName('', 'upload.jsonl')).toBe('upload.jsonl')
    expect(storedFileName('\u0000\u202e ', 'upload.jsonl')).toBe('upload.jsonl')
    const long = storedFileName('📷'.repeat(300), 'upload')
    expect(Array.from(long)).toHaveLength(255)
    expect(long).toBe('📷'.repeat(255))
  })
})
