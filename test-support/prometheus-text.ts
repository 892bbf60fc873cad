/**
 * Reads Prometheus text exposition into `name{labels}` → value, so tests can compare
 * scrapes. Label sets are written back sorted, e.g. `visto_http_requests_total{method="GET",route="/metrics",status="200"}`.
 */
export function parsePrometheusText(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`)
    const [, name, labels, value] = match
    const pairs = [...(labels ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort()
    samples.set(pairs.length ? `${name}{${pairs.join(',')}}` : name!, Number(value))
  }
  return samples
}

/** The value of one sample, 0 when absent (a counter that has not moved yet). */
export function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const pairs = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
  return samples.get(pairs.length ? `${name}{${pairs.join(',')}}` : name) ?? 0
}
