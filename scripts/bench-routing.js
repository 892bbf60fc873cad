// npm run bench:routing — simulates a pool of engines behind Visto's router (no engine runs)
// to compare round-robin, least-loaded and affinity routing past what one machine can test.
//
// Service times come from our measurements on the real model shape (docs/benchmarks.md,
// "Image embedding cache"): a 1029-token photo costs 33.8 s in the vision encoder and
// 32 s of prompt decoding on 2 CPU threads, and generation runs at 14 tok/s; a photo's
// embeddings take 40.5 MiB, so the default --image-cache-mb 256 holds 6 of them per engine.
// Each engine runs one request at a time (one slot, as measured), first come first served.
// The routing policy is the server's own (packages/server/dist/engines/pool/routing-policy.js).
//
// The trace: conversations arrive as a Poisson process; each is about one image drawn from
// a Zipf-popular catalogue and has a first question plus a geometric number of follow-ups,
// each some think time after the previous answer was due. A request's hit or miss is decided
// when it is routed, against its engine's LRU of images (FIFO service makes that the order
// the engine encodes them in).
import { parseArgs } from 'node:util'
const { chooseEngines, defaultLoadBound } = await import('../packages/server/dist/engines/pool/routing-policy.js')

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: '64' },
    conversations: { type: 'string', default: '20000' },
    catalogue: { type: 'string', default: '20000' },
    zipf: { type: 'string', default: '1.0' },
    'follow-ups': { type: 'string', default: '1.5' },
    utilisation: { type: 'string', default: '0.7' },
    'cache-mb': { type: 'string', default: '256' },
    factor: { type: 'string', default: String(defaultLoadBound.factor) },
    constant: { type: 'string', default: String(defaultLoadBound.constant) },
    seed: { type: 'string', default: '42' },
  },
})
const ENGINES = Number(values.engines)
const CONVERSATIONS = Number(values.conversations)
const CATALOGUE = Number(values.catalogue)
const ZIPF = Number(values.zipf)
const FOLLOW_UPS = Number(values['follow-ups'])
const UTILISATION = Number(values.utilisation)
const bound = { factor: Number(values.factor), constant: Number(values.constant) }

const ENCODE_S = 33.8
const PREFILL_TOKENS_PER_S = 32
const PROMPT_TOKENS = 1029 + 20
const DECODE_TOKENS_PER_S = 14
const ANSWER_TOKENS = 64
const PHOTO_MIB = 40.5
const CACHE_IMAGES = Math.floor(Number(values['cache-mb']) / PHOTO_MIB)
const THINK_S = [20, 120]

function random(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The trace: requests sorted by arrival time, each { at, image }. */
function trace(rand) {
  const weights = Array.from({ length: CATALOGUE }, (_, i) => 1 / (i + 1) ** ZIPF)
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative = []
  let sum = 0
  for (const w of weights) {
    sum += w / total
    cumulative.push(sum)
  }
  const pick = () => {
    const u = rand()
    let lo = 0
    let hi = CATALOGUE - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid] < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  // Arrival rate for the target utilisation, with every request costing a miss (the worst case).
  const missService = ENCODE_S + PROMPT_TOKENS / PREFILL_TOKENS_PER_S + ANSWER_TOKENS / DECODE_TOKENS_PER_S
  const requestsPerConversation = 1 + FOLLOW_UPS
  const rate = (UTILISATION * ENGINES) / (missService * requestsPerConversation)
  const requests = []
  let at = 0
  for (let c = 0; c < CONVERSATIONS; c++) {
    at += -Math.log(1 - rand()) / rate
    const image = pick()
    let t = at
    requests.push({ at: t, image })
    // Geometric number of follow-ups with mean FOLLOW_UPS.
    while (rand() < FOLLOW_UPS / (1 + FOLLOW_UPS)) {
      t += missService + THINK_S[0] + rand() * (THINK_S[1] - THINK_S[0])
      requests.push({ at: t, image })
    }
  }
  return requests.sort((a, b) => a.at - b.at)
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

function simulate(mode, requests, rand) {
  const engines = Array.from({ length: ENGINES }, (_, i) => ({ id: `engine-${i}`, freeAt: 0, finishes: [], head: 0, cache: new Map(), busy: 0, served: 0 }))
  const byId = new Map(engines.map((e) => [e.id, e]))
  const ttfts = []
  let hits = 0
  let counter = 0
  for (const request of requests) {
    for (const e of engines) while (e.head < e.finishes.length && e.finishes[e.head] <= request.at) e.head++
    const view = engines.map((e) => ({ id: e.id, load: e.finishes.length - e.head, slots: 1 }))
    const choice = chooseEngines(view, mode === 'affinity' ? `image:${request.image}` : undefined, { mode, bound, counter: counter++, random: rand })
    const engine = byId.get(choice.order[0])
    const hit = engine.cache.has(request.image)
    if (hit) {
      hits++
      engine.cache.delete(request.image)
    }
    engine.cache.set(request.image, true)
    if (engine.cache.size > CACHE_IMAGES) engine.cache.delete(engine.cache.keys().next().value)
    const start = Math.max(request.at, engine.freeAt)
    const prompt = (hit ? 0 : ENCODE_S) + PROMPT_TOKENS / PREFILL_TOKENS_PER_S
    const service = prompt + ANSWER_TOKENS / DECODE_TOKENS_PER_S
    engine.freeAt = start + service
    engine.finishes.push(engine.freeAt)
    engine.busy += service
    engine.served++
    ttfts.push(start - request.at + prompt)
  }
  ttfts.sort((a, b) => a - b)
  const busy = engines.map((e) => e.busy)
  const mean = busy.reduce((a, b) => a + b, 0) / busy.length
  return { hitRate: hits / requests.length, p50: percentile(ttfts, 0.5), p95: percentile(ttfts, 0.95), maxOverMean: Math.max(...busy) / mean }
}

const requests = trace(random(Number(values.seed)))
const seen = new Set()
let sharedHits = 0
for (const r of requests) {
  if (seen.has(r.image)) sharedHits++
  seen.add(r.image)
}
const infinite = sharedHits / requests.length
console.log(
  `${ENGINES} engines, 1 slot each, ${CACHE_IMAGES} photos of cache each (${values['cache-mb']} MiB ÷ ${PHOTO_MIB} MiB); ${requests.length} requests in ${CONVERSATIONS} conversations ` +
    `(Zipf ${ZIPF} over ${CATALOGUE} images, ${FOLLOW_UPS} follow-ups on average), utilisation target ${UTILISATION}; affinity bound ${bound.factor} × fair share + ${bound.constant}`,
)
console.log(`one infinite shared cache: hit rate ${infinite.toFixed(3)}`)
console.log('| routing | encoder-cache hit rate | ÷ infinite shared cache | TTFT p50 s | TTFT p95 s | max ÷ mean engine load |')
console.log('|---|---:|---:|---:|---:|---:|')
for (const mode of ['round-robin', 'least-loaded', 'affinity']) {
  const r = simulate(mode, requests, random(Number(values.seed) + 1))
  console.log(`| ${mode} | ${r.hitRate.toFixed(3)} | ${(r.hitRate / infinite).toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.maxOverMean.toFixed(2)} |`)
}
