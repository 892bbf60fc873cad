#!/usr/bin/env node
// Large fuzz run of the image pipeline (issue 4, item 8): hostile images through the
// built code (run `npm run build` first). Every case must end in a usable image or a
// 400/413 "Invalid image data…" / "Image too large…" ApiError; anything else is a
// violation and the exit code is 1.
//
//   node scripts/fuzz-images.js --cases 200000 [--seed 7] [--concurrency 4] [--json]
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import sharp from 'sharp'

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    concurrency: { type: 'string', default: String(Math.max(2, availableParallelism())) },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log('usage: node scripts/fuzz-images.js [--cases N] [--seed S] [--concurrency C] [--json]')
  process.exit(0)
}
const cases = Number(values.cases)
const seed = Number(values.seed)
const concurrency = Number(values.concurrency)
if (!(cases > 0 && Number.isInteger(seed) && concurrency > 0)) {
  console.error('fuzz-images: --cases, --seed and --concurrency must be positive integers')
  process.exit(2)
}

let pipeline, fuzz
try {
  pipeline = await import('../packages/server/dist/images/pipeline.js')
  fuzz = await import('../packages/server/dist/images/image-fuzz.js')
} catch (error) {
  console.error(`fuzz-images: cannot load the built pipeline (${error.message}); run \`npm run build\` first`)
  process.exit(2)
}

/** A 24-bit bottom-up BMP and an 8-bit palette one, written by hand (libvips cannot write BMP). */
function bmp(width, height, bitsPerPixel) {
  const paletteSize = bitsPerPixel === 8 ? 256 * 4 : 0
  const stride = Math.floor((bitsPerPixel * width + 31) / 32) * 4
  const offset = 54 + paletteSize
  const file = Buffer.alloc(offset + stride * height)
  file.write('BM', 0, 'latin1')
  file.writeUInt32LE(file.length, 2)
  file.writeUInt32LE(offset, 10)
  file.writeUInt32LE(40, 14)
  file.writeInt32LE(width, 18)
  file.writeInt32LE(height, 22)
  file.writeUInt16LE(1, 26)
  file.writeUInt16LE(bitsPerPixel, 28)
  for (let i = 0; i < paletteSize / 4; i++) file.writeUInt32LE(i * 0x010101, 54 + i * 4)
  for (let y = 0; y < height; y++) for (let x = 0; x < stride; x++) file[offset + y * stride + x] = (x * 7 + y * 13) & 0xff
  return file
}

async function seeds() {
  const noise = Buffer.alloc(48 * 40 * 3)
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24
  const base = () => sharp(noise, { raw: { width: 48, height: 40, channels: 3 } })
  const frames = Buffer.alloc(24 * 32 * 3)
  for (let i = 0; i < frames.length; i++) frames[i] = i < frames.length / 2 ? 200 : 30
  const alpha = sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.3 } } })
  return [
    { name: 'jpeg', format: 'jpeg', bytes: await base().jpeg().toBuffer() },
    { name: 'progressive-jpeg', format: 'jpeg', bytes: await base().jpeg({ progressive: true }).toBuffer() },
    { name: 'exif-jpeg', format: 'jpeg', bytes: await base().jpeg().withMetadata({ orientation: 8 }).toBuffer() },
    { name: 'png', format: 'png', bytes: await base().png().toBuffer() },
    { name: 'alpha-png', format: 'png', bytes: await alpha.png().toBuffer() },
    { name: 'webp', format: 'webp', bytes: await base().webp().toBuffer() },
    { name: 'lossless-webp', format: 'webp', bytes: await base().webp({ lossless: true }).toBuffer() },
    { name: 'gif', format: 'gif', bytes: await sharp(frames, { raw: { width: 24, height: 32, channels: 3, pageHeight: 16 } }).gif().toBuffer() },
    { name: 'tiff', format: 'tiff', bytes: await base().tiff().toBuffer() },
    { name: 'avif', format: 'avif', bytes: await base().avif({ effort: 0 }).toBuffer() },
    { name: 'bmp24', format: 'bmp', bytes: bmp(30, 20, 24) },
    { name: 'bmp8', format: 'bmp', bytes: bmp(33, 9, 8) },
  ]
}

const seedImages = await seeds()
const options = { ...pipeline.defaultImagePipelineOptions, decodeTimeoutSeconds: 10 }
const tally = { accepted: 0, refused: 0, violations: 0 }
const byCode = new Map()
const violations = []
let peakRss = process.memoryUsage().rss
let next = 0
const started = performance.now()
let lastReport = started

async function worker() {
  while (next < cases) {
    const index = next++
    const testCase = fuzz.fuzzCase(seedImages, index, seed)
    let outcome
    try {
      const image = await pipeline.prepareImage(testCase.url, `messages[0].content[${index}]`, options, index % 3 === 0 ? 'low' : undefined)
      outcome = fuzz.checkAccepted(image, options.alignTo, options.pixelBudget.auto)
    } catch (error) {
      outcome = fuzz.classifyFailure(error)
    }
    if (outcome.kind === 'violation') {
      tally.violations++
      if (violations.length < 50) violations.push(`case ${index} (--seed ${seed}) ${testCase.label}: ${outcome.reason}`)
    } else {
      tally[outcome.kind]++
      const key = outcome.kind === 'accepted' ? 'accepted' : `${outcome.status} ${outcome.code}`
      byCode.set(key, (byCode.get(key) ?? 0) + 1)
    }
    if (index % 256 === 0) {
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      const now = performance.now()
      if (!values.json && now - lastReport > 5000) {
        lastReport = now
        process.stderr.write(`fuzz-images: ${index}/${cases} cases, ${tally.violations} violations, rss ${(peakRss / 2 ** 20).toFixed(0)} MiB\n`)
      }
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker))
const seconds = (performance.now() - started) / 1000
peakRss = Math.max(peakRss, process.memoryUsage().rss)
const report = {
  cases,
  seed,
  concurrency,
  seconds: Number(seconds.toFixed(1)),
  casesPerSecond: Math.round(cases / seconds),
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  ...tally,
  outcomes: Object.fromEntries([...byCode.entries()].sort((a, b) => b[1] - a[1])),
  firstViolations: violations,
}
if (values.json) {
  console.log(JSON.stringify(report, null, 2))
} else {
  console.log(`image fuzz: ${cases} cases (seed ${seed}, concurrency ${concurrency}) in ${report.seconds} s (${report.casesPerSecond}/s), peak RSS ${report.peakRssMiB} MiB`)
  console.log(`  accepted ${tally.accepted}, refused ${tally.refused}, violations ${tally.violations}`)
  for (const [key, count] of Object.entries(report.outcomes)) console.log(`  ${String(count).padStart(8)}  ${key}`)
  for (const line of violations) console.log(`  VIOLATION ${line}`)
  console.log(`${tally.accepted + tally.refused} passed, ${tally.violations} failed`)
}
process.exit(tally.violations === 0 ? 0 : 1)
