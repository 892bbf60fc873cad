#!/usr/bin/env node
// Large fuzz run of the image pipeline, through the built code (run `npm run build`
// first). Exit code 1 on any violation.
//
// Pipeline mode (default): hostile images straight into prepareImage. Every case must
// end in a usable image or a 400/413 "Invalid image data…" / "Image too large…" ApiError.
//
// HTTP mode: the same images plus malformed JSON shapes, cut-off bodies, Responses API bodies, multipart
// uploads and Ollama's /api/chat and /api/generate bodies, over real sockets. `--http` starts an in-process server (real pipeline and
// routes, an echo engine instead of the model, in a worker thread); `--url` targets a running Visto (keep
// --concurrency at or below its --parallel, and expect the model to run for every image
// that is accepted). Zero 5xx (a 503 with Retry-After counts as overload, not a fault),
// every error in its API's envelope (OpenAI's; Ollama's {"error": …} on /api/ routes;
// Anthropic's on /v1/messages), and the server must still answer at the end.
// HTTP mode also sends hostile videos (truncated, corrupted, lying headers, mislabelled,
// from ffmpeg-made seed clips) as video_url parts: one case in ten, at most
// --video-cases (default 200; 0 turns them off; skipped when ffmpeg is not installed).
// Then the requests of issue 18 (scripts/http-attacks.js: nested JSON bodies, a deep
// batch line, hostile Host headers and file names, a 414, bad chunking, a freezing
// schema, images over the context), each with its expected refusal, /health polled
// meanwhile: a few seconds in all. `--cases 0` runs only those. `--max-stall-ms` (250) is
// the slowest /health answer allowed during one: on an idle machine they take 5–70 ms
// (the issue asks for under 100), the default leaves room for a shared one; before the
// fixes they took 1.4 to 16 s.
//
//   node scripts/fuzz-images.js --cases 200000 [--seed 7] [--concurrency 4] [--json]
//   node scripts/fuzz-images.js --http --cases 20000
//   node scripts/fuzz-images.js --http --cases 0            # the issue-18 attacks only
//   node scripts/fuzz-images.js --url http://127.0.0.1:7860 --cases 500 --concurrency 2
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import sharp from 'sharp'

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    concurrency: { type: 'string', default: String(Math.max(2, availableParallelism())) },
    json: { type: 'boolean', default: false },
    http: { type: 'boolean', default: false },
    'video-cases': { type: 'string', default: '200' },
    url: { type: 'string' },
    'max-stall-ms': { type: 'string', default: '250' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (values.help) {
  console.log('usage: node scripts/fuzz-images.js [--cases N] [--seed S] [--concurrency C] [--json] [--http | --url BASE_URL] [--video-cases N] [--max-stall-ms MS]')
  process.exit(0)
}
const cases = Number(values.cases)
const seed = Number(values.seed)
const concurrency = Number(values.concurrency)
const maxStallMs = Number(values['max-stall-ms'])
const httpMode = values.http || values.url !== undefined
if (!(Number.isInteger(cases) && (cases > 0 || (cases === 0 && httpMode)) && Number.isInteger(seed) && concurrency > 0 && maxStallMs > 0)) {
  console.error('fuzz-images: --cases, --seed, --concurrency and --max-stall-ms must be positive integers (--cases 0 with --http or --url)')
  process.exit(2)
}

let pipeline, geometry, errors, fuzz, seeds, videoFuzz, testClips
try {
  pipeline = await import('../packages/server/dist/images/pipeline.js')
  geometry = await import('../packages/server/dist/engines/vision-geometry.js')
  errors = await import('../packages/server/dist/errors.js')
  fuzz = await import('../packages/testkit/dist/images/image-fuzz.js')
  seeds = await import('../packages/testkit/dist/images/fuzz-seeds.js')
  videoFuzz = await import('../packages/testkit/dist/videos/video-fuzz.js')
  testClips = await import('../packages/testkit/dist/videos/test-clips.js')
} catch (error) {
  console.error(`fuzz-images: cannot load the built pipeline and test kit (${error.message}); run \`npm run build\` first`)
  process.exit(2)
}

const seedImages = await seeds.fuzzSeeds()
const options = { ...pipeline.defaultImagePipelineOptions, decodeTimeoutSeconds: 10 }
let maxVideoCases = httpMode ? Number(values['video-cases']) : 0
if (maxVideoCases > 0 && !testClips.ffmpegAvailable) {
  console.error(`fuzz-images: no video cases: ${testClips.noFfmpegReason}`)
  maxVideoCases = 0
}
const videoSeeds = maxVideoCases > 0 ? await testClips.videoFuzzSeeds() : []
let videoCases = 0
let baseUrl = values.url?.replace(/\/+$/, '')
let closeServer = async () => {}
if (values.http) ({ baseUrl, closeServer } = await startInProcessServer())
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
    if (httpMode && index % 10 === 9 && videoCases < maxVideoCases) {
      videoCases++
      ;({ outcome, label: testCase.label } = await videoCase(index))
    } else if (httpMode) {
      ;({ outcome, label: testCase.label } = await httpCase(index, testCase))
    } else
      try {
        const image = await pipeline.prepareImage(testCase.url, `messages[0].content[${index}]`, options, index % 3 === 0 ? 'low' : undefined)
        outcome = fuzz.checkAccepted(image, geometry.tokenSide(options.geometry()), options.pixelBudget.auto)
      } catch (error) {
        outcome = fuzz.classifyFailure(error, errors.ApiError)
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
let stillUp = true
let attackResults = []
if (httpMode) {
  const { runAttacks } = await import('./http-attacks.js')
  const batches = (await fetch(`${baseUrl}/v1/batches`).catch(() => undefined))?.status === 200
  attackResults = await runAttacks(baseUrl, { batches, maxStallMs })
  for (const result of attackResults) {
    if (!result.wrong) continue
    tally.violations++
    violations.push(`issue-18 attack ${result.label}: ${result.wrong}`)
  }
  stillUp = await serverStillAnswers()
  if (!stillUp) {
    tally.violations++
    violations.push('the server no longer answers a valid request after the run')
  }
  await closeServer()
}
const seconds = (performance.now() - started) / 1000
peakRss = Math.max(peakRss, process.memoryUsage().rss)
const report = {
  mode: values.url ? `http ${values.url}` : values.http ? 'http (in-process server, echo engine)' : 'pipeline',
  cases,
  seed,
  concurrency,
  seconds: Number(seconds.toFixed(1)),
  casesPerSecond: Math.round(cases / Math.max(seconds, 0.001)),
  videoCases,
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  ...tally,
  outcomes: Object.fromEntries([...byCode.entries()].sort((a, b) => b[1] - a[1])),
  attacks: attackResults,
  firstViolations: violations,
}
if (values.json) {
  console.log(JSON.stringify(report, null, 2))
} else {
  console.log(
    `image fuzz [${report.mode}]: ${cases} cases (seed ${seed}, concurrency ${concurrency}) in ${report.seconds} s (${report.casesPerSecond}/s), peak RSS ${report.peakRssMiB} MiB`,
  )
  if (httpMode) console.log(`  server still answering after the run: ${stillUp ? 'yes' : 'NO'}`)
  if (httpMode) console.log(`  of them video cases: ${videoCases}`)
  console.log(`  accepted ${tally.accepted}, refused ${tally.refused}, violations ${tally.violations}`)
  for (const [key, count] of Object.entries(report.outcomes)) console.log(`  ${String(count).padStart(8)}  ${key}`)
  for (const result of attackResults) console.log(`  ${result.wrong ? 'FAILED' : 'held  '}  ${result.label} (/health at most ${result.slowestHealthMs} ms)`)
  for (const line of violations) console.log(`  VIOLATION ${line}`)
  const attacksHeld = attackResults.filter((r) => !r.wrong).length
  console.log(`${tally.accepted + tally.refused + attacksHeld} passed, ${tally.violations} failed`)
}
process.exit(tally.violations === 0 ? 0 : 1)

// ---------------------------------------------------------------------------------
// HTTP mode

/** The server in a worker thread (scripts/fuzz-server-worker.js); resolves once it listens. */
async function startInProcessServer() {
  const { Worker } = await import('node:worker_threads')
  const worker = new Worker(new URL('./fuzz-server-worker.js', import.meta.url), { workerData: { concurrency } })
  const { address } = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const closeServer = async () => {
    const closed = new Promise((resolve) => worker.once('message', resolve))
    worker.postMessage('close')
    await closed
    await worker.terminate()
  }
  return { baseUrl: address, closeServer }
}

/** The request a typical client sends: a Chinese "describe this scene" prompt and one image. */
function describeRequest(url, detail) {
  return {
    model: 'qwen3-vl-4b-instruct',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '请详细描述这张图片中的场景' },
          { type: 'image_url', image_url: detail ? { url, detail } : { url } },
        ],
      },
    ],
    max_tokens: 1,
    temperature: 0.3,
  }
}

