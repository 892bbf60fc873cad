import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/**
 * PDF pages through PDFium compiled to WebAssembly (`@hyzyla/pdfium`): no system
 * package, and no JavaScript engine inside, so a PDF's own scripts can never run (the
 * build has no V8, and we never open a form-fill environment either).
 *
 * Every call runs in its own short-lived worker thread, like the HEIC decoder: parsing
 * and rendering are synchronous WebAssembly, so they must not block the event loop; a
 * hostile file that loops is stopped by a timer that terminates the worker; and the
 * WebAssembly heap may only grow to `maxHeapBytes` (we veto the growth request), so a
 * decompression bomb inside a page fails that worker, not the server.
 */

export interface PageSize {
  /** In PDF points (1/72 inch), with the page's /Rotate already applied. */
  width: number
  height: number
}

export type PdfFailureKind = 'encrypted' | 'corrupt' | 'timeout' | 'memory' | 'render' | 'aborted'

export type InspectResult = { kind: 'inspected'; pageCount: number; sizes: PageSize[] | null } | { kind: 'failed'; failure: PdfFailureKind; reason: string }

export interface RenderedPage {
  /** Zero-based page index. */
  index: number
  width: number
  height: number
  /** width x height x 4, RGBA, page painted on white. */
  rgba: Buffer
}

export type RenderResult =
  | { kind: 'rendered'; pages: RenderedPage[] /** The renderer's WebAssembly heap at the end: its peak, since it never shrinks. */; heapBytes: number }
  | { kind: 'failed'; failure: PdfFailureKind; reason: string }

export interface RendererLimits {
  timeoutMs: number
  maxHeapBytes: number
  /** Stops the worker at once (the client went away). */
  signal?: AbortSignal | undefined
}

export interface PageTarget {
  index: number
  width: number
  height: number
}

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
// The Emscripten runtime reports problems by printing them; keep the last line as the reason.
let printed = ''
console.log = console.warn = console.error = console.info = console.debug = (...args) => { printed = args.join(' ') }
const { PDFiumModule } = require(workerData.modulePath)
const FPDF_ANNOT = 0x01
const FPDF_REVERSE_BYTE_ORDER = 0x10
const errorNames = { 1: 'unknown error', 2: 'unreadable file', 3: 'not a PDF or corrupted', 4: 'password-protected', 5: 'unsupported security scheme', 6: 'bad page' }
let heapVetoed = false

function fail(failure, reason) {
  parentPort.postMessage({ kind: 'failed', failure, reason: String(reason).split('\\n')[0].slice(0, 160) })
}

async function main() {
  const pdfium = await PDFiumModule({
    instantiateWasm(imports, done) {
      const grow = imports.env.emscripten_resize_heap
      imports.env.emscripten_resize_heap = (requested) => {
        if ((requested >>> 0) > workerData.maxHeapBytes) { heapVetoed = true; return false }
        return grow(requested)
      }
      WebAssembly.instantiate(workerData.wasmModule, imports).then((instance) => done(instance), (error) => fail('render', error && error.message))
      return {}
    },
  })
  pdfium._FPDF_InitLibraryWithConfig({ version: 2, m_pIsolate: null, m_pUserFontPaths: null, m_v8EmbedderSlot: 0, m_pPlatform: null })
  const bytes = workerData.bytes
  const documentPtr = pdfium.wasmExports.malloc(bytes.byteLength)
  if (!documentPtr) return fail('memory', 'no memory for the file')
  pdfium.HEAPU8.set(bytes, documentPtr)
  const doc = pdfium._FPDF_LoadMemDocument(documentPtr, bytes.byteLength, 0)
  if (!doc) {
    const code = pdfium._FPDF_GetLastError()
    if (code === 4 || code === 5) return fail('encrypted', errorNames[code])
    return fail('corrupt', errorNames[code] || 'error ' + code)
  }
  const pageCount = pdfium._FPDF_GetPageCount(doc)
  const task = workerData.task
  if (task.kind === 'inspect') {
    const selected = task.pages === null ? Array.from({ length: Math.min(pageCount, task.maxSizes) }, (_, i) => i) : task.pages
    if (selected.some((index) => index >= pageCount)) return parentPort.postMessage({ kind: 'inspected', pageCount, sizes: null })
    const sizePtr = pdfium.wasmExports.malloc(8)
    const sizes = []
    for (const index of selected.slice(0, task.maxSizes)) {
      if (!pdfium._FPDF_GetPageSizeByIndexF(doc, index, sizePtr)) return fail('corrupt', 'page ' + (index + 1) + ' has no readable size')
      const view = new DataView(pdfium.HEAPU8.buffer, sizePtr, 8)
      sizes.push({ width: view.getFloat32(0, true), height: view.getFloat32(4, true) })
    }
    return parentPort.postMessage({ kind: 'inspected', pageCount, sizes })
  }
  for (const target of task.pages) {
    if (target.index >= pageCount) return fail('corrupt', 'page ' + (target.index + 1) + ' is missing')
    const page = pdfium._FPDF_LoadPage(doc, target.index)
    if (!page) return fail('corrupt', 'page ' + (target.index + 1) + ' could not be loaded')
    const size = target.width * target.height * 4
    const pixels = pdfium.wasmExports.malloc(size)
    if (!pixels) return fail('memory', 'no memory for the page bitmap')
    const bitmap = pdfium._FPDFBitmap_CreateEx(target.width, target.height, 4, pixels, target.width * 4)
    if (!bitmap) return fail('memory', 'no memory for the page bitmap')
    pdfium._FPDFBitmap_FillRect(bitmap, 0, 0, target.width, target.height, 0xffffffff)
    pdfium._FPDF_RenderPageBitmap(bitmap, page, 0, 0, target.width, target.height, 0, FPDF_ANNOT | FPDF_REVERSE_BYTE_ORDER)
    const rgba = pdfium.HEAPU8.slice(pixels, pixels + size)
    pdfium._FPDFBitmap_Destroy(bitmap)
    pdfium.wasmExports.free(pixels)
    pdfium._FPDF_ClosePage(page)
    parentPort.postMessage({ kind: 'page', index: target.index, width: target.width, height: target.height, rgba }, [rgba.buffer])
  }
  parentPort.postMessage({ kind: 'done', heapBytes: pdfium.HEAPU8.length })
}

