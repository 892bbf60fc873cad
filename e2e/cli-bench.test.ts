import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { apiError, chunk, delayed, ok, refusedUrl, sse, startScriptedServer, type ScriptedServer } from '../test-support/scripted-server.js'
import { fixturesDir } from '../test-support/paths.js'
import { runCli } from '../test-support/run-cli.js'

const png = join(fixturesDir, 'tiny.png')

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer(delayed(20, ok('a short answer')))
})
afterEach(async () => {
  await server.close()
})

describe('visto bench', () => {
  it('sends --count requests (plus warm-up) at the given concurrency and reports throughput and percentiles', async () => {
    const run = await runCli(['bench', png, '-c', '3', '--count', '9', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(server.requests).toHaveLength(10)
    expect(server.maxInFlight).toBe(3)
    expect(run.stdout).toContain('visto bench: 9 requests at concurrency 3')
    expect(run.stdout).toContain('requests    9 (9 ok, 0 failed) · success rate 100.0%')
    expect(run.stdout).toMatch(/latency {5}p50 \d+ ms · p95 \d+ ms · p99 \d+ ms/)
    expect(run.stdout).toMatch(/throughput {2}\d+\.\d\d req\/s/)
    const body = server.requests[1]!.json!
    expect(body).toMatchObject({ max_tokens: 64, temperature: 0 })
  })

  it('runs for --duration and returns the summary as JSON', async () => {
    const run = await runCli(['bench', png, '-c', '2', '--duration', '0.5', '--warmup', '0', '--json', '--base-url', server.url])
    expect(run.code).toBe(0)
    const { config, summary } = JSON.parse(run.stdout)
    expect(config).toMatchObject({ concurrency: 2, durationS: 0.5, count: null })
    expect(summary.requests).toBe(server.requests.length)
    expect(summary.requests).toBeGreaterThanOrEqual(4)
    expect(summary.successRate).toBe(1)
    expect(summary.latencyMs.p50).toBeGreaterThanOrEqual(15)
  })

  it('counts failures without retrying them and reports time to first token with --stream', async () => {
    let n = 0
    server.fallback = (request, res) =>
      ++n % 2 === 0 ? apiError(503, 'busy', { type: 'service_unavailable_error' })(request, res) : sse([chunk('hi'), chunk(undefined, 'stop')])(request, res)
    const run = await runCli(['bench', png, '-c', '1', '--count', '4', '--stream', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(server.requests).toHaveLength(5)
    expect(run.stdout).toContain('requests    4 (2 ok, 2 failed) · success rate 50.0%')
    expect(run.stdout).toContain('first token p50')
    expect(run.stdout).toContain('errors      OverloadedError ×2')
    expect(run.stderr.match(/503 busy/g)).toHaveLength(1)
  })

  it('exits 3 against a server that is not there, and 2 for contradictory flags', async () => {
    const url = await refusedUrl()
    const gone = await runCli(['bench', png, '--count', '2', '--base-url', url])
    expect(gone.code).toBe(3)
    expect(gone.stderr).toContain('ECONNREFUSED')
    const both = await runCli(['bench', png, '--count', '2', '--duration', '1'])
    expect(both.code).toBe(2)
  })
})
