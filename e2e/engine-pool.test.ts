import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { parseServeConfig } from '../packages/server/src/config.js'
import type { PoolMemberStatus } from '../packages/server/src/engines/engine.js'
import { imageCacheMbPerEngine, usableMemoryBytes } from '../packages/server/src/engines/llama-cpp/image-cache-size.js'
import { startServer, type RunningServer } from '../packages/server/src/main.js'
import { startTinyServer } from '../test-support/in-process-server.js'
import { freshDataDir } from '../test-support/data-dir.js'
import { announcedPort, llamaServerPid } from '../test-support/engine-process.js'
import { startLlamaServers, type TestLlamaServer } from '../test-support/llama-server-fleet.js'
import { parsePrometheusText, sample } from '../test-support/prometheus-text.js'

// Three real llama-servers on the tiny stand-in, each on its own loopback address (same
// port, as pods behind a headless Service), and Visto in front of them: first discovering
// them by one DNS name, then listing them. Routing, failover and the pool's state are
// read from the engines' own counters and Visto's /v1/health and /metrics.

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
let engines: TestLlamaServer[]

beforeAll(async () => {
  engines = await startLlamaServers(3, { hosts: HOSTS, samePort: true })
}, 180_000)
afterAll(async () => {
  await Promise.all((engines ?? []).map((e) => e.kill()))
})

async function front(args: string[], resolveHost?: (host: string) => Promise<string[]>): Promise<RunningServer> {
  const config = parseServeConfig(
    [
      '--port',
      '0',
      '--engine',
      'openai',
      '--log-level',
      'silent',
      '--data-dir',
      freshDataDir(),
      '--response-cache-mb',
      '0',
      '--ctx-size',
      '2048',
      '--upstream-probe-seconds',
      '0.2',
      ...args,
    ],
    {},
  )
  const server = await startServer(config, { log: () => {} }, resolveHost ? { resolveHost } : {})
  await server.ready
  return server
}

interface PoolHealth {
  status: string
  capacity: number
  engines: PoolMemberStatus[]
}

async function health(server: RunningServer): Promise<PoolHealth> {
  return (await (await fetch(`${server.url}/v1/health`)).json()) as PoolHealth
}

async function waitFor(server: RunningServer, what: string, test: (h: PoolHealth) => boolean, timeoutMs = 20_000): Promise<PoolHealth> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const h = await health(server)
    if (test(h)) return h
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(h)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function ask(server: RunningServer, question: string, image: string | undefined, extra: Record<string, unknown> = {}): Promise<Response> {
  const content = image
    ? [
        { type: 'text', text: question },
        { type: 'image_url', image_url: { url: image } },
      ]
    : question
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 4, temperature: 0, ...extra }),
  })
}

/** A distinct image per `i` (its colour), so each normalises to different bytes. */
function distinctImage(i: number): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 64, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: (i * 13) % 256 } } })
    .png()
    .toBuffer()
}

async function counters(engine: TestLlamaServer): Promise<{ promptTokens: number; hits: number; misses: number }> {
  const samples = parsePrometheusText(await engine.metrics())
  return {
    promptTokens: sample(samples, 'llamacpp:prompt_tokens_total'),
    hits: sample(samples, 'llamacpp:image_cache_hits_total'),
    misses: sample(samples, 'llamacpp:image_cache_misses_total'),
  }
}

