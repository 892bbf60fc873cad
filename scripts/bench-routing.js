// npm run bench:routing — simulates a pool of engines behind Visto's router (no engine runs)
// to compare round-robin, least-loaded and affinity routing past what one machine can test.
//
// Service times come from our measurements on the real model shape (docs/benchmarks.md,
// "Image embedding cache"): a 1029-token photo costs 33.8 s in the vision encoder and
// 32 s of prompt decoding on 2 CPU threads, and generation runs at 14 tok/s; a photo's
// embeddings take 40.5 MiB, so an engine's auto-sized --image-cache-mb holds 101 of them on a
// machine with 32 GiB or more (4096 MiB, auto's ceiling), the engine boxes a pool is made of.
// Each engine runs one request at a time (one slot, as measured), first come first served.
// A follow-up on the engine that answered its conversation's previous turn finds that turn's
// KV cache there (in its slot, or in llama-server's host-memory prompt cache, --cache-ram,
// 8192 MiB by default, at 144 KiB a token on Qwen3-VL-4B: 36 layers × 8 KV heads × 128 × K
// and V × f16) and evaluates only its new turn, as e2e/engine-slots.test.ts shows on the real
// engine; anywhere else it evaluates its whole history, and its image too unless cached.
// The routing policy and the router's memory (per engine an LRU mirror of its embedding
// cache and the work routed to it lately; per conversation the engine of its latest turn)
// are the server's own (packages/server/dist/engines/pool/routing-policy.js,
// routing-memory.js); the work the
// router sees an engine hold is the service time of the requests routed to it and not yet
// finished, as the pool counts it, not their remaining time, which the pool cannot know.
//
// The trace: conversations arrive as a Poisson process; each is about one image drawn from
// a Zipf-popular catalogue and has a first question plus a geometric number of follow-ups,
// each some think time after the previous answer was due; a follow-up's prompt holds the
// whole conversation so far, as a chat API's requests do. A request's hit or miss is decided
// when it is routed, against its engine's KV and LRU of images (FIFO service makes that the
// order the engine meets them in). A hit is a request that skips the vision encoder: its
// image's embeddings are cached, or its conversation's KV cache already holds the image.
import { parseArgs } from 'node:util'
const { chooseEngines, defaultLoadBound } = await import('../packages/server/dist/engines/pool/routing-policy.js')
const { ConversationMemory, DecayingSum, KeyMirror, defaultConversationMemory, defaultRecentWorkSeconds, mirrorEntriesFor, photoEmbeddingMiB } = await import(
  '../packages/server/dist/engines/pool/routing-memory.js'
)
const { autoImageCacheCeilingMb } = await import('../packages/server/dist/engines/llama-cpp/image-cache-size.js')

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: '64' },
    conversations: { type: 'string', default: '20000' },
    catalogue: { type: 'string', default: '20000' },
    zipf: { type: 'string', default: '1.0' },
    'follow-ups': { type: 'string', default: '1.5' },
    utilisation: { type: 'string', default: '0.7' },
    'cache-mb': { type: 'string', default: String(autoImageCacheCeilingMb) },
    'kv-cache-mb': { type: 'string', default: '8192' },
    'conversation-memory': { type: 'string', default: String(defaultConversationMemory) },
    queue: { type: 'string', default: String(defaultLoadBound.queue) },
    factor: { type: 'string', default: String(defaultLoadBound.factor) },
    constant: { type: 'string', default: String(defaultLoadBound.constant) },
    'recent-seconds': { type: 'string', default: String(defaultRecentWorkSeconds) },
    seed: { type: 'string', default: '42' },
  },
})
const ENGINES = Number(values.engines)
const CONVERSATIONS = Number(values.conversations)
const CATALOGUE = Number(values.catalogue)
const ZIPF = Number(values.zipf)
const FOLLOW_UPS = Number(values['follow-ups'])
const UTILISATION = Number(values.utilisation)
const bound = { queue: Number(values.queue), factor: Number(values.factor), constant: Number(values.constant) }
const RECENT_S = Number(values['recent-seconds'])

