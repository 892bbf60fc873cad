import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LlamaCppEngine } from '../packages/server/src/engines/llama-cpp/llama-cpp-engine.js'
import type { RunningServer } from '../packages/server/src/main.js'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { engineRequestsProcessing, llamaServerPid } from '../test-support/engine-process.js'
import { startTinyServer } from '../test-support/in-process-server.js'
import { captureLog, LogLevel } from '../test-support/log-capture.js'
import { describeSceneRequest } from '../test-support/requests.js'

const stallSeconds = 3
const log = captureLog()
let server: RunningServer
let jpeg256: string

beforeAll(async () => {
  // 8192 tokens per slot: both generations outlast the time it takes to stop the engine.
  server = await startTinyServer(['--parallel', '2', '--ctx-size', '8192', '--engine-stall-seconds', String(stallSeconds)], 'printable', { logger: log.logger })
  jpeg256 = dataUrl(await testImage(256, 256))
})
afterAll(async () => {
  await server?.shutdown()
})

const post = (body: unknown): Promise<Response> =>
  fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })

interface HealthSample {
  status: number
  body: { status: string }
  message?: string
}

/** Samples /health (and the guarded /v1/health's message) every 100 ms until stopped. */
function watchHealth(): { samples: HealthSample[]; stop: () => Promise<void> } {
  const samples: HealthSample[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const health = await fetch(`${server.url}/health`)
      const detailed = (await (await fetch(`${server.url}/v1/health`)).json()) as { message?: string }
      samples.push({ status: health.status, body: (await health.json()) as { status: string }, message: detailed.message })
      await new Promise((r) => setTimeout(r, 100))
    }
  })()
  return {
    samples,
    stop: async () => {
      running = false
      await loop
    },
  }
}

describe('the engine progress watchdog', () => {
  it('leaves alone an engine whose client stops reading for longer than the limit', async () => {
    const streamed = await post(describeSceneRequest(jpeg256, { stream: true, max_tokens: 300, ignore_eos: true }))
    const reader = streamed.body!.getReader()
    const decoder = new TextDecoder()
    let text = decoder.decode((await reader.read()).value, { stream: true })
    await new Promise((r) => setTimeout(r, (stallSeconds + 2) * 1000))
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
    const events = text.split('\n\n').filter(Boolean)
    expect(events.at(-1)).toBe('data: [DONE]')
    expect(events.some((e) => e.includes('"error"'))).toBe(false)
    expect(JSON.parse(events.at(-2)!.slice(6)).choices[0].finish_reason).toBe('length')
    expect((server.engine as LlamaCppEngine).history().restarts).toBe(0)
  })

  it('reports a SIGSTOPped engine unavailable, fails its requests with 503, restarts it, and serves the next request', async () => {
    const engine = server.engine as LlamaCppEngine
    const pid = llamaServerPid()
    const long = { max_tokens: 6000, ignore_eos: true }
    const whole = post(describeSceneRequest(jpeg256, long))
    const streamed = await post(describeSceneRequest(jpeg256, { ...long, stream: true }))
    expect(streamed.status).toBe(200)
    const reader = streamed.body!.getReader()
    const decoder = new TextDecoder()
    let text = decoder.decode((await reader.read()).value, { stream: true })
    // Both requests are generating when the engine stops.
    for (let i = 0; i < 250 && (await engineRequestsProcessing(server.url)) < 2; i++) await new Promise((r) => setTimeout(r, 20))
    expect(await engineRequestsProcessing(server.url)).toBe(2)

    const health = watchHealth()
    const stoppedAt = Date.now()
    process.kill(pid, 'SIGSTOP')
    try {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
      const failedAfter = (Date.now() - stoppedAt) / 1000
      expect(failedAfter).toBeGreaterThanOrEqual(stallSeconds - 0.5)
      expect(failedAfter).toBeLessThan(stallSeconds + 10)

      const events = text.split('\n\n').filter(Boolean)
      expect(events.at(-1)).toBe('data: [DONE]')
      const failure = JSON.parse(events.at(-2)!.slice(6)) as { error: { type: string; code: string; message: string } }
      expect(failure.error).toMatchObject({ type: 'service_unavailable_error', code: 'engine_unavailable' })
      expect(failure.error.message).toMatch(/^The engine \(llama-server\) made no progress for \d+ s and is being restarted\. Retry shortly\.$/)

      const refused = await whole
      expect(refused.status).toBe(503)
      expect(refused.headers.get('retry-after')).toBe('5')
      expect(((await refused.json()) as { error: unknown }).error).toMatchObject({
        type: 'service_unavailable_error',
        code: 'engine_unavailable',
        message: expect.stringContaining('made no progress'),
      })

      const stall = log.lines.find((line) => line.level === LogLevel.error && line.msg?.includes('made no progress'))
      expect(stall?.msg).toContain(`--engine-stall-seconds ${stallSeconds}`)
      expect(stall?.msg).toContain(streamed.headers.get('x-request-id')!)
      expect(stall?.requestIds).toHaveLength(2)
      expect(stall?.requestIds).toContain(streamed.headers.get('x-request-id'))

      const restarted = (): boolean => {
        const unavailable = health.samples.findIndex((s) => s.body.status === 'unavailable')
        return unavailable >= 0 && health.samples.at(-1)!.status === 200
      }
      for (let i = 0; i < 300 && !restarted(); i++) await new Promise((r) => setTimeout(r, 100))
    } finally {
      await health.stop()
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone: the watchdog killed it.
      }
    }
    // ok while stopped (until the limit), then unavailable, loading while it restarts, ok.
    const statuses = health.samples.map((s) => s.body.status).filter((status, i, all) => status !== all[i - 1])
    expect(statuses.join(' → ')).toMatch(/^ok → unavailable → (loading → )?ok$/)
    for (const sample of health.samples) expect(sample.status).toBe(sample.body.status === 'ok' ? 200 : 503)
    const unavailable = health.samples.find((s) => s.body.status === 'unavailable')!
    expect(unavailable.message).toMatch(new RegExp(`^llama-server made no progress for \\d+ s \\(--engine-stall-seconds ${stallSeconds}\\); restarting( in 1 s)?$`))
    expect(llamaServerPid()).not.toBe(pid)
    expect(engine.history().restarts).toBe(1)

    const next = await post(describeSceneRequest(jpeg256, { max_tokens: 4 }))
    expect(next.status).toBe(200)
  })
})