describe('--upstream-discovery dns: one name for every engine', () => {
  it('takes every address the name resolves to as an engine, and follows engines joining and leaving', async () => {
    let addresses = HOSTS.slice(0, 2)
    const asked: string[] = []
    const server = await front(
      ['--upstream-url', `http://engines.pool.test:${engines[0]!.port}/v1`, '--upstream-discovery', 'dns', '--upstream-discovery-seconds', '0.2'],
      async (host) => {
        asked.push(host)
        return addresses
      },
    )
    try {
      const ids = (h: PoolHealth) => h.engines.map((e) => `${e.id} ${e.state}`)
      expect(ids(await health(server))).toEqual(HOSTS.slice(0, 2).map((h) => `http://${h}:${engines[0]!.port}/v1 closed`))
      expect(asked[0]).toBe('engines.pool.test')
      expect((await ask(server, 'Hi?', undefined)).status).toBe(200)
      addresses = [HOSTS[1]!, HOSTS[2]!]
      const after = await waitFor(
        server,
        'the third engine to join and the first to leave',
        (h) => h.engines.length === 2 && h.engines.every((e) => e.state === 'closed') && h.engines.some((e) => e.id.includes(HOSTS[2]!)),
      )
      expect(ids(after)).toEqual(HOSTS.slice(1).map((h) => `http://${h}:${engines[0]!.port}/v1 closed`))
      expect(after.capacity).toBe(4)
    } finally {
      await server.shutdown()
    }
  })
})

