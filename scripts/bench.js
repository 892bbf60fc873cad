#!/usr/bin/env node
/**
 * `npm run bench`: how much does Visto cost on top of the engine it supervises?
 *
 * The same streamed image requests go through Visto's HTTP API and straight to the
 * llama-server child Visto started (its own /v1/chat/completions), at several
 * concurrency levels; then the same question through each API Visto speaks (chat
 * completions, Responses, Anthropic, Ollama) on that engine; llama-bench on the same file
 * and threads gives the engine's ceiling; scripts/bench-images.js (when present) adds image preprocessing numbers and
 * scripts/bench-cache.js response-cache hits per second and /metrics scrape time;
 * scripts/bench-embedding-cache.js what the engine's image embedding cache saves.
 * Everything lands in docs/benchmarks.md. Imports the built code: run `npx tsc -b` first.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { percentile } from '@visto/protocol'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const visto = join(repoRoot, 'packages/cli/bin/visto.js')
const run = promisify(execFile)

const FULL_STANDIN_DIR = join(os.homedir(), '.cache/visto/standin/qwen3-vl-4b')
const MODEL_ALIAS = 'qwen3-vl-4b-instruct'
const QUESTION = 'Describe this image in one sentence.'

const help = `Usage: npm run bench -- [options]   (or: node scripts/bench.js [options])

Compares Visto's HTTP API with the llama-server it supervises (same prompts, same
engine), each of Visto's APIs with chat completions on that engine, runs llama-bench on the same model and threads, and writes docs/benchmarks.md.
Needs the built code (npx tsc -b) and the engine (npx visto engine build).

Model: --model/--mmproj when given, else the full-size stand-in in
${FULL_STANDIN_DIR} when present, else a tiny stand-in generated on the fly.

  --quick               smoke test: tiny stand-in, concurrency 1,2, 3 requests each,
                        written to ${join(os.tmpdir(), 'visto-bench-quick.md')} unless --out
  --model FILE          text model .gguf         --mmproj FILE   vision projector .gguf
  --concurrency LIST    default 1,4,8            --requests N    per level (default max(3, 2×c))
  --max-tokens N        default 32 (generated exactly: ignore_eos)
  --threads N           engine and llama-bench threads (default: CPU count, ${os.cpus().length})
  --image-size N        square test image side in px (default 256, a multiple of 32)
  --bench-reps N        llama-bench repetitions (default 3)
  --api-concurrency LIST  the API adapters' phase (chat completions, Responses,
                        Anthropic, Ollama on the same engine): default 1,4 (quick: 1);
                        "none" skips it
  --api-requests N      per API and level (default max(10, 4×c); quick 2)
  --no-llama-bench      skip llama-bench     --no-images   skip scripts/bench-images.js
  --out FILE            default docs/benchmarks.md
  -h, --help`

function fail(message) {
  process.stderr.write(`bench: ${message}\n`)
  process.exit(2)
}

function positiveInt(name, raw) {
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive integer, got "${raw}"`)
  return value
}

function parseOptions(argv) {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        model: { type: 'string' },
        mmproj: { type: 'string' },
        concurrency: { type: 'string' },
        requests: { type: 'string' },
        'max-tokens': { type: 'string' },
        threads: { type: 'string' },
        'image-size': { type: 'string' },
        'bench-reps': { type: 'string' },
        'api-concurrency': { type: 'string' },
        'api-requests': { type: 'string' },
        'no-llama-bench': { type: 'boolean' },
        'no-images': { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (error) {
    fail(`${error.message}\n\n${help}`)
  }
  if (values.help) {
    process.stdout.write(`${help}\n`)
    process.exit(0)
  }
  if ((values.model === undefined) !== (values.mmproj === undefined)) fail('--model and --mmproj go together')
  const quick = values.quick === true
  const concurrency = (values.concurrency ?? (quick ? '1,2' : '1,4,8')).split(',').map((s) => positiveInt('concurrency', s.trim()))
  const imageSize = positiveInt('image-size', values['image-size'] ?? '256')
  if (imageSize % 32 !== 0) fail('--image-size must be a multiple of 32 (Qwen3-VL aligns image sides to 32 px; anything else would be resized by Visto only)')
  const apiConcurrencyRaw = values['api-concurrency'] ?? (quick ? '1' : '1,4')
  const apiConcurrency = apiConcurrencyRaw === 'none' ? [] : apiConcurrencyRaw.split(',').map((s) => positiveInt('api-concurrency', s.trim()))
  return {
    quick,
    apiConcurrency,
    apiRequests: values['api-requests'] === undefined ? undefined : positiveInt('api-requests', values['api-requests']),
    model: values.model && resolve(values.model),
    mmproj: values.mmproj && resolve(values.mmproj),
    concurrency,
    requests: values.requests === undefined ? undefined : positiveInt('requests', values.requests),
    maxTokens: positiveInt('max-tokens', values['max-tokens'] ?? (quick ? '16' : '32')),
    threads: positiveInt('threads', values.threads ?? String(os.cpus().length)),
    imageSize,
    benchReps: positiveInt('bench-reps', values['bench-reps'] ?? (quick ? '1' : '3')),
    llamaBench: values['no-llama-bench'] !== true,
    images: values['no-images'] !== true,
    out: resolve(values.out ?? (quick ? join(os.tmpdir(), 'visto-bench-quick.md') : join(repoRoot, 'docs/benchmarks.md'))),
  }
}

const progress = (line) => process.stderr.write(`bench: ${line}\n`)

// ---------------------------------------------------------------- model choice

async function generateTinyStandin() {
  const dir = await mkdtemp(join(os.tmpdir(), 'visto-bench-tiny-'))
  await run(process.execPath, [visto, 'standin', '--preset', 'tiny', '--out', dir], { cwd: repoRoot })
  return dir
}

async function chooseModel(options) {
  if (options.model) {
    return { kind: 'custom', label: `user-supplied model (${options.model})`, model: options.model, mmproj: options.mmproj }
  }
  const fullModel = join(FULL_STANDIN_DIR, 'model.gguf')
  const fullMmproj = join(FULL_STANDIN_DIR, 'mmproj.gguf')
  if (!options.quick && existsSync(fullModel) && existsSync(fullMmproj)) {
    return {
      kind: 'standin-4b',
      label: 'full-size stand-in qwen3-vl-4b (Qwen3-VL-4B-Instruct shapes, random weights, Q4_0 text + F16 mmproj)',
      model: fullModel,
      mmproj: fullMmproj,
    }
  }
  if (!options.quick) progress(`no full-size stand-in at ${FULL_STANDIN_DIR}; falling back to the tiny stand-in`)
  const dir = await generateTinyStandin()
  return {
    kind: 'standin-tiny',
    label: 'tiny stand-in (same architecture, a few MB, random weights: measures overhead, not model speed)',
    model: join(dir, 'model.gguf'),
    mmproj: join(dir, 'mmproj.gguf'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

// ---------------------------------------------------------------- workload

/**
 * A distinct picture per request index (stripes, a block and colours all move with
 * it), so no request can reuse another's image from a prompt cache.
 */
