/**
 * Terminal styling that respects NO_COLOR (https://no-color.org), `TERM=dumb` and pipes:
 * colour only ever reaches a TTY.
 */

export interface Styler {
  enabled: boolean
  bold(text: string): string
  dim(text: string): string
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
  cyan(text: string): string
}

export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false
  if (process.env.TERM === 'dumb') return false
  return stream.isTTY === true
}

export function styler(stream: NodeJS.WriteStream): Styler {
  const enabled = colorEnabled(stream)
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text)
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  }
}

export const stdout = (text: string): void => void process.stdout.write(text)
export const stderr = (text: string): void => void process.stderr.write(text)

/** Writes a JSON value as one line (machine output for --json). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}
