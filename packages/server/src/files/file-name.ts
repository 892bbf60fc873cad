/** Longest stored name, in code points (OpenAI's own limit is not documented; 255 is what file systems allow). */
export const maxFileNameLength = 255

/**
 * What is left of an uploaded file's name once it can no longer mislead: the last path
 * component (a client may send `C:\Users\…\requests.jsonl` or `../../x`), without control
 * characters (C0, DEL, C1: they break headers, logs and terminals) and without the
 * invisible bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F,
 * U+061C), which make `invoice\u202Efdp.exe` look like `invoiceexe.pdf` on the page and
 * in a file manager after download, and which no real name needs. Everything else
 * (any script, emoji, quotes, spaces) is kept exactly, and comes back as sent.
 */
export function storedFileName(given: string, fallback: string): string {
  const lastComponent = given.split(/[/\\]/).pop() ?? ''
  const cleaned = lastComponent.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
  const name = Array.from(cleaned).slice(0, maxFileNameLength).join('')
  return name.trim() === '' ? fallback : name
}
