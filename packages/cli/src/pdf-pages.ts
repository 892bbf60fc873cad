/**
 * Page selections (`--pages`) and page counts for `visto ocr`, which sends a PDF one page at a time. Counted here with
 * the server package's renderer (PDFium in WebAssembly, in a worker): only the page
 * tree is read, nothing is rendered. A file that will not open counts as undefined, and
 * is then sent whole so the server's error says what is wrong with it.
 */
import { open, readFile } from 'node:fs/promises'
import { PageSelectionError, parsePageSelection, type PageSelection } from '@visto/protocol'
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

/**
 * The `--pages` list, read exactly as the server reads a file part's `pages` ("1-3,7";
 * empty or "all": every page), so a typo fails before any request.
 */
export function pageSelectionFlag(list: string): PageSelection {
  try {
    return parsePageSelection(list)
  } catch (error) {
    if (error instanceof PageSelectionError) throw new CliError(`--pages must be page numbers and ranges like "1-3,7", got "${list}"`, ExitCode.Usage)
    throw error
  }
}