async function testImage(index, size) {
  const { default: sharp } = await import('sharp')
  const pixels = Buffer.alloc(size * size * 3)
  const period = 6 + (index % 11) * 3
  const blockX = (index * 37) % (size / 2)
  const blockY = (index * 53) % (size / 2)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3
      const inBlock = x >= blockX && x < blockX + size / 4 && y >= blockY && y < blockY + size / 4
      const stripe = Math.floor((x + y + index) / period) % 2
      pixels[i] = inBlock ? (index * 71) % 256 : Math.round((x / size) * 255)
      pixels[i + 1] = inBlock ? 255 - ((index * 29) % 256) : Math.round((y / size) * 255)
      pixels[i + 2] = stripe ? (index * 13) % 256 : 255 - ((index * 13) % 256)
    }
  }
  return sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer()
}

/**
 * One chat request. The tag before the image is unique per (phase, index): llama-server
 * reuses KV cache only for a common prompt prefix, so a unique tag ahead of the image
 * keeps one phase from reusing another phase's image work, while the images themselves
 * stay identical for Visto and direct. The tag has a fixed width, so token counts match.
 */
/** The fixed-width tag that keeps one request's prompt prefix its own (see chatBody). */
const jobTag = (phase, index) => `Job ${String(phase).padStart(3, '0')}-${String(index).padStart(3, '0')}.`

function chatBody(imageDataUrl, phase, index, maxTokens) {
  return {
    model: MODEL_ALIAS,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: jobTag(phase, index) },
          { type: 'image_url', image_url: { url: imageDataUrl } },
          { type: 'text', text: QUESTION },
        ],
      },
    ],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: maxTokens,
    ignore_eos: true,
    temperature: 0,
    seed: 7,
  }
}

const base64Of = (dataUrl) => dataUrl.slice(dataUrl.indexOf(',') + 1)

/**
 * The same question about the same kind of image in each API's own words, for the API
 * adapters' phase. Every API gets the same prompt: the image first, then one text of tag
 * and question, because that is the only shape Ollama's messages have (`images` beside
 * `content`, which the adapter renders image first). With chat's tag-image-question order
 * Ollama's prompt differed by a token and a position, which is the engine's cost, not the
 * adapter's. Each request has an image of its own, so no tag is needed ahead of it.
 * No `ignore_eos` (only chat and Responses have it): the stand-ins never emit an end
 * token, so every answer runs to its token limit anyway (the report shows each API's
 * completion tokens per request, so a model that stops early shows up).
 */
const apiText = (phase, index) => `${jobTag(phase, index)} ${QUESTION}`
const apiBodies = {
  chat: (image, phase, index, maxTokens) => {
    const { ignore_eos, ...body } = chatBody(image, phase, index, maxTokens)
    const content = [
      { type: 'image_url', image_url: { url: image } },
      { type: 'text', text: apiText(phase, index) },
    ]
    return { ...body, messages: [{ role: 'user', content }] }
  },
  responses: (store) => (image, phase, index, maxTokens) => ({
    model: MODEL_ALIAS,
    input: [
      {
        role: 'user',
        content: [
          { type: 'input_image', image_url: image },
          { type: 'input_text', text: apiText(phase, index) },
        ],
      },
    ],
    stream: true,
    store,
    max_output_tokens: maxTokens,
    temperature: 0,
    seed: 7,
  }),
  anthropic: (image, phase, index, maxTokens) => ({
    model: MODEL_ALIAS,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: base64Of(image) } },
          { type: 'text', text: apiText(phase, index) },
        ],
      },
    ],
    stream: true,
    max_tokens: maxTokens,
    temperature: 0,
  }),
  ollama: (image, phase, index, maxTokens) => ({
    model: MODEL_ALIAS,
    messages: [{ role: 'user', content: apiText(phase, index), images: [base64Of(image)] }],
    stream: true,
    options: { temperature: 0, num_predict: maxTokens, seed: 7 },
  }),
}

/**
 * How each API streams, read into one shape: the text of a delta, token counts, an error,
 * and the end of the answer. Chat completions and the Responses and Anthropic APIs stream
 * server-sent events (`data:` lines of JSON); Ollama streams one JSON object per line.
 */
