/**
 * The one percentile every report uses (SDK metrics, `visto bench`, `npm run bench`):
 * nearest rank over ascending values, so p95 is a latency some request really had, never
 * a blend of two. With fewer than 20 values p95 is the maximum. NaN for no values.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}