const ENCODE_S = 33.8
const PREFILL_TOKENS_PER_S = 32
const PROMPT_TOKENS = 1029 + 20
const DECODE_TOKENS_PER_S = 14
const ANSWER_TOKENS = 64
const PHOTO_MIB = photoEmbeddingMiB
const CACHE_IMAGES = mirrorEntriesFor(Number(values['cache-mb']))
const THINK_S = [20, 120]
// A turn's new tokens after the first: the previous answer and the next question.
const QUESTION_TOKENS = 20
const TURN_TOKENS = ANSWER_TOKENS + QUESTION_TOKENS
const KV_KIB_PER_TOKEN = (36 * 8 * 128 * 2 * 2) / 1024
const KV_TOKENS = Math.floor((Number(values['kv-cache-mb']) * 1024) / KV_KIB_PER_TOKEN)
// A first question's service on an engine holding its image, and on one that encodes it first.
const HIT_S = PROMPT_TOKENS / PREFILL_TOKENS_PER_S + ANSWER_TOKENS / DECODE_TOKENS_PER_S
const missService = ENCODE_S + HIT_S
// A miss that waits for nothing: what any policy's p95 is at least when over 5 % of requests are first sights.
const MISS_TTFT_S = ENCODE_S + PROMPT_TOKENS / PREFILL_TOKENS_PER_S

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

/** The trace: requests sorted by arrival time, each { at, image, conversation, turn }. */
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
  const requestsPerConversation = 1 + FOLLOW_UPS
  const rate = (UTILISATION * ENGINES) / (missService * requestsPerConversation)
  const requests = []
  let at = 0
  for (let c = 0; c < CONVERSATIONS; c++) {
    at += -Math.log(1 - rand()) / rate
    const image = pick()
    let t = at
    let turn = 0
    requests.push({ at: t, image, conversation: c, turn })
    // Geometric number of follow-ups with mean FOLLOW_UPS.
    while (rand() < FOLLOW_UPS / (1 + FOLLOW_UPS)) {
      t += missService + THINK_S[0] + rand() * (THINK_S[1] - THINK_S[0])
      requests.push({ at: t, image, conversation: c, turn: ++turn })
    }
  }
  return requests.sort((a, b) => a.at - b.at)
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

/** A conversation's KV cache on an engine: true when it holds `conversation` (its previous turn), which then takes `tokens`, most recently used. */
function kvTouch(kv, conversation, tokens) {
  const held = kv.entries.has(conversation)
  if (held) kv.tokens -= kv.entries.get(conversation)
  kv.entries.delete(conversation)
  if (tokens > KV_TOKENS) return held
  kv.entries.set(conversation, tokens)
  kv.tokens += tokens
  for (const [oldest, size] of kv.entries) {
    if (kv.tokens <= KV_TOKENS) break
    kv.entries.delete(oldest)
    kv.tokens -= size
  }
  return held
}

/** The prompt tokens of a request: its image, first question and every earlier turn. */
function promptTokens(request) {
  return PROMPT_TOKENS + request.turn * TURN_TOKENS
}

/** An LRU of `capacity` images: true when `image` was in it. */
function lruTouch(cache, image, capacity) {
  const hit = cache.delete(image)
  cache.set(image, true)
  if (cache.size > capacity) cache.delete(cache.keys().next().value)
  return hit
}

