/**
 * Page selections (`--pages`) and page counts for `visto ocr`, which sends a PDF one page at a time. Counted here with
 * the server package's renderer (PDFium in WebAssembly, in a worker): only the page
 * tree is read, nothing is rendered. A file that will not open counts as undefined, and
 * is then sent whole so the server's error says what is wrong with it.
 */
import { open, readFile } from 'node:fs/promises'
import { isPdf } from '@visto/sdk'
import { CliError, ExitCode } from './cli-error.js'

async function head(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r')
  try {
    const buffer = new Uint8Array(1024)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

export async function isPdfFile(path: string): Promise<boolean> {
  if (/^(https?|data):/i.test(path)) return false
  return isPdf(await head(path))
}

export async function countPdfPages(path: string): Promise<number | undefined> {
  const { inspectPdf } = await import('@visto/server/documents/pdf-renderer')
  const result = await inspectPdf(await readFile(path), [], 0, { timeoutMs: 60_000, maxHeapBytes: 512 * 1024 * 1024 })
  return result.kind === 'inspected' && result.pageCount > 0 ? result.pageCount : undefined
}

/** The pages a `--pages` list names ("1-3,7"), checked here so a typo fails before any request. */
export function parsePageList(list: string): Set<number> {
  const pages = new Set<number>()
  for (const item of list.split(',')) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(item)
    const first = Number(match?.[1])
    const last = match?.[2] === undefined ? first : Number(match[2])
    if (!match || first < 1 || last < first || last - first > 100_000) throw new CliError(`--pages must be page numbers and ranges like "1-3,7", got "${list}"`, ExitCode.Usage)
    for (let page = first; page <= last; page++) pages.add(page)
  }
  return pages
}