const wireFormats = {
  chat: {
    framing: 'sse',
    read(chunk) {
      if (chunk === '[DONE]') return { done: true }
      if (chunk.error) return { error: JSON.stringify(chunk.error) }
      const delta = chunk.choices?.[0]?.delta
      return {
        text: (delta?.content ?? '') + (delta?.reasoning_content ?? ''),
        promptTokens: chunk.usage?.prompt_tokens,
        completionTokens: chunk.usage?.completion_tokens,
        // llama-server's own endpoint reports its timings (the direct path only).
        timings: chunk.timings,
      }
    },
  },
  responses: {
    framing: 'sse',
    read(event) {
      if (event.type === 'error' || event.type === 'response.failed') return { error: JSON.stringify(event.error ?? event.response?.error) }
      if (event.type === 'response.output_text.delta') return { text: event.delta }
      // An answer cut at max_output_tokens ends "incomplete", as OpenAI's does.
      if (event.type === 'response.completed' || event.type === 'response.incomplete') {
        const usage = event.response?.usage
        return { done: true, promptTokens: usage?.input_tokens, completionTokens: usage?.output_tokens }
      }
      return {}
    },
  },
  anthropic: {
    framing: 'sse',
    read(event) {
      if (event.type === 'error') return { error: JSON.stringify(event.error) }
      if (event.type === 'content_block_delta' && event.delta?.type === 'text_delta') return { text: event.delta.text }
      // message_start's usage is a placeholder; the counts come with the last delta.
      if (event.type === 'message_delta') return { promptTokens: event.usage?.input_tokens, completionTokens: event.usage?.output_tokens }
      if (event.type === 'message_stop') return { done: true }
      return {}
    },
  },
  ollama: {
    framing: 'ndjson',
    read(line) {
      if (line.error) return { error: JSON.stringify(line.error) }
      if (line.done) return { done: true, text: line.message?.content, promptTokens: line.prompt_eval_count, completionTokens: line.eval_count }
      return { text: line.message?.content }
    },
  },
}

/** Sends one streamed request; times the first content delta and the end. */
async function timedRequest(target, body) {
  const wire = wireFormats[target.wire ?? 'chat']
  const started = performance.now()
  let firstContentAt
  let deltas = 0
  let promptTokens
  let completionTokens
  let timings
  try {
    const response = await fetch(target.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...target.headers() },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15 * 60_000),
    })
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '')
      return { ok: false, error: `HTTP ${response.status} ${text.slice(0, 200)}` }
    }
    const decoder = new TextDecoder()
    let buffered = ''
    let done = false
    for await (const bytes of response.body) {
      buffered += decoder.decode(bytes, { stream: true })
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        let line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (wire.framing === 'sse') {
          if (!line.startsWith('data:')) continue
          line = line.slice(5).trim()
        }
        if (line === '') continue
        let chunk = line
        if (line !== '[DONE]') {
          try {
            chunk = JSON.parse(line)
          } catch {
            continue
          }
        }
        const event = wire.read(chunk)
        if (event.error) return { ok: false, error: `stream error: ${event.error.slice(0, 200)}` }
        if (event.text) {
          deltas++
          firstContentAt ??= performance.now()
        }
        promptTokens = event.promptTokens ?? promptTokens
        completionTokens = event.completionTokens ?? completionTokens
        timings = event.timings ?? timings
        if (event.done) done = true
      }
    }
    if (!done) return { ok: false, error: 'stream ended before its last event' }
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
  const ended = performance.now()
  return {
    ok: true,
    latencyMs: ended - started,
    ttftMs: firstContentAt === undefined ? undefined : firstContentAt - started,
    completionTokens: completionTokens ?? deltas,
    promptTokens,
    enginePromptPerS: timings?.prompt_per_second,
    engineGenerationPerS: timings?.predicted_per_second,
  }
}

/**
 * One round: `size` requests sent together (a closed batch, as `concurrency` clients
 * would), with request indices from `firstIndex`. Returns each result and the wall time.
 */
async function runRound(target, images, phase, firstIndex, size, concurrency, maxTokens) {
  const started = performance.now()
  const results = await Promise.all(
    Array.from({ length: size }, async (_, k) => {
      const index = firstIndex + k
      const result = await timedRequest(target, (target.body ?? chatBody)(images[index], phase, index, maxTokens))
      progress(`  ${target.name} c=${concurrency}: request ${index + 1} ${result.ok ? `in ${(result.latencyMs / 1000).toFixed(1)} s` : `FAILED: ${result.error}`}`)
      return result
    }),
  )
  return { results, wallMs: performance.now() - started }
}

/**
 * Per-request time inside llama-server's slot (prompt incl. image encoder, then
 * generation), read from its own "print_timing ... total time = X ms" log lines.
 * Latency minus this is the time a request spent outside the engine: HTTP, JSON,
 * image handling, templating, queueing and relaying. That difference is Visto's cost,
 * and it stays readable when other work on the machine slows the engine down.
 */
class EngineSlotTimes {
  samples = []
  onLine = (line) => {
    const match = /task\s+(\d+)\s*\|\s*total time\s*=\s*([\d.]+)\s*ms/.exec(line)
    if (match) this.samples.push({ at: performance.now(), task: Number(match[1]), ms: Number(match[2]) })
  }
  consumed = 0
  /**
   * The slot times of the `expected` requests that just finished. llama-server logs a
   * slot after its last chunk is sent, so wait for the lines; rounds never overlap, so
   * lines arrive in round order. Returns undefined when the count does not match.
   */
  async take(expected, timeoutMs = 15_000) {
    const deadline = performance.now() + timeoutMs
    while (this.samples.length < this.consumed + expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    const taken = this.samples.slice(this.consumed).map((s) => s.ms)
    this.consumed = this.samples.length
    return taken.length === expected ? taken : undefined
  }
}

/** One target's rounds at one level: their results, wall time and engine slot times (all or none). */
class RoundTally {
  results = []
  wallMs = 0
  engineMs = []
  engineIncomplete = false
  async add(round, slotTimes) {
    const slots = await slotTimes.take(round.results.filter((r) => r.ok).length)
    this.results.push(...round.results)
    this.wallMs += round.wallMs
    if (slots === undefined) this.engineIncomplete = true
    else this.engineMs.push(...slots)
  }
  summary() {
    return summarise(this.results, this.wallMs, this.engineIncomplete ? [] : this.engineMs)
  }
}

const mean = (values) => (values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length)

function summarise(results, wallMs, engineMs = []) {
  const ok = results.filter((r) => r.ok)
  const ttfts = ok
    .map((r) => r.ttftMs)
    .filter((t) => t !== undefined)
    .sort((a, b) => a - b)
  const tokens = ok.reduce((n, r) => n + r.completionTokens, 0)
  // Per-stream decode speed: tokens after the first, over the time after the first.
  const streamRates = ok
    .filter((r) => r.ttftMs !== undefined && r.completionTokens > 1 && r.latencyMs > r.ttftMs)
    .map((r) => (r.completionTokens - 1) / ((r.latencyMs - r.ttftMs) / 1000))
  return {
    total: results.length,
    ok: ok.length,
    errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))],
    wallS: wallMs / 1000,
    requestsPerS: ok.length / (wallMs / 1000),
    ttftP50S: percentile(ttfts, 50) / 1000,
    ttftP95S: percentile(ttfts, 95) / 1000,
    tokensPerS: tokens / (wallMs / 1000),
    streamTokensPerS: mean(streamRates),
    meanLatencyS: mean(ok.map((r) => r.latencyMs)) / 1000,
    promptTokens: mean(ok.map((r) => r.promptTokens).filter((n) => n !== undefined)),
    completionTokens: mean(ok.map((r) => r.completionTokens)),
    engineSlotS: mean(engineMs) === undefined ? undefined : mean(engineMs) / 1000,
    engineSamples: engineMs.length,
    // The machine's 1-minute load average when the level ended: noise from other work shows here.
    loadAfter: os.loadavg()[0],
    enginePromptPerS: mean(ok.map((r) => r.enginePromptPerS).filter((n) => n !== undefined)),
    engineGenerationPerS: mean(ok.map((r) => r.engineGenerationPerS).filter((n) => n !== undefined)),
  }
}

