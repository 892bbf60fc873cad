#!/usr/bin/env node
// Image embedding cache benchmark: time to first token for a first question about a 12 MP
// photo and for a different second question about the same photo, with the engine's image
// embedding cache off (--image-cache-mb 0) and on (the default), and the vision encoder's
// share of the first. The question comes before the image, so llama-server's prompt cache
// cannot reuse the image for the second question: without the embedding cache the encoder
// runs again. Visto runs in this process on the full-size stand-in (or --model/--mmproj)
// with one slot and the response cache off. Prints a markdown section to stdout, progress
// to stderr. Needs the built code (`npx tsc -b`) and Visto's own engine build (the cache
// and the encoder's timings come from its patch).
//
//   node scripts/bench-embedding-cache.js [--model FILE --mmproj FILE] [--threads N]
import { existsSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    mmproj: { type: 'string' },
    threads: { type: 'string', default: String(os.cpus().length) },
  },
})
const progress = (line) => process.stderr.write(`bench-embedding-cache: ${line}\n`)
const standin = join(os.homedir(), '.cache/visto/standin/qwen3-vl-4b')
const model = values.model ?? join(standin, 'model.gguf')
const mmproj = values.mmproj ?? join(standin, 'mmproj.gguf')
if (!existsSync(model) || !existsSync(mmproj)) {
  process.stdout.write(`_Not run: no model at ${model} (generate the full-size stand-in with \`npx visto standin --preset qwen3-vl-4b --out ${standin}\`, or pass --model and --mmproj)._\n`)
  process.exit(0)
}

const { parseServeConfig } = await import('../packages/server/dist/config.js')
const { startServer } = await import('../packages/server/dist/main.js')
const { default: sharp } = await import('sharp')

/** A smooth, photo-like field with some grain, so the encoder sees real structure. */
function photoRaw(width, height, seed) {
  const data = Buffer.alloc(width * height * 3)
  let state = seed
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 3) {
      state = (state * 1664525 + 1013904223) >>> 0
      const grain = (state >>> 28) - 8
      data[i] = Math.max(0, Math.min(255, ((x * 255) / width + grain) | 0))
      data[i + 1] = Math.max(0, Math.min(255, ((y * 255) / height + grain) | 0))
      data[i + 2] = Math.max(0, Math.min(255, (128 + 100 * Math.sin((x + y) / 150) + grain) | 0))
    }
  }
  return data
}

const jpegOf = async (width, height, seed) =>
  `data:image/jpeg;base64,${(await sharp(photoRaw(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer()).toString('base64')}`

progress('generating a 12 MP JPEG (4000×3000)')
const photo = await jpegOf(4000, 3000, 1)
const warmupImage = await jpegOf(256, 256, 2)
const QUESTIONS = ['Describe this photo in one sentence.', 'Which colours stand out in this photo, and where?']

/** One-token answer: its latency is the time to the first token (image preprocessing, prompt and encoder included). */
async function ask(server, question, image) {
  const started = performance.now()
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: [{ type: 'text', text: question }, { type: 'image_url', image_url: { url: image } }] }],
      max_tokens: 1,
      temperature: 0,
    }),
    signal: AbortSignal.timeout(15 * 60_000),
  })
  const body = await response.json()
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${JSON.stringify(body).slice(0, 300)}`)
  return { ttftMs: performance.now() - started, promptTokens: body.usage.prompt_tokens }
}

async function engineSample(server, name) {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

async function measure(cacheMb) {
  // The patch logs every run of the vision encoder; the lines between two requests are that request's.
  let encoderRuns = []
  const engineLog = (line) => {
    const match = /vision encoder: \d+ chunk\(s\) in ([\d.]+) ms/.exec(line)
    if (match) encoderRuns.push(Number(match[1]))
  }
  const args = ['--port', '0', '--model', model, '--mmproj', mmproj, '--parallel', '1', '--ctx-size', '4096', '--threads', values.threads, '--response-cache-mb', '0', '--log-level', 'silent']
  if (cacheMb !== undefined) args.push('--image-cache-mb', String(cacheMb))
  progress(`starting Visto with ${cacheMb === 0 ? 'the image cache off' : 'the image cache on (default size)'}`)
  const server = await startServer(parseServeConfig(args, {}), { log: () => {}, engineLog })
  try {
    await server.ready
    await ask(server, 'Warm-up.', warmupImage)
    const rows = []
    for (const question of QUESTIONS) {
      encoderRuns = []
      progress(`  "${question}"`)
      const result = await ask(server, question, photo)
      rows.push({ ...result, encoderMs: encoderRuns.reduce((a, b) => a + b, 0), encoderRuns: encoderRuns.length })
      progress(`    ${(result.ttftMs / 1000).toFixed(1)} s to the first token, vision encoder ${encoderRuns.length} run(s)`)
    }
    return { rows, hits: await engineSample(server, 'visto_engine_llamacpp_image_cache_hits_total'), bytes: await engineSample(server, 'visto_engine_llamacpp_image_cache_bytes') }
  } finally {
    await server.shutdown()
  }
}

const loadStart = os.loadavg()[0]
const date = new Date().toISOString()
const off = await measure(0)
const on = await measure(undefined)
const loadEnd = os.loadavg()[0]

if (on.hits === undefined) throw new Error('the engine reports no image cache metrics: it is not Visto’s own build (run `npx visto engine build`)')
const s = (ms) => (ms / 1000).toFixed(1)
const row = (label, m) => {
  const [first, second] = m.rows
  const share = first.encoderRuns > 0 ? `${s(first.encoderMs)} s (${Math.round((100 * first.encoderMs) / first.ttftMs)} %)` : '—'
  return `| ${label} | ${first.promptTokens} | ${s(first.ttftMs)} | ${share} | ${s(second.ttftMs)} | ${second.encoderRuns > 0 ? `ran (${s(second.encoderMs)} s)` : 'skipped'} | ${(second.ttftMs / first.ttftMs).toFixed(2)}× |`
}
process.stdout.write(
  `${date}; ${values.threads} engine threads, one slot, response cache off; load average (1 min) ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at the end. ` +
    `One 12 MP JPEG (4000×3000, resized by Visto to its default pixel budget), asked "${QUESTIONS[0]}" and then "${QUESTIONS[1]}", the question before the image; ` +
    `time to the first token is the latency of a one-token answer (preprocessing, queue, prompt and vision encoder included); an unmeasured warm-up request with another image comes first. ` +
    `The encoder times are the engine's own ("vision encoder: … in X ms" from Visto's patch).\n\n` +
    `| image embedding cache | prompt tokens | first question: TTFT s | vision encoder in it | second question: TTFT s | vision encoder | second ÷ first |\n` +
    `|---|---:|---:|---:|---:|---|---:|\n` +
    `${row('off (`--image-cache-mb 0`)', off)}\n${row('on (default 256 MiB)', on)}\n\n` +
    `With the cache on, the second question was a hit (${on.hits} hit${on.hits === 1 ? '' : 's'}); the photo's embeddings take ${(on.bytes / 1024 / 1024).toFixed(1)} MiB of the cache.\n`,
)
process.exit(0)
