/**
 * A duration for people, given in milliseconds: `850 ms`, `12.34 s`, `1m51s`, `2h05m`.
 * Latency reports and progress ETAs share it, so the same time reads the same everywhere.
 * A dash for a time that is not known (NaN, Infinity).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  if (ms < 1000) return `${Math.round(Math.max(0, ms))} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`
  const seconds = Math.round(ms / 1000)
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}