/** The same request as Anthropic's Messages API takes it: the image as a base64 source block (any other URL as a url source). */
function anthropicRequest(url) {
  const match = /^data:([^;,]*);base64,(.*)$/s.exec(url)
  const source = match ? { type: 'base64', media_type: match[1] || 'image/png', data: match[2] } : { type: 'url', url }
  return {
    model: 'qwen3-vl-4b-instruct',
    max_tokens: 1,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '请详细描述这张图片中的场景' },
          { type: 'image', source },
        ],
      },
    ],
  }
}

/** JSON shapes clients get wrong: every position of that request, filled with junk. */
function malformedBody(random) {
  const junk = [null, 0, -1, 1e308, '', 'x', [], {}, [[]], { type: 'image_url' }, { url: 1 }, true, '\u0000', { image_url: { url: null } }]
  const pick = () => junk[Math.floor(random() * junk.length)]
  const body = describeRequest('data:image/png;base64,iVBORw0KGgo=')
  const slots = [
    () => (body.messages = pick()),
    () => (body.messages[0] = pick()),
    () => (body.messages[0].role = pick()),
    () => (body.messages[0].content = pick()),
    () => (body.messages[0].content[1] = pick()),
    () => (body.messages[0].content[1].type = pick()),
    () => (body.messages[0].content[1].image_url = pick()),
    () => (body.messages[0].content[1].image_url.url = pick()),
    () => (body.messages[0].content[1].image_url.detail = pick()),
    () => (body.messages[0].content[0].text = pick()),
    () => (body.max_tokens = pick()),
    () => (body.temperature = pick()),
    () => (body.model = pick()),
  ]
  slots[Math.floor(random() * slots.length)]()
  return JSON.stringify(body)
}