// ---------------------------------------------------------------- llama-bench, image bench, machine

async function llamaServerInfo() {
  const { stdout } = await run(process.execPath, [visto, 'engine', 'path'], { cwd: repoRoot })
  const path = stdout.trim().split('\n').pop()
  // Visto's own builds live in <cache>/engine/<source key>/<build flavour>/bin/.
  const buildDir = dirname(dirname(path))
  const key = basename(buildDir).startsWith('build') ? `${basename(dirname(buildDir))}/${basename(buildDir)}` : path
  let version = 'unknown'
  try {
    const result = await run(path, ['--version'], { timeout: 30_000 })
    version =
      `${result.stdout}${result.stderr}`
        .split('\n')
        .find((l) => l.startsWith('version:'))
        ?.trim() ?? version
  } catch (error) {
    version =
      `${error.stdout ?? ''}${error.stderr ?? ''}`
        .split('\n')
        .find((l) => l.startsWith('version:'))
        ?.trim() ?? version
  }
  return { path, key, version }
}

async function runLlamaBench(llamaServer, model, threads, reps) {
  const binary = join(dirname(llamaServer), 'llama-bench')
  if (!existsSync(binary)) return { skipped: `no llama-bench next to ${llamaServer}` }
  const args = ['-m', model, '-t', String(threads), '-p', '256', '-n', '32', '-r', String(reps), '-o', 'json']
  progress(`llama-bench ${args.join(' ')}`)
  try {
    const { stdout } = await run(binary, args, { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 })
    const rows = JSON.parse(stdout.slice(stdout.indexOf('[')))
    return {
      command: `llama-bench ${args.map((a) => (a === model ? basename(model) : a)).join(' ')}`,
      rows: rows.map((r) => ({
        test: r.n_prompt > 0 ? `pp${r.n_prompt} (prompt)` : `tg${r.n_gen} (generation)`,
        tokensPerS: r.avg_ts,
        stddev: r.stddev_ts,
        threads: r.n_threads,
      })),
    }
  } catch (error) {
    return {
      skipped: `llama-bench failed: ${String(error.stderr || error.message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' / ')}`,
    }
  }
}

/**
 * Runs a focused benchmark script that prints its own markdown section (image
 * preprocessing, the HTTP layer's checks, …) and keeps that markdown for the report.
 */
function runSubBench(name) {
  const script = join(repoRoot, 'scripts', name)
  if (!existsSync(script)) return Promise.resolve({ skipped: `scripts/${name} does not exist, so it was not run.` })
  progress(`running scripts/${name}`)
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderrTail = ''
    child.stdout.on('data', (b) => (stdout += b))
    child.stderr.on('data', (b) => {
      process.stderr.write(b)
      stderrTail = (stderrTail + b).slice(-2000)
    })
    const timer = setTimeout(() => child.kill('SIGTERM'), 15 * 60_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolveRun({ markdown: stdout.trim() })
      else resolveRun({ skipped: `scripts/${name} failed (${signal ?? `exit code ${code}`}): ${stderrTail.trim().split('\n').slice(-3).join(' / ')}` })
    })
    child.on('error', (error) => {
      clearTimeout(timer)
      resolveRun({ skipped: `scripts/${name} could not start: ${error.message}` })
    })
  })
}

function machineInfo() {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu
  } catch {
    // Not Linux: os.cpus() named it.
  }
  return {
    cpu,
    cores: os.cpus().length,
    memoryGiB: os.totalmem() / 1024 ** 3,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  }
}

// ---------------------------------------------------------------- report

const fmt = (value, digits = 2) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits))
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`)
const signedMs = (a, b) => (a === undefined || b === undefined ? '–' : `${a >= b ? '+' : '−'}${Math.abs((a - b) * 1000).toFixed(0)} ms`)
const mib = (bytes) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`

/** Mean latency minus mean time in the engine's slot (when the log gave every request's). */
const outsideS = (s) => (s.engineSlotS === undefined || s.engineSamples !== s.ok ? undefined : s.meanLatencyS - s.engineSlotS)
const outside = (s) => fmt(outsideS(s), 3)

