/**
 * llama-server names its metrics `llamacpp:…` (a colon, reserved for recording rules in
 * Prometheus naming practice). Relayed on Visto's /metrics they become
 * `visto_engine_llamacpp_…`, so they sort next to Visto's own and cannot clash with them.
 */
export const llamaCppMetricsPrefix = 'visto_engine_llamacpp_'

/** Renames every sample, HELP and TYPE line of llama-server's exposition; other lines pass unchanged. */
export function prefixLlamaCppMetrics(exposition: string): string {
  const text = exposition.replace(/^(# (?:HELP|TYPE) )?llamacpp:/gm, `$1${llamaCppMetricsPrefix}`)
  return text.endsWith('\n') || text === '' ? text : `${text}\n`
}