/** The same image question as a Responses API body (`POST /v1/responses`). */
function responsesRequest(url) {
  return {
    model: 'qwen3-vl-4b-instruct',
    input: [
      {
        role: 'user',
        content: [
          { type: 'input_text', text: '请详细描述这张图片中的场景' },
          { type: 'input_image', image_url: url },
        ],
      },
    ],
    max_output_tokens: 1,
    temperature: 0.3,
    store: false,
  }
}

/** Every position of a Responses body, filled with junk (its own item and part types included). */
function malformedResponsesBody(random) {
  const junk = [
    null,
    0,
    -1,
    1e308,
    '',
    'x',
    [],
    {},
    [[]],
    { type: 'input_image' },
    { type: 'function_call_output' },
    { type: 'reasoning' },
    true,
    '\u0000',
    { image_url: { url: null } },
  ]
  const pick = () => junk[Math.floor(random() * junk.length)]
  const body = responsesRequest('data:image/png;base64,iVBORw0KGgo=')
  const slots = [
    () => (body.input = pick()),
    () => (body.input[0] = pick()),
    () => (body.input[0].role = pick()),
    () => (body.input[0].type = pick()),
    () => (body.input[0].content = pick()),
    () => (body.input[0].content[1] = pick()),
    () => (body.input[0].content[1].type = pick()),
    () => (body.input[0].content[1].image_url = pick()),
    () => (body.input[0].content[1].detail = pick()),
    () => (body.input[0].content[0].text = pick()),
    () => (body.instructions = pick()),
    () => (body.max_output_tokens = pick()),
    () => (body.text = pick()),
    () => (body.tools = pick()),
    () => (body.tool_choice = pick()),
    () => (body.previous_response_id = pick()),
    () => (body.store = pick()),
  ]
  slots[Math.floor(random() * slots.length)]()
  return JSON.stringify(body)
}

