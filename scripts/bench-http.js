#!/usr/bin/env node
/**
 * The HTTP layer's own cost per request, with an engine that answers at once: what the
 * access rule (API key, Host and Origin checks, CORS headers) adds to a request.
 *
 * Two servers from the same composition root, on loopback:
 * - open: no key, bound "to all interfaces" (no Host check), requests without Origin;
 * - locked: a key, loopback Host check, a listed CORS origin sent on every request.
 * Rounds alternate open and locked (A B B A …) so machine noise hits both alike.
 * Prints a markdown section on stdout (scripts/bench.js includes it in docs/benchmarks.md).
 * Imports the built code: run `npx tsc -b` first.
 */
import { Agent, request } from 'node:http'
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

async function start(options) {
  const { app } = await composeServer(serveConfig({ parallel: 64, 'max-queue': 1024, 'log-level': 'silent', ...options }), { engine: instantEngine })
  const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
  return { app, port: Number(url.port) }
}

const targets = {
  open: { ...(await start({ host: '0.0.0.0' })), headers: {} },
  locked: { ...(await start({ 'api-key': KEY, 'cors-origins': ORIGIN })), headers: { authorization: `Bearer ${KEY}`, origin: ORIGIN } },
}
const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
const chatBody = JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 1 })
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
  // The other APIs on the same chat job: their adapters' cost next to chat completions'.
  ['POST /v1/messages (Anthropic, text, instant engine)', 'POST', '/v1/messages', messagesBody],
]
const chatLabel = workloads[1][0]
const rows = []
/** label → { open, locked } median µs/req, for the APIs-next-to-chat table. */
const medians = new Map()
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
  medians.set(label, { open, locked })
  rows.push(
    `| ${label} | ${(open * 1000).toFixed(1)} | ${(locked * 1000).toFixed(1)} | ${((locked - open) * 1000).toFixed(1)} | ${(100 * Math.max(spread(samples.open), spread(samples.locked))).toFixed(0)}% |`,
  )
}
await Promise.all(Object.values(targets).map((t) => t.app.close()))
agent.destroy()

const chat = medians.get(chatLabel)
const apiRows = [...medians]
  .filter(([label]) => label !== chatLabel && label.startsWith('POST '))
  .map(([label, m]) => `| ${label} | ${(m.open * 1000).toFixed(1)} | ${(chat.open / m.open).toFixed(2)} | ${(chat.locked / m.locked).toFixed(2)} |`)

process.stdout.write(`${rounds} alternating rounds of ${perRound} requests per server, ${concurrency} at a time over keep-alive loopback connections; the median round's mean time per request:

| request | open µs/req | locked µs/req | locked − open µs | round-to-round spread |
|---|---:|---:|---:|---:|
${rows.join('\n')}

**open**: no key, no Host check, no Origin header. **locked**: an API key checked in constant time, the loopback Host check, and an allowed cross-origin \`Origin\` answered with CORS headers. A difference within the round-to-round spread is noise: the access checks cost nothing measurable next to the rest of a request.

The other APIs next to chat completions, on the same engine and chat job (requests/s ÷ chat completions' requests/s; 1.00 is the same cost, the goal is at least 0.98):

| request | open µs/req | open ÷ chat | locked ÷ chat |
|---|---:|---:|---:|
${apiRows.join('\n')}
`)