function throughputTable(levels) {
  const lines = [
    '| target | concurrency | ok/sent | wall s | requests/s | TTFT p50 s | TTFT p95 s | completion tok/s | per-stream tok/s | mean latency s | engine s/req | outside engine s/req | prompt tok/req | load avg |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const level of levels) {
    for (const [name, s] of [
      ['Visto', level.visto],
      ['direct', level.direct],
    ]) {
      lines.push(
        `| ${name} | ${level.concurrency} | ${s.ok}/${s.total} | ${fmt(s.wallS, 1)} | ${fmt(s.requestsPerS, 3)} | ${fmt(s.ttftP50S)} | ${fmt(s.ttftP95S)} | ` +
          `${fmt(s.tokensPerS)} | ${fmt(s.streamTokensPerS)} | ${fmt(s.meanLatencyS)} | ${fmt(s.engineSlotS)} | ${outside(s)} | ${fmt(s.promptTokens, 0)} | ${fmt(s.loadAfter, 1)} |`,
      )
    }
  }
  return lines.join('\n')
}

function ratioTable(levels) {
  const lines = [
    '| concurrency | requests/s | completion tok/s | TTFT p50 | TTFT p95 | mean latency | mean latency Visto − direct | outside engine Visto − direct |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const { concurrency, visto: v, direct: d } of levels) {
    lines.push(
      `| ${concurrency} | ${ratio(v.requestsPerS, d.requestsPerS)} | ${ratio(v.tokensPerS, d.tokensPerS)} | ${ratio(v.ttftP50S, d.ttftP50S)} | ` +
        `${ratio(v.ttftP95S, d.ttftP95S)} | ${ratio(v.meanLatencyS, d.meanLatencyS)} | ${signedMs(v.meanLatencyS, d.meanLatencyS)} | ${signedMs(outsideS(v), outsideS(d))} |`,
    )
  }
  return lines.join('\n')
}

/** What llama-server itself measured for the direct requests: comparable with llama-bench. */
function engineTimings(levels) {
  const rows = levels.filter((l) => l.direct.enginePromptPerS !== undefined)
  if (rows.length === 0) return ''
  const parts = rows.map((l) => `concurrency ${l.concurrency}: prompt ${fmt(l.direct.enginePromptPerS, 1)}, generation ${fmt(l.direct.engineGenerationPerS, 1)}`)
  return `\nllama-server's own per-request timings for the direct requests (mean tok/s as llama-server counts them; its prompt time runs from the slot starting the prompt to the first token, so it covers the vision encoder and the image tokens): ${parts.join('; ')}.\n`
}

function llamaBenchTable(result) {
  if (result.skipped) return `_Not run: ${result.skipped}_`
  const lines = ['| test | threads | tok/s | ± stddev |', '|---|---:|---:|---:|']
  for (const row of result.rows) lines.push(`| ${row.test} | ${row.threads} | ${fmt(row.tokensPerS)} | ${fmt(row.stddev)} |`)
  return `\`${result.command}\`\n\n${lines.join('\n')}`
}

function apiTable(apiLevels) {
  const lines = [
    '| API | route | concurrency | ok/sent | requests/s | ÷ chat completions | TTFT p50 s | mean latency s | engine s/req | outside engine s/req | outside engine − chat | ÷ chat, engine time equalised | prompt tok/req | completion tok/req | load avg |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const { concurrency, apis } of apiLevels) {
    const chat = apis[0]
    const engineTimes = apis.map((a) => (outsideS(a) === undefined ? undefined : a.engineSlotS)).filter((t) => t !== undefined)
    const engineS = mean(engineTimes)
    for (const a of apis) {
      // The requests/s ratio if the engine had spent the same time on every API's requests.
      const equalised = engineS === undefined || outsideS(a) === undefined || outsideS(chat) === undefined ? undefined : (engineS + outsideS(chat)) / (engineS + outsideS(a))
      lines.push(
        `| ${a.name} | \`${a.route}\` | ${concurrency} | ${a.ok}/${a.total} | ${fmt(a.requestsPerS, 3)} | ${ratio(a.requestsPerS, chat.requestsPerS)} | ${fmt(a.ttftP50S)} | ` +
          `${fmt(a.meanLatencyS)} | ${fmt(a.engineSlotS)} | ${outside(a)} | ${signedMs(outsideS(a), outsideS(chat))} | ${equalised === undefined ? '–' : `${equalised.toFixed(3)}×`} | ` +
          `${fmt(a.promptTokens, 0)} | ${fmt(a.completionTokens, 0)} | ${fmt(a.loadAfter, 1)} |`,
      )
    }
  }
  return lines.join('\n')
}

function apiSection(r) {
  if (r.apiLevels.length === 0) return '_Not run: --api-concurrency none._'
  const errors = r.apiLevels.flatMap((l) => l.apis.flatMap((a) => a.errors.map((e) => `- ${a.name}, concurrency ${l.concurrency}: ${e}`)))
  return `The same streamed question about a distinct ${r.imageSize}×${r.imageSize} JPEG through each API Visto speaks, on the same server and engine as above, as the same prompt (the image, then one text: Ollama's messages have no other shape; \`max_tokens\` ${r.maxTokens} in each API's own field, temperature 0, no \`ignore_eos\`: the stand-ins never end early). The APIs take turns, each order twice in a row, the order rotating between pairs, so drift on the shared machine falls on all of them alike; one unmeasured warm-up request each.

${apiTable(r.apiLevels)}
${errors.length > 0 ? `\nFailed requests:\n\n${errors.join('\n')}\n` : ''}
**÷ chat completions** is the plain ratio of requests per second, and carries the engine's own run-to-run swing (the engine s/req column). **Outside engine − chat** is what an adapter adds to a request beyond chat completions' own cost (latency minus the engine's slot time, as above), and **÷ chat, engine time equalised** the requests/s ratio that cost gives when every API's requests take the engine the same time (the mean over the APIs at that level). A stored response also commits its row to SQLite before the answer's last event. The slot time only starts when llama-server first batches a slot's prompt; these prompts open with the image, and with several at once the time before that clock starts runs to seconds for every API, chat completions included (the phase above, whose prompts open with text, shows a fraction of a second). That time is llama-server's, yet it lands in the outside-engine columns, so with several requests at once read those two columns as an upper bound on an adapter's cost and compare requests/s and latency. The HTTP layer's section below measures the same adapters on an engine that answers at once.`
}

