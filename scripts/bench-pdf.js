#!/usr/bin/env node
// PDF rendering benchmark: for a 10-page text PDF and a 10-page scanned PDF (one A4 JPEG
// per page, as scanners write them), generated at run time, the time to read the page
// tree, the time per page to render and encode at each `detail`, the renderer's peak
// WebAssembly heap, the process's peak RSS, and the tokens per page. Each row runs in a
// fresh child process so its peak RSS is its own. Prints a markdown table to stdout;
// progress to stderr. Needs the built code (`npx tsc -b`).
//
//   node scripts/bench-pdf.js [--runs 3]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PDFDocument, StandardFonts } from 'pdf-lib'
import sharp from 'sharp'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '3' }, child: { type: 'boolean', default: false } },
})
const runs = Math.max(1, Number(values.runs))
const dist = new URL('../packages/server/dist/documents/', import.meta.url)

if (values.child) await child(positionals[0], positionals[1], runs)
else await parent()

function peakRssMiB() {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return match ? Number(match[1]) / 1024 : NaN
}

async function child(file, detail, count) {
  const { PdfDocuments, defaultDocumentOptions } = await import(new URL('pdf-documents.js', dist))
  const { renderPdfPages } = await import(new URL('pdf-renderer.js', dist))
  const bytes = readFileSync(file)
  const docs = new PdfDocuments({ ...defaultDocumentOptions, maxPagesPerRequest: 100, maxPageTokensPerRequest: 1e9 })
  const part = { type: 'file', where: 'bench', filename: 'bench.pdf', fileData: bytes.toString('base64'), fileId: undefined, pages: undefined, detail }
  // Compiling the WebAssembly module happens once per server process; keep it out of the rows.
  await docs.inspect(part)
  const startRss = peakRssMiB()
  const inspectMs = []
  const renderMs = []
  const totalMs = []
  let heap = 0
  let doc
  for (let i = 0; i < count; i++) {
    let t = performance.now()
    doc = await docs.inspect(part)
    inspectMs.push(performance.now() - t)
    const targets = doc.pages.map((p) => ({ index: p.number - 1, width: p.width, height: p.height }))
    t = performance.now()
    const rendered = await renderPdfPages(bytes, targets, { timeoutMs: 120_000, maxHeapBytes: defaultDocumentOptions.maxRendererBytes }, () => {})
    renderMs.push(performance.now() - t)
    heap = Math.max(heap, rendered.heapBytes)
    t = performance.now()
    await docs.render(doc)
    totalMs.push(performance.now() - t)
  }
  const median = (list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]
  const pages = doc.pages.length
  process.stdout.write(
    JSON.stringify({
      pages,
      size: `${doc.pages[0].width}x${doc.pages[0].height}`,
      tokens: doc.pages[0].tokens,
      inspectMs: median(inspectMs),
      renderPerPageMs: median(renderMs) / pages,
      totalPerPageMs: median(totalMs) / pages,
      heapMiB: heap / 1024 / 1024,
      rssAboveStartMiB: peakRssMiB() - startRss,
      rssMiB: peakRssMiB(),
    }),
  )
}

async function textPdf(pages) {
  const doc = await PDFDocument.create()
  const font = await doc.embedFont(StandardFonts.TimesRoman)
  for (let i = 1; i <= pages; i++) {
    const page = doc.addPage([595, 842])
    page.drawText(`Chapter ${i}`, { x: 60, y: 780, size: 24, font })
    for (let line = 0; line < 60; line++) {
      page.drawText(`${i}.${line + 1} The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.`, { x: 60, y: 740 - line * 11.5, size: 9.5, font })
    }
  }
  return Buffer.from(await doc.save())
}

async function scannedPdf(pages) {
  const doc = await PDFDocument.create()
  const width = 2480
  const height = 3508 // A4 at 300 dpi
  for (let i = 1; i <= pages; i++) {
    const pixels = Buffer.alloc(width * height)
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const ink = y % 48 < 9 && x > 200 && x < width - 200 && ((x * 7 + y + i) >> 4) % 5 !== 0
        pixels[y * width + x] = ink ? 30 + ((x + y) % 20) : 232 + ((x * 13 + y * 7) % 19)
      }
    }
    const jpeg = await sharp(pixels, { raw: { width, height, channels: 1 } })
      .jpeg({ quality: 75 })
      .toBuffer()
    const image = await doc.embedJpg(jpeg)
    doc.addPage([595, 842]).drawImage(image, { x: 0, y: 0, width: 595, height: 842 })
  }
  return Buffer.from(await doc.save())
}

async function parent() {
  const dir = mkdtempSync(join(tmpdir(), 'visto-bench-pdf-'))
  try {
    const inputs = [
      { name: '10-page text PDF (A4, 60 lines a page)', bytes: await textPdf(10) },
      { name: '10-page scanned PDF (A4 grey JPEG at 300 dpi a page)', bytes: await scannedPdf(10) },
    ]
    const rows = []
    for (const input of inputs) {
      const file = join(dir, `${rows.length}.pdf`)
      writeFileSync(file, input.bytes)
      for (const detail of ['low', 'auto', 'high']) {
        process.stderr.write(`bench-pdf: ${input.name}, detail ${detail}\n`)
        const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--runs', String(runs), file, detail], { encoding: 'utf8' })
        rows.push({ input: `${input.name}, ${(input.bytes.length / 1024 / 1024).toFixed(1)} MiB`, detail, ...JSON.parse(out) })
      }
    }
    const f = (n, digits = 0) => n.toFixed(digits)
    console.log(`### PDF rendering (median of ${runs} runs, fresh process per row, after one warm-up read; peak RSS by VmHWM over all runs)\n`)
    console.log(
      `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${f(totalmem() / 1024 ** 3, 1)} GiB, Node ${process.version}. PDFium (WebAssembly) in a worker thread, then the JPEG encoder images use.\n`,
    )
    console.log(
      '| input | detail | page size | tokens / page | read page tree (ms) | render / page (ms) | render + encode / page (ms) | renderer heap peak (MiB) | peak RSS above start (MiB) | peak RSS (MiB) |',
    )
    console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of rows) {
      console.log(
        `| ${r.input} | ${r.detail} | ${r.size} | ${r.tokens} | ${f(r.inspectMs)} | ${f(r.renderPerPageMs)} | ${f(r.totalPerPageMs)} | ${f(r.heapMiB)} | ${f(r.rssAboveStartMiB)} | ${f(r.rssMiB)} |`,
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