/** An Ollama request with the image as its base64 (or data URL), sometimes one field filled with junk or the body cut short. */
function ollamaBody(url, random) {
  const junk = [null, 0, -1, '', 'x', [], {}, [[]], true, { num_predict: 'x' }, ['a'], 'json']
  const pick = () => junk[Math.floor(random() * junk.length)]
  const image = url.startsWith('data:') && random() < 0.7 ? url.slice(url.indexOf(',') + 1) : url
  const message = { role: 'user', content: '请详细描述这张图片中的场景', images: [image] }
  const body = random() < 0.5 ? { model: 'qwen3-vl-4b-instruct:latest', messages: [message] } : { model: 'qwen3-vl-4b-instruct', prompt: message.content, images: message.images }
  Object.assign(body, { stream: random() < 0.5, options: { num_predict: 1, temperature: 0.3 } })
  if (random() < 0.3) {
    const slots = [
      () => (body.model = pick()),
      () => (body.options = pick()),
      () => (body.format = pick()),
      () => (body.stream = pick()),
      () => (body.images = pick()),
      () => (body.messages = pick()),
      () => (message.images = pick()),
      () => (message.content = pick()),
    ]
    slots[Math.floor(random() * slots.length)]()
  }
  const text = JSON.stringify(body)
  return random() < 0.1 ? text.slice(0, Math.floor(random() * text.length)) : text
}

function multipartBody(bytes, random) {
  const boundary = `----visto-fuzz-${Math.floor(random() * 1e9)}`
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`
  const tail = `\r\n--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\ndescribe\r\n--${boundary}\r\nContent-Disposition: form-data; name="max_tokens"\r\n\r\n1\r\n--${boundary}--\r\n`
  let body = Buffer.concat([Buffer.from(head), bytes, Buffer.from(tail)])
  // Sometimes cut the form itself short.
  if (random() < 0.2) body = body.subarray(0, Math.floor(random() * body.length))
  return { body, contentType: `multipart/form-data; boundary=${boundary}` }
}

async function httpCase(index, testCase) {
  const random = fuzz.createRandom((seed * 31 + index) >>> 0)
  const roll = random()
  let label
  let request
  if (index % 10 === 9) {
    label = `Ollama /api/chat or /api/generate: ${testCase.label}`
    request = { path: random() < 0.5 ? '/api/chat' : '/api/generate', body: ollamaBody(testCase.url, random), contentType: 'application/json' }
  } else if (roll < 0.62) {
    label = `chat image: ${testCase.label}`
    request = { path: '/v1/chat/completions', body: JSON.stringify(describeRequest(testCase.url, index % 3 === 0 ? 'low' : undefined)), contentType: 'application/json' }
  } else if (roll < 0.66) {
    const malformed = random() < 0.5
    label = malformed ? 'malformed Responses body' : `responses image: ${testCase.label}`
    request = { path: '/v1/responses', body: malformed ? malformedResponsesBody(random) : JSON.stringify(responsesRequest(testCase.url)), contentType: 'application/json' }
  } else if (roll < 0.7) {
    label = `anthropic image: ${testCase.label}`
    request = { path: roll < 0.68 ? '/v1/messages' : '/v1/messages/count_tokens', body: JSON.stringify(anthropicRequest(testCase.url)), contentType: 'application/json' }
  } else if (roll < 0.85) {
    label = 'malformed JSON shape'
    request = { path: '/v1/chat/completions', body: malformedBody(random), contentType: 'application/json' }
  } else if (roll < 0.93) {
    const text = JSON.stringify(describeRequest(testCase.url))
    label = 'cut-off JSON body'
    request = { path: '/v1/chat/completions', body: text.slice(0, Math.floor(random() * text.length)), contentType: random() < 0.5 ? 'application/json' : 'text/plain' }
  } else {
    const comma = testCase.url.indexOf(',')
    const bytes = Buffer.from(comma >= 0 ? testCase.url.slice(comma + 1) : testCase.url, 'base64')
    const form = multipartBody(bytes, random)
    label = `multipart upload: ${testCase.label}`
    request = { path: '/v1/images/describe', body: form.body, contentType: form.contentType }
  }
  try {
    const response = await fetch(`${baseUrl}${request.path}`, {
      method: 'POST',
      headers: { 'content-type': request.contentType },
      body: request.body,
      signal: AbortSignal.timeout(120_000),
    })
    const text = await response.text()
    const status = response.status
    if (status === 503 && response.headers.get('retry-after')) return { label, outcome: { kind: 'refused', status, code: 'overloaded' } }
    if (status >= 500) return { label, outcome: { kind: 'violation', reason: `HTTP ${status}: ${text.slice(0, 200)}` } }
    if (status === 200) return { label, outcome: { kind: 'accepted' } }
    let envelope
    try {
      envelope = JSON.parse(text)
    } catch {
      return { label, outcome: { kind: 'violation', reason: `HTTP ${status} without a JSON body: ${text.slice(0, 200)}` } }
    }
    // Ollama's routes answer in Ollama's shape, the message alone.
    if (request.path.startsWith('/api/')) {
      if (typeof envelope?.error !== 'string' || Object.keys(envelope).length !== 1)
        return { label, outcome: { kind: 'violation', reason: `HTTP ${status} without Ollama's error body: ${text.slice(0, 200)}` } }
      return { label, outcome: { kind: 'refused', status, code: 'ollama_error' } }
    }
    if (typeof envelope?.error?.message !== 'string' || typeof envelope.error.type !== 'string') {
      return { label, outcome: { kind: 'violation', reason: `HTTP ${status} without the error envelope: ${text.slice(0, 200)}` } }
    }
    // Anthropic's body (on /v1/messages) has no code: its error type stands in.
    return { label, outcome: { kind: 'refused', status, code: envelope.error.code ?? (envelope.type === 'error' ? `anthropic ${envelope.error.type}` : null) } }
  } catch (error) {
    return { label, outcome: { kind: 'violation', reason: `request failed: ${error.cause?.code ?? error.message}` } }
  }
}

