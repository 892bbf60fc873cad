#!/usr/bin/env node
// Image preprocessing benchmark: time and peak memory of Visto's pipeline versus decoding
// the whole file and then resizing, for a 12 MP JPEG, a 4K PNG and a 20 MP BMP generated
// at run time. Each measurement runs in a fresh child process
// so peak RSS belongs to that one job. Prints a markdown table to stdout; progress to
// stderr. Needs the built code (`npm run build`).
//
//   node scripts/bench-images.js [--runs 3]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import sharp from 'sharp'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '3' }, child: { type: 'boolean', default: false } },
})
const runs = Math.max(1, Number(values.runs))
const dist = new URL('../packages/server/dist/images/', import.meta.url)

if (values.child) {
  await child(positionals[0], positionals[1], runs)
} else {
  await parent()
}

/** One method on one file, in this process: median time and peak RSS above the start. */
async function child(method, file, count) {
  const { prepareImageBytes, defaultImagePipelineOptions } = await import(new URL('pipeline.js', dist))
  const { configureSharp } = await import(new URL('normalise.js', dist))
  const { decodeBmp, readBmpHeader } = await import(new URL('bmp-decoder.js', dist))
  const { smartResize } = await import(new URL('smart-resize.js', dist))
  const { minImagePixels, tokenSide } = await import(new URL('../engines/vision-geometry.js', dist))
  configureSharp()
  const bytes = readFileSync(file)
  const options = { ...defaultImagePipelineOptions, maxImageBytes: 256 * 1024 * 1024 }
  const isBmp = bytes.toString('latin1', 0, 2) === 'BM'

  const fullDecodeThenResize = async () => {
    let raster
    if (isBmp) {
      const decoded = decodeBmp(bytes, readBmpHeader(bytes), 1)
      raster = { data: decoded.data, info: { width: decoded.width, height: decoded.height, channels: decoded.channels } }
    } else {
      raster = await sharp(bytes, { limitInputPixels: false }).raw().toBuffer({ resolveWithObject: true })
    }
    const { width, height, channels } = raster.info
    const target = smartResize(width, height, { factor: tokenSide(options.geometry()), minPixels: minImagePixels(options.geometry()), maxPixels: options.pixelBudget.auto })
    return sharp(raster.data, { raw: { width, height, channels } })
      .resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 90, chromaSubsampling: '4:4:4' })
      .toBuffer({ resolveWithObject: true })
      .then(({ info }) => `${info.width}x${info.height}`)
  }
  const pipeline = async () => {
    const image = await prepareImageBytes(bytes, 'bench', options)
    return `${image.width}x${image.height}`
  }
  const job = method === 'visto' ? pipeline : fullDecodeThenResize

  global.gc?.()
  const rssBefore = process.memoryUsage().rss
  const peak = peakRssMeter()
  const times = []
  let output = ''
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    output = await job()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const peakRss = peak.read()
  console.log(
    JSON.stringify({ medianMs: times[Math.floor(times.length / 2)], peakAboveStartMiB: (peakRss - rssBefore) / 2 ** 20, peakRssMiB: peakRss / 2 ** 20, output, meter: peak.how }),
  )
}

/**
 * Peak RSS from now on. Linux lets a process reset its high-water mark (clear_refs 5),
 * so module loading and input reading do not hide the job's own peak; elsewhere we
 * sample every millisecond (libvips works off the JS thread, so sampling keeps running).
 */
function peakRssMeter() {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
    return {
      how: 'VmHWM',
      read: () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024,
    }
  } catch {
    let max = process.memoryUsage().rss
    const timer = setInterval(() => (max = Math.max(max, process.memoryUsage().rss)), 1)
    return {
      how: 'sampled',
      read: () => {
        clearInterval(timer)
        return Math.max(max, process.memoryUsage().rss)
      },
    }
  }
}

/** A bottom-up 24-bit BMP of raw RGB (libvips cannot write BMP). */
async function bmp24(width, height, rgb) {
  const { writeBmp } = await import('../packages/testkit/dist/images/bmp-writer.js')
  return writeBmp({
    width,
    height,
    bitsPerPixel: 24,
    pixel: (x, y) => {
      const s = (y * width + x) * 3
      return [rgb[s], rgb[s + 1], rgb[s + 2], 255]
    },
  })
}

async function parent() {
  const { photoRaw } = await import('../packages/testkit/dist/images/test-images.js')
  const dir = mkdtempSync(join(tmpdir(), 'visto-bench-images-'))
  try {
    process.stderr.write('bench-images: generating inputs…\n')
    const inputs = [
      {
        label: '12 MP JPEG (4000×3000)',
        file: join(dir, 'photo.jpg'),
        make: () =>
          sharp(photoRaw(4000, 3000, 1), { raw: { width: 4000, height: 3000, channels: 3 } })
            .jpeg({ quality: 90 })
            .toBuffer(),
      },
      {
        label: '4K PNG (3840×2160)',
        file: join(dir, 'screen.png'),
        make: () =>
          sharp(photoRaw(3840, 2160, 2), { raw: { width: 3840, height: 2160, channels: 3 } })
            .png()
            .toBuffer(),
      },
      { label: '20 MP BMP (5472×3648, 24-bit)', file: join(dir, 'scan.bmp'), make: () => bmp24(5472, 3648, photoRaw(5472, 3648, 3)) },
    ]
    for (const input of inputs) writeFileSync(input.file, await input.make())
    const script = fileURLToPath(import.meta.url)
    const rows = []
    for (const input of inputs) {
      const size = readFileSync(input.file).length
      for (const [method, name] of [
        ['visto', 'Visto pipeline (shrink-on-load)'],
        ['full', 'decode fully, then resize'],
      ]) {
        process.stderr.write(`bench-images: ${input.label}: ${name}…\n`)
        const out = execFileSync(process.execPath, ['--expose-gc', script, '--child', '--runs', String(runs), method, input.file], { encoding: 'utf8', maxBuffer: 1 << 20 })
        const result = JSON.parse(out.trim().split('\n').at(-1))
        rows.push({ input: `${input.label}, ${(size / 2 ** 20).toFixed(1)} MiB`, name, ...result })
      }
    }
    console.log(`### Image preprocessing (median of ${runs} runs, fresh process per row; peak RSS by ${rows[0].meter})\n`)
    console.log('| input | method | output | time (ms) | peak RSS above start (MiB) | peak RSS (MiB) |')
    console.log('| --- | --- | --- | ---: | ---: | ---: |')
    for (const row of rows) {
      console.log(`| ${row.input} | ${row.name} | ${row.output} | ${row.medianMs.toFixed(0)} | ${row.peakAboveStartMiB.toFixed(0)} | ${row.peakRssMiB.toFixed(0)} |`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
