import { formatBytes, formatDuration } from '@visto/protocol'
/** One progress report for one file. Emitted at most every `intervalMs`, plus once at the end. */
export interface DownloadProgress {
  /** The hub path of the file, e.g. `Qwen3VL-4B-Instruct-Q4_K_M.gguf`. */
  file: string
  /** Bytes on disk so far, including any resumed from an earlier run. */
  downloaded: number
  /** The full size, when the hub or the server told us. */
  total: number | undefined
  /** Bytes that were already on disk when this run started (resume). */
  resumedFrom: number
  /** Recent transfer speed in bytes per second (this run only). */
  bytesPerSecond: number
  /** Seconds left at the recent speed, when the total is known and the speed is not zero. */
  etaSeconds: number | undefined
  /** `waiting`: another process holds the download lock; `verifying`: hashing what is on disk. */
  phase: 'waiting' | 'downloading' | 'verifying' | 'done'
}

export interface ProgressPrinterOptions {
  /** Where to print (stderr by default: stdout is for results). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** Force the interactive bar on or off; defaults to the stream's isTTY. */
  interactive?: boolean
  /** Seconds between plain lines when not interactive. */
  plainIntervalSeconds?: number
  now?: () => number
}

/**
 * A `DownloadProgress` consumer that draws a one-line bar on a terminal and prints plain
 * periodic lines otherwise (CI logs, `docker logs`), where carriage returns would turn
 * into thousands of lines.
 */
export function createProgressPrinter(options: ProgressPrinterOptions = {}): (progress: DownloadProgress) => void {
  const stream = options.stream ?? process.stderr
  const interactive = options.interactive ?? stream.isTTY === true
  const plainIntervalMs = (options.plainIntervalSeconds ?? 5) * 1000
  const now = options.now ?? Date.now
  const lastPlainLine = new Map<string, number>()
  const waitingAnnounced = new Set<string>()
  let barOpen = false

  return (progress) => {
    if (progress.phase === 'waiting') {
      if (waitingAnnounced.has(progress.file)) return
      waitingAnnounced.add(progress.file)
      if (barOpen) stream.write('\n')
      barOpen = false
      stream.write(`Waiting for another Visto process that is downloading ${progress.file}…\n`)
      return
    }
    if (interactive) {
      const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - 60))
      stream.write(`\r\x1b[K${formatProgressLine(progress, width)}`)
      barOpen = progress.phase !== 'done'
      if (progress.phase === 'done') stream.write('\n')
      return
    }
    const last = lastPlainLine.get(progress.file)
    const due = last === undefined || now() - last >= plainIntervalMs
    if (progress.phase === 'done' || due) {
      lastPlainLine.set(progress.file, now())
      stream.write(`${formatProgressLine(progress)}\n`)
    }
  }
}

/** `[#####-----]  Downloading   45.2%  1.1 GiB/2.3 GiB  11.7 MiB/s  ETA 1m51s  file.gguf` (no bar when barWidth is 0). */
export function formatProgressLine(progress: DownloadProgress, barWidth = 0): string {
  const parts: string[] = []
  const { total, downloaded } = progress
  const fraction = total ? Math.min(1, downloaded / total) : undefined
  if (barWidth > 0) {
    const filled = fraction === undefined ? 0 : Math.round(fraction * barWidth)
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`)
  }
  const verb = progress.phase === 'verifying' ? 'Verifying' : progress.phase === 'done' ? 'Downloaded' : 'Downloading'
  parts.push(verb)
  if (fraction !== undefined) parts.push(`${(fraction * 100).toFixed(1).padStart(5)}%`)
  parts.push(total ? `${formatBytes(downloaded)}/${formatBytes(total)}` : formatBytes(downloaded))
  if (progress.phase === 'downloading') {
    parts.push(`${formatBytes(progress.bytesPerSecond)}/s`)
    parts.push(`ETA ${progress.etaSeconds === undefined ? '?' : formatDuration(progress.etaSeconds * 1000)}`)
  }
  parts.push(progress.file)
  return parts.join('  ')
}
