#!/usr/bin/env node
/**
 * What a response_format schema costs the real engine, by the size Visto estimates for
 * it (serving/json-schema-limits.ts): posts schemas of growing estimated expansion
 * straight to a llama-server (Visto's own limits would refuse the big ones) running a
 * tiny stand-in model, and times each request. Used to choose the pattern budget; see
 * docs/benchmarks.md ("Grammar cost of a schema").
 *
 * The grammar's cost grows with the vocabulary (every candidate token is checked against
 * every parse stack), so `--vocab 151936` builds a stand-in with Qwen3-VL's real
 * vocabulary size; the default tiny stand-in has 1024 tokens.
 *
 *   node scripts/measure-grammar-cost.js [--vocab 151936] [--quick] [--timeout-s 20] [--max-tokens 32]
 *
 * A request over the timeout leaves llama-server spinning; the engine is then killed and
 * restarted, and the larger sizes of that shape are skipped. Imports the built code: run
 * `npx tsc -b` first.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    vocab: { type: 'string', default: '1024' },
    'timeout-s': { type: 'string', default: '20' },
    'max-tokens': { type: 'string', default: '32' },
  },
})
const vocabSize = Number(values.vocab)
const timeoutMs = Number(values['timeout-s']) * 1000
const maxTokens = Number(values['max-tokens'])

const { STANDIN_PRESETS } = await import('../packages/testkit/dist/standin/presets.js')
const { generateStandin } = await import('../packages/testkit/dist/standin/generate-standin.js')
const { LlamaServerProcess } = await import('../packages/server/dist/engines/llama-cpp/llama-server-process.js')
const { locateLlamaServer } = await import('../packages/server/dist/engines/llama-cpp/llama-server-binary.js')
const { patternRepetitionCost } = await import('../packages/server/dist/serving/json-schema-limits.js')
const { defaultCacheDir } = await import('../packages/server/dist/models/cache-dir.js').catch(() => ({ defaultCacheDir: undefined }))

// The tiny preset's shapes with the vocabulary asked for (the presets object is plain data).
const tiny = STANDIN_PRESETS.tiny
tiny.text = { ...tiny.text, vocabSize, addedTokensStart: vocabSize - 32 }
const standinDir = mkdtempSync(join(tmpdir(), `visto-grammar-standin-${vocabSize}-`))
const standin = await generateStandin({ preset: 'tiny', outDir: standinDir })

const cacheDir = process.env.VISTO_CACHE ?? (typeof defaultCacheDir === 'function' ? defaultCacheDir() : join(process.env.HOME ?? '', '.cache', 'visto'))
const binary = (await locateLlamaServer({ cacheDir, build: false })).path

let engine
async function startEngine() {
  engine = new LlamaServerProcess({ binary, modelPath: standin.model, contextLength: 2048, parallel: 1, threads: 2 })
  await engine.start()
}
await startEngine()

/** llama-server's CPU time so far, in ms: on a busy machine wall time says more about the neighbours. */
function cpuMs() {
  const fields = readFileSync(`/proc/${engine.pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function time(schema) {
  const started = performance.now()
  const cpuBefore = cpuMs()
  const response = await fetch(`${engine.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${engine.apiKey}` },
    body: JSON.stringify({
      messages: [{ role: 'user', content: 'Answer.' }],
      max_tokens: maxTokens,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
    }),
    signal: AbortSignal.timeout(timeoutMs),
  }).catch((error) => error)
  if (response instanceof Error) return { ms: Infinity, cpu: cpuMs() - cpuBefore, status: 'timeout' }
  const text = await response.text()
  return {
    ms: performance.now() - started,
    cpu: cpuMs() - cpuBefore,
    status: response.status,
    tokens: response.ok ? JSON.parse(text).usage?.completion_tokens : text.slice(0, 120),
  }
}

const nest = (levels, count) => {
  let inner = 'a'
  for (let i = 0; i < levels; i++) inner = `(${inner}{0,${count}})`
  return { type: 'string', pattern: `^${inner}$` }
}
const nestedArrays = (levels, count, length) => {
  let schema = { type: 'string', maxLength: length }
  for (let i = 0; i < levels; i++) schema = { type: 'array', items: schema, maxItems: count }
  return schema
}
const pattern = (p) => ({ type: 'string', pattern: p })
const shapes = [
  ['one repetition a{0,n}', [100, 1000].map((n) => nest(1, n))],
  ['two nested (a{0,k}){0,k}', [20, 30, 45, 70, 100].map((k) => nest(2, k))],
  ['three nested', [5, 7, 8, 10].map((k) => nest(3, k))],
  ['four nested', [3, 4, 5].map((k) => nest(4, k))],
  ['deep {0,2}', [5, 6, 7, 8].map((d) => nest(d, 2))],
  ['loops', ['^(((a*)*)*)*$', '^(((a+)+)+)+$', '^((a{0,20})*)*$', '^(a|a|a|a)*$'].map(pattern)],
  [
    'realistic patterns',
    ['^\\d{4}-\\d{2}-\\d{2}$', '^[A-Z]{2,10}$', '^(\\d{1,3}\\.){3}\\d{1,3}$', '^([a-z0-9-]{1,63}\\.){1,10}[a-z]{2,63}$', '^([A-Za-z]{1,20} ){0,100}$'].map(pattern),
  ],
  ['arrays of strings (maxItems × maxLength)', [nestedArrays(1, 100, 1000), nestedArrays(2, 100, 1000), nestedArrays(3, 100, 100)]],
  [
    'an object of strings',
    [
      {
        type: 'object',
        properties: { name: { type: 'string', maxLength: 200 }, city: { type: 'string', maxLength: 200 }, note: { type: 'string', maxLength: 200 } },
        required: ['name', 'city', 'note'],
      },
    ],
  ],
]

if (values.quick) {
  // Around the budget only: what a bigger vocabulary changes.
  shapes.splice(
    0,
    shapes.length,
    ['realistic patterns', [pattern('^\\d{4}-\\d{2}-\\d{2}$'), pattern('^[A-Z]{2,10}$'), pattern('^([a-z0-9-]{1,63}\\.){1,10}[a-z]{2,63}$')]],
    ['two nested', [nest(2, 10), nest(2, 16), nest(2, 24)]],
    ['three nested', [nest(3, 3), nest(3, 4), nest(3, 5)]],
    ['four nested', [nest(4, 2), nest(4, 3)]],
    ['deep {0,2}', [nest(5, 2), nest(6, 2)]],
  )
}
console.log(`grammar cost, tiny stand-in with a ${vocabSize}-token vocabulary, max_tokens ${maxTokens}, ${new Date().toISOString()}`)
const baseline = await time({})
console.log(`baseline (no schema): ${baseline.ms.toFixed(0)} ms wall, ${baseline.cpu} ms CPU`)
for (const [name, schemas] of shapes) {
  for (const schema of schemas) {
    const estimate = schema.pattern !== undefined ? patternRepetitionCost(schema.pattern) : '-'
    const result = await time(schema)
    console.log(
      `${name.padEnd(42)} ${JSON.stringify(schema).slice(0, 70).padEnd(72)} estimate ${String(estimate).padStart(9)}  ${result.ms === Infinity ? `> ${timeoutMs} ms` : `${result.ms.toFixed(0)} ms`} wall, ${result.cpu} ms CPU  (${result.status}${result.tokens !== undefined ? `, ${result.tokens}` : ''})`,
    )
    if (result.ms === Infinity) {
      engine.killNow()
      await new Promise((r) => setTimeout(r, 500))
      await startEngine()
      break
    }
  }
}
await engine.stop()
