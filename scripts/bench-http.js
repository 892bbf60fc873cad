#!/usr/bin/env node
/**
 * The HTTP layer's own cost per request, with an engine that answers at once: what the
 * access rule (API key, Host and Origin checks, CORS headers) adds to a request, and
 * what each API adapter (the Responses API …) costs next to chat completions.
 *
 * Two servers from the same composition root, on loopback:
 * - open: no key, bound "to all interfaces" (no Host check), requests without Origin;
 * - locked: a key, loopback Host check, a listed CORS origin sent on every request.
 * Rounds alternate open and locked (A B B A …) so machine noise hits both alike.
 * Prints a markdown section on stdout (scripts/bench.js includes it in docs/benchmarks.md).
 * Imports the built code: run `npx tsc -b` first.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '8' } },
})
const perRound = Number(values.requests)
const rounds = Number(values.rounds)
const concurrency = Number(values.concurrency)

const { composeServer } = await import('../packages/server/dist/compose.js')
const { serveConfig } = await import('../packages/server/dist/config.js')
const { qwen3VlGeometry } = await import('../packages/server/dist/engines/vision-geometry.js')

const KEY = 'sk-bench-0123456789abcdef0123456789abcdef'
const ORIGIN = 'https://app.example.com'

/** Answers at once: the measurement is the HTTP layer, not a model. */
const instantEngine = {
  id: 'instant',
  describe: () => ({ models: ['qwen3-vl-4b-instruct'], contextLength: 8192, parallel: 64, vision: true, geometry: qwen3VlGeometry, kind: 'instant' }),
  state: () => ({ status: 'ready' }),
  health: async () => {},
  async *generate() {
    yield { type: 'text', text: 'ok' }
    yield { type: 'done', finishReason: 'stop', promptTokens: 5, completionTokens: 1 }
  },
  start: async () => {},
  close: async () => {},
  kill: () => {},
}

async function start(options, compose = {}) {
  const { app } = await composeServer(serveConfig({ parallel: 64, 'max-queue': 1024, 'log-level': 'silent', ...options }), { engine: instantEngine, ...compose })
  const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
  return { app, port: Number(url.port) }
}

const targets = {
  open: { ...(await start({ host: '0.0.0.0' })), headers: {} },
  locked: { ...(await start({ 'api-key': KEY, 'cors-origins': ORIGIN })), headers: { authorization: `Bearer ${KEY}`, origin: ORIGIN } },
}
const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
const chatBody = JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 })
// The same question through Ollama's API: its adapter's cost next to chat completions'.
const ollamaChatBody = JSON.stringify({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Hello' }], stream: false, options: { num_predict: 1 } })
const messagesBody = JSON.stringify({ model: 'qwen3-vl-4b-instruct', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 })

function send(target, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: target.port, method, path, agent, headers: { host: `localhost:${target.port}`, 'content-type': 'application/json', ...target.headers } },
      (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode}`))))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

async function round(target, method, path, body) {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < perRound) await send(target, method, path, body)
    }),
  )
  return (performance.now() - started) / perRound
}

const workloads = [
  ['GET /v1/models', 'GET', '/v1/models', undefined],
  ['POST /v1/chat/completions (text, instant engine)', 'POST', '/v1/chat/completions', chatBody],
]
const rows = []
for (const [label, method, path, body] of workloads) {
  for (const target of Object.values(targets)) await round(target, method, path, body) // warm-up
  const samples = { open: [], locked: [] }
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? ['open', 'locked'] : ['locked', 'open']
    for (const name of order) samples[name].push(await round(targets[name], method, path, body))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const open = median(samples.open)
  const locked = median(samples.locked)
  const spread = (xs) => (Math.max(...xs) - Math.min(...xs)) / median(xs)
  rows.push(
    `| ${label} | ${(open * 1000).toFixed(1)} | ${(locked * 1000).toFixed(1)} | ${((locked - open) * 1000).toFixed(1)} | ${(100 * Math.max(spread(samples.open), spread(samples.locked))).toFixed(0)}% |`,
  )
}

// Each API's adapter on the same instant engine, against chat completions: one server
// with a data directory (so the Responses API can store), rounds alternating the APIs.
const dataDir = mkdtempSync(join(tmpdir(), 'visto-bench-http-'))
const adapters = { ...(await start({ host: '0.0.0.0' }, { data: { dir: dataDir } })), headers: {} }
const apiWorkloads = [
  ['chat completions', '/v1/chat/completions', chatBody],
  ['Responses API, store: false', '/v1/responses', JSON.stringify({ input: 'Hello', max_output_tokens: 1, store: false })],
  ['Responses API, stored (the default)', '/v1/responses', JSON.stringify({ input: 'Hello', max_output_tokens: 1 })],
  ["Ollama's /api/chat", '/api/chat', ollamaChatBody],
  ["Anthropic's /v1/messages", '/v1/messages', messagesBody],
]
for (const [, path, body] of apiWorkloads) await round(adapters, 'POST', path, body) // warm-up
const apiSamples = apiWorkloads.map(() => [])
for (let i = 0; i < rounds; i++) {
  const order = apiWorkloads.map((_, j) => j)
  if (i % 2 === 1) order.reverse()
  for (const j of order) apiSamples[j].push(await round(adapters, 'POST', apiWorkloads[j][1], apiWorkloads[j][2]))
}
const medianOf = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const chatPerSecond = 1 / medianOf(apiSamples[0])
const apiRows = apiWorkloads.map(([label, path], j) => {
  const perSecond = 1 / medianOf(apiSamples[j])
  const spread = (Math.max(...apiSamples[j]) - Math.min(...apiSamples[j])) / medianOf(apiSamples[j])
  return `| ${label} | \`POST ${path}\` | ${(perSecond * 1000).toFixed(0)} | ${(perSecond / chatPerSecond).toFixed(2)} | ${(100 * spread).toFixed(0)}% |`
})
await Promise.all([...Object.values(targets), adapters].map((t) => t.app.close()))
rmSync(dataDir, { recursive: true, force: true })
agent.destroy()

process.stdout.write(`${rounds} alternating rounds of ${perRound} requests per server, ${concurrency} at a time over keep-alive loopback connections; the median round's mean time per request:

| request | open µs/req | locked µs/req | locked − open µs | round-to-round spread |
|---|---:|---:|---:|---:|
${rows.join('\n')}

**open**: no key, no Host check, no Origin header. **locked**: an API key checked in constant time, the loopback Host check, and an allowed cross-origin \`Origin\` answered with CORS headers. A difference within the round-to-round spread is noise: the access checks cost nothing measurable next to the rest of a request.

Each API's adapter on the same instant engine and server (one with a data directory), the same ${rounds} alternating rounds of ${perRound} one-token requests, ${concurrency} at a time; requests per second of the median round, and the ratio to chat completions:

| API | route | req/s | ÷ chat completions | round-to-round spread |
|---|---|---:|---:|---:|
${apiRows.join('\n')}

With an engine that answers at once, this is each adapter's whole cost: parsing its body into the chat job, shaping the answer back. A stored response also commits a row to the data directory's SQLite (synchronous=FULL: on disk before the answer goes out), which an instant engine makes look large; next to a real generation it is a small fixed cost per request.
`)
