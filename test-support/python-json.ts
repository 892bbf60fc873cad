/** What Python's json.dumps writes by default: ASCII-only, ", " and ": " separators. */
export function pythonJsonDumps(value: unknown): string {
  const quote = (s: string): string => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const dump = (v: unknown): string => {
    if (v === null) return 'null'
    if (typeof v === 'string') return quote(v)
    if (typeof v === 'number' || typeof v === 'boolean') return String(v)
    if (Array.isArray(v)) return `[${v.map(dump).join(', ')}]`
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${quote(k)}: ${dump(x)}`)
      .join(', ')}}`
  }
  return dump(value)
}