/** A hostile clip as a video_url part: only 200, 400 or 413 (or 503 overload) may come back, in the envelope. */
async function videoCase(index) {
  const testCase = videoFuzz.videoFuzzCase(videoSeeds, index, seed)
  const label = `chat video: ${testCase.label}`
  const body = JSON.stringify({
    model: 'qwen3-vl-4b-instruct',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'video_url', video_url: { url: testCase.url } },
          { type: 'text', text: 'What happens?' },
        ],
      },
    ],
    max_tokens: 1,
  })
  try {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(300_000) })
    const text = await response.text()
    const status = response.status
    if (status === 503 && response.headers.get('retry-after')) return { label, outcome: { kind: 'refused', status, code: 'overloaded' } }
    if (!videoFuzz.isAllowedVideoStatus(status)) return { label, outcome: { kind: 'violation', reason: `HTTP ${status}: ${text.slice(0, 200)}` } }
    if (status === 200) return { label, outcome: { kind: 'accepted' } }
    const envelope = JSON.parse(text)
    if (typeof envelope?.error?.message !== 'string') return { label, outcome: { kind: 'violation', reason: `HTTP ${status} without the error envelope: ${text.slice(0, 200)}` } }
    return { label, outcome: { kind: 'refused', status, code: `video ${envelope.error.code ?? null}` } }
  } catch (error) {
    return { label, outcome: { kind: 'violation', reason: `request failed: ${error.cause?.code ?? error.message}` } }
  }
}

async function serverStillAnswers() {
  try {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#4080c0' } })
      .png()
      .toBuffer()
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(describeRequest(`data:image/png;base64,${png.toString('base64')}`)),
      signal: AbortSignal.timeout(120_000),
    })
    return response.status === 200
  } catch {
    return false
  }
}
