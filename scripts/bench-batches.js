// The same N requests two ways on the tiny stand-in: one server-side batch (Files and
// Batch API, --batch-concurrency 3) against direct requests from a pool of 3 (the
// client-side thread pool). Prints a markdown section with wall time and per-line overhead
// (scripts/bench.js includes it in docs/benchmarks.md).
//
//   npx tsc -b && node scripts/bench-batches.js [--lines 200] [--max-tokens 16]
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { lines: { type: 'string', default: '200' }, 'max-tokens': { type: 'string', default: '16' } } })
const lines = Number(values.lines)
const maxTokens = Number(values['max-tokens'])

const { generateStandin } = await import('../packages/testkit/dist/standin/generate-standin.js')
const { parseServeConfig } = await import('../packages/server/dist/config.js')
const { startServer } = await import('../packages/server/dist/main.js')
const sharp = (await import('sharp')).default

const work = await mkdtemp(join(os.tmpdir(), 'visto-bench-batches-'))
await generateStandin({ preset: 'tiny', outDir: work })
const config = parseServeConfig(
  [
    '--port',
    '0',
    '--model',
    join(work, 'model.gguf'),
    '--mmproj',
    join(work, 'mmproj.gguf'),
    '--ctx-size',
    '2048',
    '--threads',
    '2',
    '--parallel',
    '3',
    '--batch-concurrency',
    '3',
    '--log-level',
    'silent',
    '--data-dir',
    join(work, 'data'),
    '--response-cache',
    'off',
  ],
  {},
)
const server = await startServer(config, { log: () => {} })
await server.ready
const jpeg = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 90, g: 140, b: 200 } } })
  .jpeg()
  .toBuffer()
const body = (i) => ({
  model: 'qwen3-vl-4b-instruct',
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: `Describe picture ${i}.` },
        { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}` } },
      ],
    },
  ],
  max_tokens: maxTokens,
  temperature: 0,
  ignore_eos: true,
})

async function direct() {
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < lines) {
      const i = next++
      const response = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body(i)) })
      if (!response.ok) throw new Error(`request ${i}: ${response.status} ${await response.text()}`)
      await response.json()
    }
  }
  await Promise.all([worker(), worker(), worker()])
  return performance.now() - started
}

async function batch() {
  const started = performance.now()
  const jsonl = Array.from({ length: lines }, (_, i) => JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i) })).join('\n')
  const form = new FormData()
  form.append('purpose', 'batch')
  form.append('file', new Blob([jsonl]), 'bench.jsonl')
  const file = await (await fetch(`${server.url}/v1/files`, { method: 'POST', body: form })).json()
  const created = await (
    await fetch(`${server.url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    })
  ).json()
  let state = created
  while (!['completed', 'failed', 'cancelled', 'expired'].includes(state.status)) {
    await new Promise((r) => setTimeout(r, 100))
    state = await (await fetch(`${server.url}/v1/batches/${created.id}`)).json()
  }
  if (state.request_counts.completed !== lines) throw new Error(`batch ended ${state.status}: ${JSON.stringify(state.request_counts)}`)
  const output = await (await fetch(`${server.url}/v1/files/${state.output_file_id}/content`)).text()
  if (output.trim().split('\n').length !== lines) throw new Error('output file is short')
  return performance.now() - started
}

try {
  await direct() // warm-up: the engine's first requests are slower
  const rounds = []
  for (const [name, run] of [
    ['direct', direct],
    ['batch', batch],
    ['batch', batch],
    ['direct', direct],
  ])
    rounds.push({ name, ms: await run() })
  const mean = (name) => rounds.filter((r) => r.name === name).reduce((a, r) => a + r.ms, 0) / 2
  const d = mean('direct')
  const b = mean('batch')
  const report = `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), tiny stand-in (random weights: this measures Visto's overhead, not model speed), ${lines} requests of one 256×256 JPEG and exactly ${maxTokens} generated tokens, \`--parallel 3\`, response cache off (the same requests run four times); rounds in the order direct, batch, batch, direct after a warm-up.

| mode | wall time (mean of 2) | per request |
| --- | ---: | ---: |
| ${lines} direct requests, pool of 3 (a client-side thread pool) | ${(d / 1000).toFixed(2)} s | ${(d / lines).toFixed(1)} ms |
| one batch of ${lines} lines, \`--batch-concurrency 3\` (upload, validate, run, finalize, download) | ${(b / 1000).toFixed(2)} s | ${(b / lines).toFixed(1)} ms |

Per-line overhead of the batch path: ${((b - d) / lines).toFixed(1)} ms (SQLite commit with fsync per line, reading the line back from the input file, writing the output file).
`
  process.stdout.write(report)
} finally {
  await server.shutdown()
  await rm(work, { recursive: true, force: true })
}
