/**
 * Page selections (`--pages`) and page counts for `visto ocr`, which sends a PDF one page
 * at a time. Counted with the server package's renderer when it is installed (PDFium in
 * WebAssembly, in a worker; only the page tree is read, nothing is rendered), otherwise by
 * the Visto server the pages go to (its document preview). A file that cannot be counted
 * either way counts as undefined, and is then sent whole so the server's error says what is
 * wrong with it.
 */
import { open, readFile } from 'node:fs/promises'
import { PageSelectionError, parsePageSelection, type DocumentPreview, type DocumentPreviewRequest, type PageSelection } from '@visto/protocol'
import { isPdf } from '@visto/sdk'
import { CliError, ExitCode } from './cli-error.js'
import { tryServer } from './optional-packages.js'

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

/** Where `visto ocr` sends its requests: the client's base URL (ending in /v1) and key. */
export interface ServerAddress {
  baseURL: string
  apiKey?: string | undefined
}

export async function countPdfPages(path: string, server: ServerAddress): Promise<number | undefined> {
  const bytes = await readFile(path)
  const renderer = await tryServer(() => import('@visto/server/pdf-renderer'))
  if (renderer === undefined) return askServerForPageCount(bytes, server)
  const result = await renderer.inspectPdf(bytes, [], 0, { timeoutMs: 60_000, maxHeapBytes: 512 * 1024 * 1024 })
  return result.kind === 'inspected' && result.pageCount > 0 ? result.pageCount : undefined
}

/**
 * `POST /v1/visto/document-preview` for page 1 alone (one thumbnail) still reports the
 * whole document's page_count. Any failure (not a Visto server, a bad PDF, unreachable)
 * leaves the count undefined: the request that follows reports it.
 */
async function askServerForPageCount(bytes: Buffer, server: ServerAddress): Promise<number | undefined> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (server.apiKey) headers.authorization = `Bearer ${server.apiKey}`
  const request: DocumentPreviewRequest = { file_data: `data:application/pdf;base64,${bytes.toString('base64')}`, detail: 'low', pages: '1' }
  try {
    const response = await fetch(`${server.baseURL}/visto/document-preview`, {
      method: 'POST',
      headers,
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(60_000),
    })
    if (!response.ok) {
      await response.body?.cancel()
      return undefined
    }
    const count = ((await response.json()) as Partial<DocumentPreview>).page_count
    return typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : undefined
  } catch {
    return undefined
  }
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