/**
 * The sections of an earlier report that this script does not write (measurements recorded
 * by hand from the focused scripts: grammar cost, routing, video …), kept in their place
 * before "How to read this" instead of being lost when the report is regenerated.
 */
function withCarriedSections(report, previous) {
  if (previous === undefined) return report
  const sections = (markdown) => markdown.split(/^(?=## )/m).slice(1)
  const heading = (section) => section.slice(0, section.indexOf('\n')).trim()
  const written = new Set(sections(report).map(heading))
  const carried = sections(previous).filter((section) => !written.has(heading(section)))
  if (carried.length === 0) return report
  const at = report.indexOf('\n## How to read this')
  return `${report.slice(0, at).trimEnd()}\n\n${carried.map((c) => c.trimEnd()).join('\n\n')}\n${report.slice(at)}`
}

function renderReport(r) {
  const errorNotes = r.levels.flatMap((l) =>
    [
      ['Visto', l.visto],
      ['direct', l.direct],
    ].flatMap(([name, s]) => s.errors.map((e) => `- ${name}, concurrency ${l.concurrency}: ${e}`)),
  )
  return `# Visto benchmarks

Generated by \`scripts/bench.js\` (\`npm run bench\`); do not edit by hand.

- **Date:** ${r.date}
- **Command:** \`${r.command}\`
- **Machine:** ${r.machine.cpu}, ${r.machine.cores} cores (os.cpus), ${fmt(r.machine.memoryGiB, 1)} GiB memory, ${r.machine.platform}, Node ${r.machine.node}
- **Load average** (1 min) at start / end: ${fmt(r.loadStart, 2)} / ${fmt(r.loadEnd, 2)}${r.machine.cores <= 4 ? ' — a small machine shared with other work, so expect noise of tens of percent between runs' : ''}
- **Engine:** llama-server build \`${r.engine.key}\` (${r.engine.version}), \`${r.engine.path}\`
- **Model:** ${r.model.label}
  - ${r.model.files ?? `\`${r.model.model}\``} (${mib(r.model.modelBytes)}), \`${r.model.files ? basename(r.model.mmproj) : r.model.mmproj}\` (${mib(r.model.mmprojBytes)})
- **Settings:** ${r.threads} engine threads, ${r.parallel} parallel slots, ${r.ctxSize} tokens of context per slot; per request one distinct ${r.imageSize}×${r.imageSize} JPEG plus a short question, \`stream: true\`, \`max_tokens: ${r.maxTokens}\` with \`ignore_eos: true\` (exactly ${r.maxTokens} tokens generated), temperature 0; one unmeasured warm-up request per target. Visto started and loaded the model in ${fmt(r.loadSeconds, 1)} s.
${r.model.kind === 'standin-4b' ? '' : r.model.kind === 'standin-tiny' ? "\n> **This run used the tiny stand-in, not the full-size one.** Its model costs almost nothing, so the ratios below show Visto's fixed per-request cost at its most visible; they are not what a 4B model would show.\n" : ''}
## Visto vs. the engine it supervises

Same requests, same llama-server process: **Visto** is \`POST /v1/chat/completions\` on Visto; **direct** is llama-server's own \`/v1/chat/completions\` on its private port. At each concurrency level the requests go out in rounds of that many at once, alternating Visto and direct rounds (A B B A …).

${throughputTable(r.levels)}

Visto ÷ direct (for requests/s and tok/s below 1.00× means Visto is slower; for TTFT and latency above 1.00× means Visto is slower):

${ratioTable(r.levels)}
${engineTimings(r.levels)}
${errorNotes.length > 0 ? `\nFailed requests:\n\n${errorNotes.join('\n')}\n` : ''}
Visto's image pipeline alone (decode, normalise, re-encode one ${r.imageSize}×${r.imageSize} JPEG in-process, mean of ${r.pipeline.count}): ${fmt(r.pipeline.meanMs, 1)} ms.

## API adapters on the same engine

${apiSection(r)}

## llama.cpp's ceiling (llama-bench, same model file and threads, text only)

${llamaBenchTable(r.llamaBench)}

## Image preprocessing (scripts/bench-images.js)

${r.imageBench.skipped ? `_Not run: ${r.imageBench.skipped}_` : r.imageBench.markdown}

## The HTTP layer on its own (scripts/bench-http.js)

${r.httpBench.skipped ? `_Not run: ${r.httpBench.skipped}_` : r.httpBench.markdown}

## Response cache (scripts/bench-cache.js)

${r.cacheBench.skipped ? `_Not run: ${r.cacheBench.skipped}_` : r.cacheBench.markdown}

## PDF rendering (scripts/bench-pdf.js)

${r.pdfBench.skipped ? `_Not run: ${r.pdfBench.skipped}_` : r.pdfBench.markdown}

## Server-side batch vs. direct requests (scripts/bench-batches.js)

${r.batchBench.skipped ? `_Not run: ${r.batchBench.skipped}_` : r.batchBench.markdown}

## Image embedding cache (scripts/bench-embedding-cache.js)

${r.embeddingCacheBench.skipped ? `_Not run: ${r.embeddingCacheBench.skipped}_` : r.embeddingCacheBench.markdown}

## How to read this

Both targets run on the same llama-server process with the same images, so the **Visto ÷ direct** ratios are Visto's own cost: parsing the request, decoding and re-encoding each image with sharp, rendering the chat template, and relaying the stream. A ratio near 1.00× means the engine dominates, as it should; on the same CPU cores Visto's image work competes with the engine's threads. One difference is not overhead but a choice: Visto names the slot each request takes (the lowest free one), while the direct requests leave it to llama-server, whose least-recently-used choice scatters fewer requests than slots, and a batch on scattered slots decodes slower (its attention spans the empty slots between them); so between 1 and the slot count, Visto can beat direct. Because the machine is shared, the engine's own speed swings from run to run (see the load column), and that moves every time-based column on both sides. The steadier measure of Visto's cost is therefore **outside engine s/req**: a request's latency minus the time llama-server itself reports for that request's slot (prompt, image encoder and generation, from its log), i.e. the time spent in HTTP, JSON, image handling, templating and streaming; **outside engine Visto − direct** is what Visto adds per request. **TTFT** (time to the first content token) includes the vision encoder and prompt processing, so it is the number images move most; **completion tok/s** is generated tokens per wall-clock second over the whole level (all streams together), and **per-stream tok/s** the decode speed one client sees. The direct path renders the prompt with llama-server's own template and Visto with its own, so prompt token counts can differ by a few tokens (see the prompt tok/req column). **llama-bench** measures the engine alone on text (no image encoder, no HTTP) and is the ceiling: direct generation at concurrency 1 should come close to its tg figure, and prompt-heavy requests cannot beat its pp figure per token. The models are stand-ins with random weights and real shapes: speed matches the real model of the same shape, the text does not. Percentiles are nearest-rank (each is a time some request really took), so with fewer than 20 requests a level's p95 is its slowest request; rerun before drawing fine conclusions.
`
}

// ---------------------------------------------------------------- API adapters

/**
 * The API adapters' phase: the same streamed image question through chat completions,
 * the Responses API (unstored and stored), Anthropic's Messages API and Ollama's chat, on
 * the same server and engine. Every request gets an image of its own (the engine's
 * embedding cache would otherwise answer the second API's image from the first's), and
 * the APIs take turns, each order twice in a row, the order rotating between pairs, so
 * drift on a shared machine falls on all of them alike. (Before Visto named the engine's
 * slots, rounds of 4 on 8 slots alternated 24 s and 37 s whatever was sent, as
 * llama-server's own choice scattered them: see SlotPicker. A pair of turns put one of
 * each on every API.)
 */
async function runApiPhase({ server, slotTimes, options, firstImage, firstPhase }) {
  if (options.apiConcurrency.length === 0) return []
  const targets = [
    { name: 'chat completions', path: '/v1/chat/completions', wire: 'chat', body: apiBodies.chat },
    { name: 'Responses API, store: false', path: '/v1/responses', wire: 'responses', body: apiBodies.responses(false) },
    { name: 'Responses API, stored', path: '/v1/responses', wire: 'responses', body: apiBodies.responses(true) },
    { name: "Anthropic's Messages API", path: '/v1/messages', wire: 'anthropic', body: apiBodies.anthropic },
    { name: "Ollama's chat API", path: '/api/chat', wire: 'ollama', body: apiBodies.ollama },
  ].map((t) => ({ ...t, url: () => `${server.url}${t.path}`, headers: () => ({}) }))
  // An odd number of APIs is what makes the pairs of turns balance (see above).
  if (targets.length % 2 === 0) throw new Error('the API phase balances fast and slow rounds only with an odd number of APIs')
  let nextImage = firstImage
  let phase = firstPhase
  const imagesFor = async (count) => {
    const images = []
    for (let i = 0; i < count; i++) images.push(`data:image/jpeg;base64,${(await testImage(nextImage++, options.imageSize)).toString('base64')}`)
    return images
  }
  for (const target of targets) {
    progress(`API phase: warm-up request via ${target.name}`)
    const [image] = await imagesFor(1)
    const warm = await timedRequest(target, target.body(image, phase++, 0, options.maxTokens))
    if (!warm.ok) throw new Error(`warm-up via ${target.name} failed: ${warm.error}`)
    await slotTimes.take(1)
  }
  const levels = []
  let roundNumber = 0
  for (const concurrency of options.apiConcurrency) {
    const count = options.apiRequests ?? (options.quick ? 2 : Math.max(10, 4 * concurrency))
    progress(`API phase, concurrency ${concurrency}: ${count} requests per API in rounds of ${concurrency}`)
    const collected = []
    for (const target of targets) collected.push({ target, images: await imagesFor(count), tally: new RoundTally() })
    for (let first = 0; first < count; first += concurrency) {
      const size = Math.min(concurrency, count - first)
      const shift = Math.floor(roundNumber / 2)
      const order = collected.map((_, i) => collected[(i + shift) % collected.length])
      roundNumber++
      for (const entry of order) {
        await entry.tally.add(await runRound(entry.target, entry.images, phase++, first, size, concurrency, options.maxTokens), slotTimes)
      }
    }
    levels.push({
      concurrency,
      apis: collected.map((e) => ({ name: e.target.name, route: `POST ${e.target.path}`, ...e.tally.summary() })),
    })
  }
  return levels
}

// ---------------------------------------------------------------- main

async function measurePipeline(imageDataUrls) {
  const { prepareImage, defaultImagePipelineOptions } = await import('../packages/server/dist/images/pipeline.js')
  const count = Math.min(imageDataUrls.length, 10)
  const started = performance.now()
  for (let i = 0; i < count; i++) await prepareImage(imageDataUrls[i], `messages[0].content[1]`, defaultImagePipelineOptions)
  return { count, meanMs: (performance.now() - started) / count }
}

async function main() {
  const options = parseOptions(process.argv.slice(2))
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`
      : `node ${relative(process.cwd(), fileURLToPath(import.meta.url)) || 'scripts/bench.js'} ${process.argv.slice(2).join(' ')}`.trim()
  if (!existsSync(join(repoRoot, 'packages/server/dist/main.js'))) fail('packages/server/dist is missing: run `npx tsc -b` first')
  const loadStart = os.loadavg()[0]
  const date = new Date().toISOString()
  const engine = await llamaServerInfo()
  const model = await chooseModel(options)
  model.modelBytes = statSync(model.model).size
  model.mmprojBytes = statSync(model.mmproj).size
  process.stdout.write(`Model: ${model.label}\n  ${model.model} (${mib(model.modelBytes)})\n  ${model.mmproj} (${mib(model.mmprojBytes)})\n`)

  const parallel = Math.max(...options.concurrency)
  const ctxSize = 2048
  const countFor = (c) => options.requests ?? (options.quick ? 3 : Math.max(3, 2 * c))
  const maxCount = Math.max(...options.concurrency.map(countFor)) + 1
  progress(`generating ${maxCount} distinct ${options.imageSize}×${options.imageSize} images`)
  const images = []
  for (let i = 0; i < maxCount; i++) images.push(`data:image/jpeg;base64,${(await testImage(i, options.imageSize)).toString('base64')}`)
  const warmupImage = images.pop()
  const pipeline = await measurePipeline(images)

  const dataDir = await mkdtemp(join(os.tmpdir(), 'visto-bench-data-'))
  const { parseServeConfig } = await import('../packages/server/dist/config.js')
  const { startServer } = await import('../packages/server/dist/main.js')
  const serveArgs = [
    '--port',
    '0',
    '--model',
    model.model,
    '--mmproj',
    model.mmproj,
    '--parallel',
    String(parallel),
    '--ctx-size',
    String(ctxSize),
    '--threads',
    String(options.threads),
    '--log-level',
    'silent',
    '--response-cache',
    'off',
    // Stored responses (the API phase) go to a folder of the run's own, not the user's data.
    '--data-dir',
    dataDir,
  ]
  progress(`starting Visto in-process (${serveArgs.join(' ')})`)
  const loadStarted = performance.now()
  const slotTimes = new EngineSlotTimes()
  const server = await startServer(parseServeConfig(serveArgs, {}), { log: () => {}, engineLog: slotTimes.onLine })
  const killEngine = () => server.kill()
  process.once('exit', killEngine)
  const interrupted = () => {
    progress('interrupted: stopping the engine')
    killEngine()
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)

  const levels = []
  let apiLevels = []
  let loadSeconds
  try {
    await server.ready
    loadSeconds = (performance.now() - loadStarted) / 1000
    progress(`model ready in ${loadSeconds.toFixed(1)} s`)
    const targets = {
      visto: { name: 'Visto', url: () => `${server.url}/v1/chat/completions`, headers: () => ({}) },
      direct: {
        name: 'direct',
        // The engine's private fields: the child it supervises, read per request in case it restarted.
        url: () => `${server.engine.process.baseUrl}/v1/chat/completions`,
        headers: () => ({ authorization: `Bearer ${server.engine.process.apiKey}` }),
      },
    }
    let phase = 0
    for (const target of [targets.visto, targets.direct]) {
      progress(`warm-up request via ${target.name}`)
      const warm = await timedRequest(target, chatBody(warmupImage, phase++, 0, options.maxTokens))
      if (!warm.ok) throw new Error(`warm-up via ${target.name} failed: ${warm.error}`)
      await slotTimes.take(1)
      progress(`  warm-up via ${target.name}: ${(warm.latencyMs / 1000).toFixed(1)} s`)
    }
    // Rounds alternate A B B A … between the targets, so drift and bursts of other work on
    // a shared machine fall on both sides alike instead of on whichever ran second.
    let vistoFirst = true
    for (const concurrency of options.concurrency) {
      const count = countFor(concurrency)
      const collected = { visto: new RoundTally(), direct: new RoundTally() }
      progress(`concurrency ${concurrency}: ${count} requests per target in rounds of ${concurrency}`)
      for (let first = 0; first < count; first += concurrency) {
        const size = Math.min(concurrency, count - first)
        for (const key of vistoFirst ? ['visto', 'direct'] : ['direct', 'visto']) {
          await collected[key].add(await runRound(targets[key], images, phase++, first, size, concurrency, options.maxTokens), slotTimes)
        }
        vistoFirst = !vistoFirst
      }
      levels.push({
        concurrency,
        visto: collected.visto.summary(),
        direct: collected.direct.summary(),
      })
    }
    apiLevels = await runApiPhase({ server, slotTimes, options, firstImage: maxCount, firstPhase: phase })
  } finally {
    progress('stopping Visto')
    await server.shutdown()
    process.off('exit', killEngine)
    await rm(dataDir, { recursive: true, force: true })
  }

  const llamaBench = options.llamaBench ? await runLlamaBench(engine.path, model.model, options.threads, options.benchReps) : { skipped: '--no-llama-bench' }
  const imageBench = options.images ? await runSubBench('bench-images.js') : { skipped: '--no-images was given.' }
  const httpBench = await runSubBench('bench-http.js')
  const cacheBench = await runSubBench('bench-cache.js')
  const pdfBench = await runSubBench('bench-pdf.js')
  const batchBench = await runSubBench('bench-batches.js')
  const embeddingCacheBench = await runSubBench('bench-embedding-cache.js')
  await model.cleanup?.()
  if (model.kind === 'standin-tiny') {
    // The files were temporary; say what they were instead of pointing at deleted paths.
    model.files = '`model.gguf` generated by `visto standin --preset tiny` into a temporary folder'
  }

  const report = renderReport({
    date,
    command,
    machine: machineInfo(),
    loadStart,
    loadEnd: os.loadavg()[0],
    engine,
    model,
    threads: options.threads,
    parallel,
    ctxSize,
    imageSize: options.imageSize,
    maxTokens: options.maxTokens,
    levels,
    apiLevels,
    loadSeconds,
    pipeline,
    llamaBench,
    imageBench,
    httpBench,
    cacheBench,
    pdfBench,
    batchBench,
    embeddingCacheBench,
  })
  await mkdir(dirname(options.out), { recursive: true })
  await writeFile(options.out, withCarriedSections(report, existsSync(options.out) ? readFileSync(options.out, 'utf8') : undefined))
  process.stdout.write(
    `\n${throughputTable(levels)}\n\nVisto ÷ direct:\n\n${ratioTable(levels)}\n\n${apiLevels.length > 0 ? `API adapters:\n\n${apiTable(apiLevels)}\n\n` : ''}llama-bench:\n\n${llamaBenchTable(llamaBench)}\n\n` +
      `Image preprocessing:\n\n${imageBench.skipped ? `Not run: ${imageBench.skipped}` : imageBench.markdown}\n\n` +
      `HTTP layer:\n\n${httpBench.skipped ? `Not run: ${httpBench.skipped}` : httpBench.markdown}\n\nWrote ${relative(process.cwd(), options.out) || options.out}\n`,
  )
  process.exit(0)
}

main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exit(1)
})