function simulate(mode, requests, rand) {
  const engines = Array.from({ length: ENGINES }, (_, i) => ({
    id: `engine-${i}`,
    freeAt: 0,
    held: [],
    head: 0,
    work: 0,
    cache: new Map(),
    kv: { entries: new Map(), tokens: 0 },
    mirror: new KeyMirror(CACHE_IMAGES),
    recent: new DecayingSum(RECENT_S),
    busy: 0,
  }))
  const byId = new Map(engines.map((e) => [e.id, e]))
  const conversations = new ConversationMemory(Number(values['conversation-memory']))
  const ttfts = []
  let hits = 0
  let kvHits = 0
  let spills = 0
  let spillsToHolders = 0
  let counter = 0
  for (const request of requests) {
    const key = `image:${request.image}`
    for (const e of engines) {
      while (e.head < e.held.length && e.held[e.head].end <= request.at) e.work -= e.held[e.head++].service
    }
    const view = engines.map((e) => ({ id: e.id, load: e.held.length - e.head, slots: 1, work: e.work, recentWork: e.recent.valueAt(request.at), holdsKey: e.mirror.has(key) }))
    // The router's estimate of what the request costs each engine, exact but for a KV cache
    // the engine evicted since (the router remembers where each conversation went, not that).
    const full = promptTokens(request) / PREFILL_TOKENS_PER_S + ANSWER_TOKENS / DECODE_TOKENS_PER_S
    const resume = KV_TOKENS > 0 ? TURN_TOKENS / PREFILL_TOKENS_PER_S + ANSWER_TOKENS / DECODE_TOKENS_PER_S : full
    const requestCost = { hit: full, miss: ENCODE_S + full, resume }
    const resumer = request.turn > 0 ? conversations.engineOf(`conversation:${request.conversation}`) : undefined
    for (const v of view) v.holdsConversation = v.id === resumer
    const choice = chooseEngines(view, mode === 'affinity' ? key : undefined, { mode, bound, counter: counter++, random: rand, cost: requestCost })
    const engine = byId.get(choice.order[0])
    conversations.record(`conversation:${request.conversation}`, engine.id)
    if (choice.reason === 'spill') {
      spills++
      if (engine.mirror.has(key)) spillsToHolders++
    }
    // The engine's own cache decides the hit; the mirror is what the router knows of it
    // (the same here: with first-come-first-served engines it encodes in routing order).
    // Where its previous turn's KV is, the image is already in the prompt: the embedding cache
    // is not consulted. Elsewhere the image is encoded unless cached.
    const tokens = promptTokens(request)
    const kvHit = request.turn > 0 && kvTouch(engine.kv, request.conversation, tokens + ANSWER_TOKENS)
    if (request.turn === 0) kvTouch(engine.kv, request.conversation, tokens + ANSWER_TOKENS)
    const hit = kvHit || lruTouch(engine.cache, request.image, CACHE_IMAGES)
    engine.mirror.record(key)
    if (hit) hits++
    if (kvHit) kvHits++
    const start = Math.max(request.at, engine.freeAt)
    const prompt = kvHit ? TURN_TOKENS / PREFILL_TOKENS_PER_S : (hit ? 0 : ENCODE_S) + tokens / PREFILL_TOKENS_PER_S
    const service = prompt + ANSWER_TOKENS / DECODE_TOKENS_PER_S
    engine.freeAt = start + service
    engine.held.push({ end: engine.freeAt, service })
    engine.work += service
    engine.recent.add(service, request.at)
    engine.busy += service
    ttfts.push(start - request.at + prompt)
  }
  ttfts.sort((a, b) => a - b)
  const busy = engines.map((e) => e.busy)
  const mean = busy.reduce((a, b) => a + b, 0) / busy.length
  return {
    hitRate: hits / requests.length,
    kvHitRate: kvHits / requests.length,
    p50: percentile(ttfts, 0.5),
    p95: percentile(ttfts, 0.95),
    maxOverMean: Math.max(...busy) / mean,
    busyShare: mean / Math.max(...engines.map((e) => e.freeAt)),
    spills: spills / requests.length,
    spillsToHolders: spills === 0 ? 0 : spillsToHolders / spills,
  }
}