describe('--upstream-url A,B,C: three llama-servers behind one endpoint', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await front(['--upstream-url', engines.map((e) => `${e.url}/v1`).join(',')])
  }, 60_000)
  afterAll(async () => {
    await server?.shutdown()
  })

  it('lists every engine in /v1/health with the slots and embedding cache each reports', async () => {
    const h = await health(server)
    expect(h.status).toBe('ok')
    expect(h.capacity).toBe(6)
    // 256 MiB each at their /metrics: 6 photos, where this server's own auto size would have it assume 101.
    expect(h.engines.map((e) => [e.id, e.state, e.slots, e.imageCacheEntries])).toEqual(engines.map((e) => [`${e.url}/v1`, 'closed', 2, 6]))
  })

  it('sends the same image, asked ten times, to one engine, which answers from its embedding cache', async () => {
    const image = dataUrl(await testImage(320, 240, 'png'), 'image/png')
    const before = await Promise.all(engines.map(counters))
    for (let i = 0; i < 10; i++) {
      // A new question before the image each time: the prompt differs before it, so the image is looked up again.
      const response = await ask(server, `Question ${i}: what is in this picture?`, image)
      expect(response.status).toBe(200)
    }
    const after = await Promise.all(engines.map(counters))
    const moved = after.map((c, i) => c.promptTokens - before[i]!.promptTokens)
    const owner = moved.findIndex((n) => n > 0)
    expect(moved.filter((n) => n > 0)).toHaveLength(1)
    expect(after[owner]!.misses - before[owner]!.misses).toBe(1)
    expect(after[owner]!.hits - before[owner]!.hits).toBe(9)
    const metrics = parsePrometheusText(await (await fetch(`${server.url}/metrics`)).text())
    expect(sample(metrics, 'visto_upstream_affinity_hits_total', { upstream: `${engines[owner]!.url}/v1` })).toBeGreaterThanOrEqual(10)
  })

  it('spreads thirty distinct images over the engines within the load bound', async () => {
    const images = await Promise.all(Array.from({ length: 30 }, (_, i) => distinctImage(i)))
    const before = (await health(server)).engines.map((e) => e.requests)
    let peak = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const h = await health(server)
        peak = Math.max(peak, ...h.engines.map((e) => e.inFlight))
        await new Promise((r) => setTimeout(r, 10))
      }
    })()
    const statuses = await Promise.all(images.map((bytes, i) => ask(server, `Image ${i}?`, dataUrl(bytes, 'image/png')).then((r) => r.status)))
    sampling = false
    await sampler
    expect(statuses.every((s) => s === 200)).toBe(true)
    const counts = (await health(server)).engines.map((e, i) => e.requests - before[i]!)
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30)
    // Admission lets 6 run at once; an engine holds at most 2 requests' work per slot, and an image it must encode counts 2: at most 2 of these.
    expect(peak).toBeLessThanOrEqual(4)
    for (const count of counts) expect(count).toBeGreaterThanOrEqual(5)
  })

  it('sends a follow-up to the engine that answered its conversation, which evaluates only the new turn, even when the photo’s own engine is back', async () => {
    const photo = dataUrl(await distinctImage(77), 'image/png')
    const turn = (question: string, history: Array<{ role: string; content: unknown }> = []) =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          messages: [
            ...history,
            {
              role: 'user',
              content:
                history.length > 0
                  ? question
                  : [
                      { type: 'image_url', image_url: { url: photo } },
                      { type: 'text', text: question },
                    ],
            },
          ],
          max_tokens: 4,
          temperature: 0,
        }),
      })
    const answered = async (response: Response) => {
      expect(response.status).toBe(200)
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }>; usage: { prompt_tokens: number } }
      return { text: body.choices[0]!.message.content, promptTokens: body.usage.prompt_tokens }
    }
    // A stopped engine has counted nothing.
    const countersOf = (engine: TestLlamaServer) => counters(engine).catch(() => ({ promptTokens: 0, hits: 0, misses: 0 }))
    const evaluated = async (run: () => Promise<Response>) => {
      const before = await Promise.all(engines.map(countersOf))
      const result = await answered(await run())
      const after = await Promise.all(engines.map(countersOf))
      return { ...result, moved: after.map((c, i) => c.promptTokens - before[i]!.promptTokens) }
    }
    // One conversation finds the photo's own engine.
    const opening = (question: string) => ({
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: photo } },
        { type: 'text', text: question },
      ],
    })
    const first = await evaluated(() => turn('What is this?'))
    const own = first.moved.findIndex((n) => n > 0)
    expect(first.moved.filter((n) => n > 0)).toHaveLength(1)
    // While that engine is down, another conversation about the photo starts elsewhere.
    const ownId = `${engines[own]!.url}/v1`
    await engines[own]!.kill()
    await waitFor(server, 'the photo’s engine to be out', (h) => h.engines.find((e) => e.id === ownId)!.state === 'open')
    const other = await evaluated(() => turn('How many colours?'))
    const elsewhere = other.moved.findIndex((n) => n > 0)
    expect(elsewhere).not.toBe(own)
    await engines[own]!.start()
    await waitFor(server, 'the photo’s engine to be back', (h) => h.engines.find((e) => e.id === ownId)!.state === 'closed')
    // Its follow-up returns to where its first turn's KV cache is, not to the photo's engine, and only the new turn is evaluated.
    const followUp = await evaluated(() => turn('And which one is the largest?', [opening('How many colours?'), { role: 'assistant', content: other.text }]))
    expect(followUp.moved.map((n) => n > 0)).toEqual(engines.map((_, i) => i === elsewhere))
    expect(followUp.moved[elsewhere]!).toBeLessThan(followUp.promptTokens - other.promptTokens + 8)
    // The first conversation's engine restarted and lost it: its follow-up goes by the photo again.
    const lost = await evaluated(() => turn('Is it bright?', [opening('What is this?'), { role: 'assistant', content: first.text }]))
    expect(lost.moved[own]!).toBeGreaterThan(0)
    expect(lost.moved.filter((n) => n > 0)).toHaveLength(1)
  })

  it('loses no request that had not started streaming when an engine is killed under load, and takes it back once restarted', async () => {
    const victim = engines[1]!
    const victimId = `${victim.url}/v1`
    const images = await Promise.all(Array.from({ length: 24 }, (_, i) => distinctImage(100 + i)))
    const retriesBefore = (await health(server)).engines.reduce((n, e) => n + e.retries, 0)
    const requests = images.map((bytes, i) => ask(server, `Load ${i}?`, dataUrl(bytes, 'image/png'), { max_tokens: 24 }))
    await waitFor(server, 'the victim to hold requests', (h) => h.engines.find((e) => e.id === victimId)!.inFlight > 0, 10_000)
    await victim.kill()
    const responses = await Promise.all(requests)
    const failed = await Promise.all(responses.filter((r) => r.status !== 200).map(async (r) => `${r.status} ${await r.text()}`))
    expect(failed).toEqual([])
    // The victim's requests were not lost: another engine took them over.
    expect((await health(server)).engines.reduce((n, e) => n + e.retries, 0)).toBeGreaterThan(retriesBefore)
    const out = await waitFor(server, 'the killed engine to be taken out', (h) => h.engines.find((e) => e.id === victimId)!.state === 'open')
    const member = out.engines.find((e) => e.id === victimId)!
    expect(member.ejections).toBeGreaterThanOrEqual(1)
    expect(out.capacity, JSON.stringify(out)).toBe(4)
    const metrics = parsePrometheusText(await (await fetch(`${server.url}/metrics`)).text())
    expect(sample(metrics, 'visto_upstream_ejections_total', { upstream: victimId })).toBeGreaterThanOrEqual(1)
    expect(sample(metrics, 'visto_upstream_state', { upstream: victimId, state: 'open' })).toBe(1)

    await victim.start()
    const back = await waitFor(server, 'the restarted engine to be back', (h) => h.engines.find((e) => e.id === victimId)!.state === 'closed')
    expect(back.capacity).toBe(6)
  })

  it('answers 503 with Retry-After when every engine is down', async () => {
    await Promise.all(engines.map((e) => e.kill()))
    await waitFor(server, 'every engine to be out', (h) => h.engines.every((e) => e.state === 'open'))
    const response = await ask(server, 'Anyone?', undefined)
    expect(response.status).toBe(503)
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    const body = (await response.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('engine_unavailable')
    expect(body.error.message).toMatch(
      /^No engine can take the request: all 3 engines are out \(http:\/\/127\.0\.0\.2:\d+\/v1: upstream http:\/\/127\.0\.0\.2:\d+\/v1 unreachable: /,
    )
    const liveness = await fetch(`${server.url}/health`)
    expect(liveness.status).toBe(503)
  })
})

