/**
 * A byte count for people, in binary units because the size limits are (`--max-image-mb`
 * and `--body-limit-mb` count MiB): `512 bytes`, `1.5 KiB`, `20 MiB`, `3.1 GiB`. One
 * decimal below 100 of a unit and none above, with a trailing `.0` dropped.
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${trim(bytes / 1024 ** 3)} GiB`
  if (bytes >= 1024 ** 2) return `${trim(bytes / 1024 ** 2)} MiB`
  if (bytes >= 1024) return `${trim(bytes / 1024)} KiB`
  return `${bytes} bytes`
}

function trim(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, '')
}
