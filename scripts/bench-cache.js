#!/usr/bin/env node
// Response-cache benchmark: how many repeated identical requests per second Visto answers
// from its response cache over loopback HTTP, text-only and with a 1 MP JPEG inline, and
// how long a /metrics scrape takes meanwhile. The server runs in this process with a stub
// engine (a hit never reaches the engine; the stub only fills the cache once); the load
// comes from a child process, so client and server do not share one event loop. Prints a
// markdown section to stdout, progress to stderr. Needs the built code (`npx tsc -b`).
//
//   node scripts/bench-cache.js [--seconds 5] [--connections 8]
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '8' },
    client: { type: 'boolean', default: false },
  },
})
const seconds = Math.max(1, Number(values.seconds))
const connections = Math.max(1, Number(values.connections))
const dist = new URL('../packages/server/dist/', import.meta.url)
const progress = (line) => process.stderr.write(`bench-cache: ${line}\n`)

if (values.client) await client(positionals[0], positionals[1], seconds, connections)
else await parent()

/** Load generator (child process): `connections` keep-alive loops posting the same body. */
async function client(url, bodyFile, durationS, parallel) {
  const body = readFileSync(bodyFile)
  const target = new URL(url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel })
  const deadline = performance.now() + durationS * 1000
  const latencies = []
  let ok = 0
  let notHit = 0
  const once = () =>
    new Promise((resolve, reject) => {
      const started = performance.now()
      const request = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (response) => {
          response.on('data', () => {})
          response.on('end', () => {
            latencies.push(performance.now() - started)
            if (response.statusCode === 200 && response.headers['x-visto-cache'] === 'hit') ok++
            else notHit++
            resolve()
          })
        },
      )
      request.on('error', reject)
      request.end(body)
    })
  const started = performance.now()
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < deadline) await once()
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const pick = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  process.stdout.write(JSON.stringify({ ok, notHit, elapsed, p50: pick(0.5), p99: pick(0.99) }))
  agent.destroy()
}

async function parent() {
  const { composeServer } = await import(new URL('compose.js', dist))
  const { serveConfig } = await import(new URL('config.js', dist))
  const { qwen3VlGeometry } = await import(new URL('engines/vision-geometry.js', dist))
  const { default: sharp } = await import('sharp')

  // About 120 tokens of answer, in word-sized deltas, as a real description would stream.
  const answer = Array.from({ length: 120 }, (_, i) => (i === 0 ? 'The' : ` word${i}`))
  const engine = {
    id: 'bench-stub',
    describe: () => ({ models: ['qwen3-vl-4b-instruct'], contextLength: 8192, parallel: 2, vision: true, geometry: qwen3VlGeometry, kind: 'bench-stub' }),
    state: () => ({ status: 'ready' }),
    health: async () => {},
    close: async () => {},
    async *generate() {
      for (const text of answer) yield { type: 'text', text }
      yield { type: 'done', finishReason: 'stop', promptTokens: 1100, completionTokens: answer.length }
    },
  }
  const { app, metrics } = await composeServer(serveConfig({ parallel: 2, 'max-queue': 64, 'response-cache-mb': 64, 'response-cache': 'deterministic', 'log-level': 'silent' }), {
    engine: { ...engine, start: async () => {}, kill: () => {} },
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })

  // A 1024×1024 photo-like JPEG (noise over a gradient, so it does not compress to nothing).
  const side = 1024
  const pixels = Buffer.alloc(side * side * 3)
  for (let i = 0; i < pixels.length; i++) pixels[i] = ((i % (side * 3)) / 12 + ((i * 2654435761) >>> 24) / 4) & 0xff
  const jpeg = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .jpeg({ quality: 85 })
    .toBuffer()
  const question = '请详细描述这张图片中的场景'
  const cases = [
    { name: 'text only', body: { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: question }], max_tokens: 256, temperature: 0 } },
    { name: 'text only, stream: true', body: { model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: question }], max_tokens: 256, temperature: 0, stream: true } },
    {
      name: `1 MP JPEG inline (${(jpeg.length / 1024).toFixed(0)} KiB)`,
      body: {
        model: 'qwen3-vl-4b-instruct',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: question },
              { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } },
            ],
          },
        ],
        max_tokens: 256,
        temperature: 0,
      },
    },
  ]

  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const dir = mkdtempSync(`${os.tmpdir()}/visto-bench-cache-`)
  const rows = []
  let scrapes = []
  try {
    for (const [index, c] of cases.entries()) {
      const payload = JSON.stringify(c.body)
      const file = `${dir}/body-${index}.json`
      writeFileSync(file, payload)
      // Fills the cache (the stub engine answers the miss); streamed and plain requests share an entry.
      const first = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload })
      await first.text()
      if (first.status !== 200 || !first.headers.get('x-visto-cache')) throw new Error(`${c.name}: the warm-up request answered ${first.status}`)
      progress(`${c.name}: ${connections} connections for ${seconds} s`)
      const load = runClient(`${base}/v1/chat/completions`, file)
      const scrapeTimes = index === 0 ? scrapeWhile(base, load) : Promise.resolve([])
      const result = await load
      if (index === 0) scrapes = await scrapeTimes
      rows.push({ name: c.name, bytes: payload.length, ...result })
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await app.close()
    metrics.close()
  }

  const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  const table = [
    '| request | body | hits/s | p50 ms | p99 ms | hits | not hits |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.bytes / 1024, 1)} KiB | ${fmt(r.ok / r.elapsed)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.ok} | ${r.notHit} |`),
  ].join('\n')
  scrapes.sort((a, b) => a - b)
  const at = (p) => scrapes[Math.min(scrapes.length - 1, Math.floor(p * scrapes.length))] ?? 0
  const scrapeLine = scrapes.length ? `\`GET /metrics\` while the text-only load ran: ${scrapes.length} scrapes, median ${fmt(at(0.5), 1)} ms, p95 ${fmt(at(0.95), 1)} ms.` : ''
  process.stdout.write(
    `Loopback HTTP, ${connections} keep-alive connections from a separate load process for ${seconds} s per row, every request identical after one miss that filled the cache; ` +
      `the server has the default 64 MiB cache and a stub engine (hits never reach it). A hit parses the JSON body, hashes every image's decoded bytes (sha256), looks the key up and replays the stored answer (120 deltas, usage as computed first).\n\n` +
      `${table}\n\n${scrapeLine}\n`,
  )
  process.exit(0)
}

function runClient(url, bodyFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', '--seconds', String(seconds), '--connections', String(connections), url, bodyFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (b) => (out += b))
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load client exited with ${code}`))))
    child.on('error', reject)
  })
}

/** Scrapes /metrics every 200 ms until `running` settles; returns each scrape's time in ms. */
async function scrapeWhile(base, running) {
  let done = false
  running.finally(() => (done = true)).catch(() => {})
  const times = []
  await new Promise((r) => setTimeout(r, 300))
  while (!done) {
    const started = performance.now()
    const response = await fetch(`${base}/metrics`)
    await response.text()
    times.push(performance.now() - started)
    await new Promise((r) => setTimeout(r, 200))
  }
  return times
}
