/**
 * What the router remembers about each engine between requests, so that affinity routing
 * can tell which engines already hold an image and how much work each was given lately.
 * Both are small deterministic data structures, shared by the pool and the routing
 * simulation (scripts/bench-routing.js), so the simulation runs what the server runs.
 */

/**
 * A 12 MP photo's embeddings at the default pixel budget (1029 image tokens), measured in
 * the engine's embedding cache (docs/benchmarks.md, "Image embedding cache").
 */
export const photoEmbeddingMiB = 40.5

/** How many photos an engine's embedding cache of `imageCacheMb` holds: the size its mirror gets. */
export function mirrorEntriesFor(imageCacheMb: number): number {
  return Math.max(0, Math.floor(imageCacheMb / photoEmbeddingMiB))
}

/**
 * The keys most recently routed to one engine, at most `capacity`, least recent first: an
 * approximate mirror of the engine's embedding cache, which evicts its least recently used
 * image. Approximate because the router sees routing, not the cache: it cannot see images
 * after the first in a request, nor a cache emptied by a restart it did not notice.
 * (SGLang's cache-aware router keeps the same kind of per-worker approximation, a radix tree
 * of the prompts it sent there.)
 */
export class KeyMirror {
  private readonly keys = new Map<string, true>()

  constructor(private entries: number) {}

  get capacity(): number {
    return this.entries
  }

  /** The engine says its cache holds `capacity` images: the least recent beyond that are dropped. */
  resize(capacity: number): void {
    this.entries = Math.max(0, capacity)
    while (this.keys.size > this.entries) this.keys.delete(this.keys.keys().next().value!)
  }

  has(key: string): boolean {
    return this.keys.has(key)
  }

  /** The engine was sent `key`: it holds it now, as its most recently used. */
  record(key: string): void {
    if (this.entries <= 0) return
    this.keys.delete(key)
    this.keys.set(key, true)
    while (this.keys.size > this.entries) this.keys.delete(this.keys.keys().next().value!)
  }

  /** The engine failed or restarted: whatever it cached may be gone. */
  forget(): void {
    this.keys.clear()
  }

  get size(): number {
    return this.keys.size
  }
}

/**
 * A sum whose past additions fade exponentially, by e⁻¹ every `timeConstant` (in whatever
 * unit the clock passed to it counts): the work routed to an engine lately. Unlike work
 * still outstanding it remembers an engine that was kept busy a moment ago, which is what
 * bounds how much of a popular image one engine ends up doing (see LoadBound).
 */
export class DecayingSum {
  private total = 0
  private at: number | undefined

  constructor(readonly timeConstant: number) {}

  add(amount: number, now: number): void {
    this.total = this.valueAt(now) + amount
    this.at = now
  }

  valueAt(now: number): number {
    if (this.at === undefined) return 0
    return this.total * Math.exp(-Math.max(0, now - this.at) / this.timeConstant)
  }
}

/**
 * How long work routed to an engine keeps counting toward its recent work: e⁻¹ of it after
 * four hours. Long against one request (a photo is a minute on a CPU), so an engine's figure
 * is its share of many requests and the bound's constant a small part of it; short enough
 * that a photo that stopped being popular stops weighing on its engines within hours.
 * Chosen with `npm run bench:routing`: with follow-ups returning to their conversation's
 * engine, the busiest of 64 simulated engines did 1.32 × the mean work at two hours and
 * 1.22 × at four, at the same hit rate (docs/benchmarks.md).
 */
export const defaultRecentWorkSeconds = 14_400

/**
 * Which engine answered each conversation's latest turn, for the most recent `capacity`
 * conversations: where the next turn finds its KV cache (in the slot, or in llama-server's
 * host-memory prompt cache) and evaluates only what is new. Approximate as KeyMirror is:
 * the engine may have evicted it since.
 */
export class ConversationMemory {
  private readonly engines = new Map<string, string>()

  constructor(readonly capacity: number) {}

  engineOf(conversation: string): string | undefined {
    return this.engines.get(conversation)
  }

  /** `engine` answered a turn of `conversation`. */
  record(conversation: string, engine: string): void {
    if (this.capacity <= 0) return
    this.engines.delete(conversation)
    this.engines.set(conversation, engine)
    while (this.engines.size > this.capacity) this.engines.delete(this.engines.keys().next().value!)
  }

  /** `engine` failed, restarted or left: the conversations it held are gone from it. */
  forgetEngine(engine: string): void {
    for (const [conversation, holder] of this.engines) if (holder === engine) this.engines.delete(conversation)
  }

  get size(): number {
    return this.engines.size
  }
}

/**
 * How many conversations the router remembers the engine of: 65,536 (10.5 MiB of heap, measured),
 * far more than a pool's engines keep KV caches for (llama-server's --cache-ram default,
 * 8 GiB, holds about 50 photo conversations on Qwen3-VL-4B).
 */
export const defaultConversationMemory = 65_536
