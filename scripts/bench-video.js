#!/usr/bin/env node
// Video benchmark: for a 30 s 720p clip and a 5 min 1080p clip (H.264, made by ffmpeg from
// its moving test pattern at run time), at each `detail`: the time to read the headers,
// the time to decode the planned frames and encode the images the engine gets, ffmpeg's
// own peak memory (its -benchmark maxrss, in a second run of the same decode), this
// process's peak RSS, and what the video costs in the prompt (frames, images, image
// tokens, prompt tokens with the timestamps counted as Qwen3-VL's tokenizer splits them).
// Each row runs in a fresh child process so its peak RSS is its own. Prints a markdown
// table to stdout; progress to stderr. Needs the built code (`npx tsc -b`) and ffmpeg.
//
//   node scripts/bench-video.js [--runs 3] [--budget 2048] [--quick]
//
// --quick uses 3 s clips instead (a check that the script works, not a measurement).
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    budget: { type: 'string', default: '2048' },
    quick: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
  },
})
const runs = Math.max(1, Number(values.runs))
const budget = Number(values.budget)
const dist = new URL('../packages/server/dist/', import.meta.url)

if (values.child) await child(positionals[0], positionals[1], runs)
else await parent()

function peakRssMiB() {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return match ? Number(match[1]) / 1024 : NaN
}

async function child(file, detail, count) {
  const { Videos, videoOptionsFrom, estimatedLabelTokens } = await import(new URL('video/videos.js', dist))
  const { extractArgs } = await import(new URL('video/frame-extractor.js', dist))
  const { serveConfig } = await import(new URL('config.js', dist))
  const { imagePipelineOptions } = await import(new URL('images/pipeline.js', dist))
  const { Semaphore } = await import(new URL('images/semaphore.js', dist))
  const { qwen3VlGeometry } = await import(new URL('engines/vision-geometry.js', dist))
  const config = serveConfig({ 'max-video-tokens': budget, 'max-video-mb': 4096, 'max-video-seconds': 3600, 'video-timeout-seconds': 3600 })
  const images = imagePipelineOptions(config, { geometry: () => qwen3VlGeometry, decodeSlots: new Semaphore(1) })
  const videos = new Videos(videoOptionsFrom(config, images))
  const bytes = readFileSync(file)
  const part = { type: 'video', where: 'bench', url: bytes.toString('base64'), fileId: undefined, fps: undefined, maxFrames: undefined, detail }
  const startRss = peakRssMiB()
  const inspectMs = []
  const renderMs = []
  let video
  for (let i = 0; i < count; i++) {
    let t = performance.now()
    video = await videos.inspect(part)
    inspectMs.push(performance.now() - t)
    t = performance.now()
    await videos.render(video)
    renderMs.push(performance.now() - t)
  }
  // The same decode again with ffmpeg's own accounting: its peak resident memory.
  const { plan } = video
  const args = extractArgs(file, {
    sampleRate: plan.sampleRate,
    frames: plan.frameTimes.length,
    width: plan.width,
    height: plan.height,
    maxSeconds: Math.ceil(video.probed.durationSeconds + 1),
    maxSourcePixels: videos.options.maxFramePixels,
    threads: videos.options.decoderThreads,
  }).map((arg) => (arg === 'error' ? 'info' : arg))
  args.splice(args.indexOf('pipe:1'), 1, '-benchmark', '-y', '/dev/null')
  const benchmark = spawnSync(videos.options.tools.ffmpeg, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  const maxrss = /maxrss=(\d+)k(?:i)?B/i.exec(benchmark.stderr ?? '')
  const median = (list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]
  const labelTokens = plan.pairs.reduce((sum, pair) => sum + estimatedLabelTokens(pair.label), 0)
  process.stdout.write(
    JSON.stringify({
      duration: video.probed.durationSeconds,
      frames: plan.frameTimes.length,
      images: plan.pairs.length,
      size: `${plan.width}x${plan.height}`,
      imageTokens: plan.imageTokens,
      promptTokens: plan.imageTokens + plan.markerTokens + labelTokens,
      inspectMs: median(inspectMs),
      renderMs: median(renderMs),
      ffmpegMiB: maxrss ? Number(maxrss[1]) / 1024 : NaN,
      rssAboveStartMiB: peakRssMiB() - startRss,
      rssMiB: peakRssMiB(),
    }),
  )
}

function makeClip(file, seconds, width, height) {
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=duration=${seconds}:size=${width}x${height}:rate=30`,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '26',
    '-pix_fmt',
    'yuv420p',
    file,
  ])
}

async function parent() {
  if (spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status !== 0) {
    console.error('bench-video: ffmpeg is not on PATH (apt-get install ffmpeg)')
    process.exit(2)
  }
  const dir = mkdtempSync(join(tmpdir(), 'visto-bench-video-'))
  try {
    const inputs = values.quick
      ? [{ name: '3 s 720p H.264 (quick check)', seconds: 3, width: 1280, height: 720 }]
      : [
          { name: '30 s 720p30 H.264', seconds: 30, width: 1280, height: 720 },
          { name: '5 min 1080p30 H.264', seconds: 300, width: 1920, height: 1080 },
        ]
    const rows = []
    for (const input of inputs) {
      const file = join(dir, `${rows.length}.mp4`)
      process.stderr.write(`bench-video: encoding ${input.name}\n`)
      makeClip(file, input.seconds, input.width, input.height)
      for (const detail of ['low', 'auto', 'high']) {
        process.stderr.write(`bench-video: ${input.name}, detail ${detail}\n`)
        const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--runs', String(runs), '--budget', String(budget), file, detail], {
          encoding: 'utf8',
        })
        rows.push({ input: `${input.name}, ${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB`, detail, ...JSON.parse(out) })
      }
    }
    const f = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–')
    console.log(`### Video frames (median of ${runs} runs, fresh process per row; --max-video-tokens ${budget})\n`)
    console.log(
      `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${f(totalmem() / 1024 ** 3, 1)} GiB, Node ${process.version}. ffprobe, then one ffmpeg child decoding and scaling the sampled frames, then the JPEG encoder images use.\n`,
    )
    console.log(
      '| input | detail | frames | images | image size | image tokens | prompt tokens | read headers (ms) | decode + encode (ms) | ffmpeg peak RSS (MiB) | Visto peak RSS above start (MiB) |',
    )
    console.log('| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of rows) {
      console.log(
        `| ${r.input} | ${r.detail} | ${r.frames} | ${r.images} | ${r.size} | ${r.imageTokens} | ${r.promptTokens} | ${f(r.inspectMs)} | ${f(r.renderMs)} | ${f(r.ffmpegMiB)} | ${f(r.rssAboveStartMiB)} |`,
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