main().catch((error) => {
  if (heapVetoed) return fail('memory', 'over the memory limit')
  const message = error && error.message ? error.message : String(error)
  fail(/call stack|recursion/i.test(message) ? 'corrupt' : 'render', printed && /Aborted/.test(message) ? printed : message)
})
`

let modulePath: string | undefined
let wasmModule: Promise<WebAssembly.Module> | undefined

function pdfiumPaths(): { module: string; wasm: string } {
  const require = createRequire(import.meta.url)
  modulePath ??= require.resolve('@hyzyla/pdfium')
  return { module: modulePath, wasm: require.resolve('@hyzyla/pdfium/pdfium.wasm') }
}

/** Compiled once per process and shared with every worker (a Module is cloneable, an Instance is not). */
function compiledPdfium(): Promise<WebAssembly.Module> {
  wasmModule ??= readFile(pdfiumPaths().wasm).then((bytes) => WebAssembly.compile(bytes))
  wasmModule.catch(() => {
    wasmModule = undefined
  })
  return wasmModule
}

type WorkerMessage =
  | { kind: 'inspected'; pageCount: number; sizes: PageSize[] | null }
  | { kind: 'page'; index: number; width: number; height: number; rgba: Uint8Array }
  | { kind: 'done'; heapBytes: number }
  | { kind: 'failed'; failure: PdfFailureKind; reason: string }

type Task = { kind: 'inspect'; pages: number[] | null; maxSizes: number } | { kind: 'render'; pages: PageTarget[] }

async function runWorker(
  bytes: Buffer,
  task: Task,
  limits: RendererLimits,
  onMessage: (message: WorkerMessage) => 'continue' | 'finish',
): Promise<{ kind: 'ok' } | { kind: 'failed'; failure: PdfFailureKind; reason: string }> {
  const wasm = await compiledPdfium()
  return new Promise((resolve) => {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { modulePath: pdfiumPaths().module, wasmModule: wasm, bytes, task, maxHeapBytes: limits.maxHeapBytes },
      // The JavaScript side holds only the Emscripten glue and one page at a time; the
      // WebAssembly heap is capped separately through its growth hook.
      resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 32 },
    })
    let settled = false
    const finish = (result: { kind: 'ok' } | { kind: 'failed'; failure: PdfFailureKind; reason: string }): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      limits.signal?.removeEventListener('abort', onAbort)
      void worker.terminate()
      resolve(result)
    }
    const onAbort = (): void => finish({ kind: 'failed', failure: 'aborted', reason: 'the request was cancelled' })
    if (limits.signal?.aborted) queueMicrotask(onAbort)
    limits.signal?.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => finish({ kind: 'failed', failure: 'timeout', reason: `the renderer took longer than ${limits.timeoutMs} ms` }), limits.timeoutMs)
    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'failed') finish({ kind: 'failed', failure: message.failure, reason: message.reason })
      else if (onMessage(message) === 'finish') finish({ kind: 'ok' })
    })
    worker.once('error', (error) => {
      const memory = /memory|allocation/i.test(error.message)
      finish({ kind: 'failed', failure: memory ? 'memory' : 'render', reason: error.message.split('\n')[0]!.slice(0, 160) })
    })
    worker.once('exit', (code) => finish({ kind: 'failed', failure: 'render', reason: `the renderer stopped (exit code ${code})` }))
  })
}

/**
 * Opens the document and reads its page count and the sizes of the `pages` asked for
 * (zero-based; null: all, up to `maxSizes`). Nothing is rendered, so a 5000-page file is
 * measured in milliseconds. `sizes` is null when a selected page is past the end.
 */
export async function inspectPdf(bytes: Buffer, pages: number[] | null, maxSizes: number, limits: RendererLimits): Promise<InspectResult> {
  let inspected: InspectResult | undefined
  const outcome = await runWorker(bytes, { kind: 'inspect', pages, maxSizes }, limits, (message) => {
    if (message.kind === 'inspected') inspected = message
    return 'finish'
  })
  if (outcome.kind === 'failed') return outcome
  return inspected ?? { kind: 'failed', failure: 'render', reason: 'the renderer answered nothing' }
}

/**
 * Renders each target page at exactly its width x height (the caller picked them). With
 * `onPage`, each page is handed over as soon as it arrives and not kept, so only one
 * raw page at a time needs to be in memory; `pages` is then empty.
 */
export async function renderPdfPages(bytes: Buffer, targets: PageTarget[], limits: RendererLimits, onPage?: (page: RenderedPage) => void): Promise<RenderResult> {
  const pages: RenderedPage[] = []
  let heapBytes = 0
  const outcome = await runWorker(bytes, { kind: 'render', pages: targets }, limits, (message) => {
    if (message.kind === 'page') {
      const rgba = message.rgba
      const page = { index: message.index, width: message.width, height: message.height, rgba: Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength) }
      if (onPage) onPage(page)
      else pages.push(page)
      return 'continue'
    }
    if (message.kind === 'done') heapBytes = message.heapBytes
    return 'finish'
  })
  if (outcome.kind === 'failed') return outcome
  return { kind: 'rendered', pages, heapBytes }
}