describe('--replicas 2: two supervised llama-server children behind one endpoint', () => {
  it('serves from both, takes a crashed child out and back in once its supervisor restarted it', async () => {
    const engineLog: string[] = []
    const server = await startTinyServer(['--replicas', '2', '--upstream-probe-seconds', '0.2', '--response-cache-mb', '0'], 'printable', {
      engineLog: (line) => engineLog.push(line),
    })
    try {
      const h = await health(server)
      expect(h.capacity).toBe(4)
      expect(h.engines.map((e) => [e.id, e.state])).toEqual([
        ['replica-0', 'closed'],
        ['replica-1', 'closed'],
      ])
      const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => distinctImage(200 + i).then((bytes) => ask(server, `Replica ${i}?`, dataUrl(bytes, 'image/png')))))
      expect(statuses.map((r) => r.status)).toEqual(Array(8).fill(200))
      const spread = (await health(server)).engines.map((e) => e.requests)
      expect(spread.every((n) => n > 0)).toBe(true)
      // The children share this machine's memory, so the auto-sized embedding cache is split between them.
      const metrics = parsePrometheusText(await (await fetch(`${server.url}/metrics`)).text())
      const halfOfAuto = imageCacheMbPerEngine('auto', usableMemoryBytes(), 2)
      for (const upstream of ['replica-0', 'replica-1']) {
        expect(sample(metrics, 'visto_engine_llamacpp_image_cache_capacity_bytes', { upstream })).toBe(halfOfAuto * 1024 * 1024)
      }

      process.kill(llamaServerPid({ port: announcedPort(engineLog, 'replica-0') }), 'SIGKILL')
      await waitFor(server, 'the crashed replica to be taken out', (s) => s.engines[0]!.state === 'open' && s.capacity === 2)
      expect((await ask(server, 'Still there?', undefined)).status).toBe(200)
      await waitFor(server, 'the restarted replica to be back', (s) => s.engines[0]!.state === 'closed' && s.capacity === 4, 60_000)
    } finally {
      await server.shutdown()
    }
  }, 120_000)
})
