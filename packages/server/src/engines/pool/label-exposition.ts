/**
 * Several engines' Prometheus expositions as one: each sample gains an `upstream` label
 * naming its engine, and each HELP/TYPE line is kept once, before the first sample of its
 * metric, as the text format requires (two engines' unlabelled samples would otherwise
 * be duplicate series).
 */
export function labelExposition(sources: ReadonlyArray<{ label: string; text: string }>): string {
  const meta = new Map<string, string[]>()
  const samples = new Map<string, string[]>()
  const order: string[] = []
  const family = (name: string): string => {
    if (!samples.has(name)) {
      samples.set(name, [])
      meta.set(name, [])
      order.push(name)
    }
    return name
  }
  for (const { label, text } of sources) {
    const value = label.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
    for (const line of text.split('\n')) {
      const comment = /^# (HELP|TYPE) (\S+)/.exec(line)
      if (comment) {
        const lines = meta.get(family(comment[2]!))!
        if (!lines.some((l) => l.startsWith(`# ${comment[1]} `))) lines.push(line)
        continue
      }
      const sample = sampleLine(line)
      if (!sample) continue
      const { name, labels, rest } = sample
      const inner = labels ? labels.slice(1, -1) : ''
      const merged = `upstream="${value}"${inner ? `,${inner}` : ''}`
      samples.get(family(metricFamily(name, meta)))!.push(`${name}{${merged}} ${rest}`)
    }
  }
  const out: string[] = []
  for (const name of order) out.push(...meta.get(name)!, ...samples.get(name)!)
  return out.length > 0 ? `${out.join('\n')}\n` : ''
}

/** A histogram's or summary's `_bucket`/`_sum`/`_count` samples belong to the family declared by TYPE. */
function metricFamily(name: string, meta: Map<string, string[]>): string {
  if (meta.has(name)) return name
  const base = name.replace(/_(bucket|sum|count|total)$/, '')
  return meta.has(base) ? base : name
}

/** One sample line of a Prometheus text: its metric name, its `{…}` labels if any, and the value (and timestamp) after them. */
export function sampleLine(line: string): { name: string; labels: string | undefined; rest: string } | undefined {
  const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(.*)$/.exec(line)
  return match ? { name: match[1]!, labels: match[2], rest: match[3]! } : undefined
}