/** Hit rates where load plays no part: the ceilings an LRU per engine allows. */
function ceilings(requests) {
  const seen = new Set()
  let infiniteHits = 0
  const shared = new Map()
  let sharedHits = 0
  const ids = Array.from({ length: ENGINES }, (_, i) => `engine-${i}`)
  const own = new Map(ids.map((id) => [id, new Map()]))
  let ownHits = 0
  for (const r of requests) {
    if (seen.has(r.image)) infiniteHits++
    seen.add(r.image)
    if (lruTouch(shared, r.image, CACHE_IMAGES * ENGINES)) sharedHits++
    const first = chooseEngines(
      ids.map((id) => ({ id, load: 0, slots: 1 })),
      `image:${r.image}`,
      { mode: 'affinity', bound: { queue: Infinity, factor: Infinity, constant: Infinity }, counter: 0, random: Math.random },
    ).order[0]
    if (lruTouch(own.get(first), r.image, CACHE_IMAGES)) ownHits++
  }
  const n = requests.length
  return { infinite: infiniteHits / n, firstSight: 1 - infiniteHits / n, shared: sharedHits / n, unbounded: ownHits / n }
}

const requests = trace(random(Number(values.seed)))
const { infinite, firstSight, shared, unbounded } = ceilings(requests)
console.log(
  `${ENGINES} engines, 1 slot each, ${CACHE_IMAGES} photos of cache each (${values['cache-mb']} MiB ÷ ${PHOTO_MIB} MiB), KV cache for ${KV_TOKENS} tokens each (${values['kv-cache-mb']} MiB); ${requests.length} requests in ${CONVERSATIONS} conversations ` +
    `(Zipf ${ZIPF} over ${CATALOGUE} images, ${FOLLOW_UPS} follow-ups on average), utilisation target ${UTILISATION}; ` +
    `affinity bound: outstanding ≤ ${bound.queue} × a hit's service, recent work (${RECENT_S} s) ≤ ${bound.factor} × fair share + ${bound.constant} hits' service`,
)
console.log(
  `hit rate of one infinite shared cache ${infinite.toFixed(3)} (${(firstSight * 100).toFixed(1)} % of requests are an image's first sight, each a miss of TTFT ≥ ${MISS_TTFT_S.toFixed(1)} s); ` +
    `of one LRU of all ${ENGINES * CACHE_IMAGES} photos ${shared.toFixed(3)} (${(shared / infinite).toFixed(2)} ×); of affinity with no load bound ${unbounded.toFixed(3)} (${(unbounded / infinite).toFixed(2)} ×)`,
)
console.log(
  '| routing | encoder-cache hit rate | ÷ infinite shared cache | of which from the KV cache | TTFT p50 s | TTFT p95 s | engines busy | max ÷ mean engine load | spilled (to an engine holding the image) |',
)
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
const results = {}
for (const mode of ['round-robin', 'least-loaded', 'affinity']) {
  const r = simulate(mode, requests, random(Number(values.seed) + 1))
  results[mode] = r
  const spilled = mode === 'affinity' ? `${(r.spills * 100).toFixed(1)} % (${(r.spillsToHolders * 100).toFixed(0)} %)` : '–'
  console.log(
    `| ${mode} | ${r.hitRate.toFixed(3)} | ${(r.hitRate / infinite).toFixed(2)} | ${r.kvHitRate.toFixed(3)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${(r.busyShare * 100).toFixed(0)} % | ${r.maxOverMean.toFixed(2)} | ${spilled} |`,
  )
}
// Every miss takes at least MISS_TTFT_S, so a policy whose misses are over 5 % of requests
// has a p95 of at least that, whatever it routes; below it only by missing less than that.
const affinityMisses = 1 - results.affinity.hitRate
console.log(
  `affinity misses ${(affinityMisses * 100).toFixed(1)} % of requests: ${affinityMisses > 0.05 ? `over 5 %, so its p95 is at least a first sight's that waited for nothing (${MISS_TTFT_S.toFixed(1)} s); the others' are higher where their misses are follow-ups that read their history again, or wait` : 'under 5 %, so its p95 is an answer from cache'}`,
)
