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
//   node scripts/bench-embedding-cache.js [--model FILE --mmproj FILE] [--threads N] [--engine-log FILE]
import { appendFileSync, existsSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    mmproj: { type: 'string' },
    threads: { type: 'string', default: String(os.cpus().length) },
    'engine-log': { type: 'string' },
  },
})
const progress = (line) => process.stderr.write(`bench-embedding-cache: ${line}\n`)
const standin = join(os.homedir(), '.cache/visto/standin/qwen3-vl-4b')
const model = values.model ?? join(standin, 'model.gguf')
const mmproj = values.mmproj ?? join(standin, 'mmproj.gguf')
if (!existsSync(model) || !existsSync(mmproj)) {
  process.stdout.write(
    `_Not run: no model at ${model} (generate the full-size stand-in with \`npx visto standin --preset qwen3-vl-4b --out ${standin}\`, or pass --model and --mmproj)._\n`,
  )
  process.exit(0)
}

const { parseServeConfig } = await import('../packages/server/dist/config.js')
const { startServer } = await import('../packages/server/dist/main.js')
const { default: sharp } = await import('sharp')
const { photoRaw } = await import('../packages/testkit/dist/images/test-images.js')

const jpegOf = async (width, height, seed) =>
  `data:image/jpeg;base64,${(
    await sharp(photoRaw(width, height, seed), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer()
  ).toString('base64')}`

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
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: question },
            { type: 'image_url', image_url: { url: image } },
          ],
        },
      ],
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

/** A Visto with the image cache off (0) or at its default size (undefined), collecting the engine's own timings. */
async function startVisto(cacheMb) {
  const label = cacheMb === 0 ? 'off' : 'on'
  // The patch logs every run of the vision encoder, llama-server its prompt time: the lines during a request are that request's.
  const engine = { encoderMs: [], promptMs: [] }
  const engineLog = (line) => {
    if (values['engine-log']) appendFileSync(values['engine-log'], `${label}: ${line}\n`)
    const encoder = /vision encoder: \d+ chunk\(s\) in ([\d.]+) ms/.exec(line)
    if (encoder) engine.encoderMs.push(Number(encoder[1]))
    const prompt = /prompt eval time =\s*([\d.]+) ms/.exec(line)
    if (prompt) engine.promptMs.push(Number(prompt[1]))
  }
  const args = [
    '--port',
    '0',
    '--model',
    model,
    '--mmproj',
    mmproj,
    '--parallel',
    '1',
    '--ctx-size',
    '4096',
    '--threads',
    values.threads,
    '--response-cache-mb',
    '0',
    '--log-level',
    'silent',
  ]
  if (cacheMb !== undefined) args.push('--image-cache-mb', String(cacheMb))
  progress(`starting Visto with the image cache ${label}`)
  const server = await startServer(parseServeConfig(args, {}), { log: () => {}, engineLog })
  await server.ready
  await ask(server, 'Warm-up.', warmupImage)
  return { server, engine, label, rows: [] }
}

async function measure(target, question) {
  target.engine.encoderMs = []
  target.engine.promptMs = []
  progress(`  cache ${target.label}: "${question}"`)
  const result = await ask(target.server, question, photo)
  // llama-server prints its timings as it answers; give the log a moment to arrive.
  await new Promise((r) => setTimeout(r, 500))
  const sum = (list) => list.reduce((a, b) => a + b, 0)
  const row = { ...result, encoderMs: sum(target.engine.encoderMs), encoderRuns: target.engine.encoderMs.length, promptMs: sum(target.engine.promptMs) }
  target.rows.push(row)
  progress(`    ${(row.ttftMs / 1000).toFixed(1)} s to the first token, vision encoder ${row.encoderRuns} run(s)`)
}

const loadStart = os.loadavg()[0]
const date = new Date().toISOString()
// Both servers stay loaded and the requests alternate off, on, on, off, so bursts of other
// work on a shared machine fall on both sides alike; only one computes at a time.
const off = await startVisto(0)
const on = await startVisto(undefined)
let loadEnd
try {
  await measure(off, QUESTIONS[0])
  await measure(on, QUESTIONS[0])
  await measure(on, QUESTIONS[1])
  await measure(off, QUESTIONS[1])
  loadEnd = os.loadavg()[0]
  on.hits = await engineSample(on.server, 'visto_engine_llamacpp_image_cache_hits_total')
  on.bytes = await engineSample(on.server, 'visto_engine_llamacpp_image_cache_bytes')
} finally {
  await Promise.all([off.server.shutdown(), on.server.shutdown()])
}

if (on.hits === undefined) throw new Error('the engine reports no image cache metrics: it is not Visto’s own build (run `npx visto engine build`)')
const s = (ms) => (ms / 1000).toFixed(1)
const encoder = (r) => (r.encoderRuns > 0 ? `${s(r.encoderMs)} s` : 'skipped')
const row = (label, m) => {
  const [first, second] = m.rows
  return `| ${label} | ${first.promptTokens} | ${s(first.ttftMs)} | ${encoder(first)} (${Math.round((100 * first.encoderMs) / first.ttftMs)} %) | ${s(first.promptMs)} | ${s(second.ttftMs)} | ${encoder(second)} | ${s(second.promptMs)} | ${(second.ttftMs / first.ttftMs).toFixed(2)}× |`
}
process.stdout.write(
  `${date}; ${values.threads} engine threads, one slot per server, response cache off; load average (1 min) ${loadStart.toFixed(1)} at start, ${loadEnd.toFixed(1)} at the end. ` +
    `One 12 MP JPEG (4000×3000, resized by Visto to its default pixel budget), asked "${QUESTIONS[0]}" and then "${QUESTIONS[1]}", the question before the image. ` +
    `Time to first token (TTFT) is the latency of a one-token answer: image preprocessing, prompt and vision encoder included. ` +
    `Two servers, cache off and on, both loaded, each warmed up with another image; the requests ran in the order off, on, on, off, one at a time. ` +
    `"Vision encoder" is the engine's own time for it ("vision encoder: … in X ms", from Visto's patch); "engine prompt" is llama-server's prompt eval time (encoder plus decoding every prompt token, image tokens included).\n\n` +
    `| image embedding cache | prompt tokens | first question: TTFT s | vision encoder (share of TTFT) | engine prompt s | second question: TTFT s | vision encoder | engine prompt s | second ÷ first |\n` +
    `|---|---:|---:|---:|---:|---:|---|---:|---:|\n` +
    `${row('off (`--image-cache-mb 0`)', off)}\n${row('on (256 MiB, the default until 2026-12-03)', on)}\n\n` +
    `With the cache on, the second question was a hit (${on.hits} hit${on.hits === 1 ? '' : 's'}); the photo's embeddings take ${(on.bytes / 1024 / 1024).toFixed(1)} MiB of the cache.\n`,
)
process.exit(0)
