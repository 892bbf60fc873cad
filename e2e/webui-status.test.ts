import type { FastifyInstance } from 'fastify'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import type { ServerMetrics } from '../packages/server/src/observability/server-metrics.js'
import { launchChromium } from '../test-support/chromium.js'
import { ScriptedEngine, type Script } from '../test-support/scripted-engine.js'

// The page's live status view in Chromium, under the strict CSP the page is meant to be
// served with: after a few requests its charts show them, and they keep updating while the
// page is open. The engine is scripted (the view charts the server's numbers, whatever
// model produced them); the same numbers from the real engine are checked in metrics.test.ts.

let browser: Browser
let app: FastifyInstance
let metrics: ServerMetrics
let baseURL: string
let page: Page
const cspViolations: string[] = []

/** A few tokens with a little time between them, so speeds and latencies are real numbers. */
const slowWords: Script = async function* () {
  for (const text of ['A', ' short', ' answer']) {
    await new Promise((r) => setTimeout(r, 15))
    yield { type: 'text', text }
  }
  yield { type: 'done', finishReason: 'stop', promptTokens: 42, completionTokens: 3 }
}

beforeAll(async () => {
  const engine = new ScriptedEngine(slowWords)
  const composed = await composeServer(serveConfig({ parallel: 1, 'max-queue': 4, 'response-cache': 'off' }), {
    engine,
    metrics: { processMetrics: false },
    prepareImage: async () => ({ data: Buffer.from('x'), mime: 'image/png', width: 32, height: 32 }),
  })
  app = composed.app
  metrics = composed.metrics
  baseURL = await app.listen({ port: 0, host: '127.0.0.1' })
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
  page.on('console', (message) => {
    // The page is served with its own strict Content-Security-Policy; the view must live within it.
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text())
  })
})

afterAll(async () => {
  await browser?.close()
  await app?.close()
  metrics?.close()
})

const ask = (text: string) =>
  fetch(`${baseURL}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: text }], max_tokens: 8 }),
  })

const status = () => page.locator('#server-status')
const chart = (name: string) => status().getByRole('figure', { name })
const ui = { timeout: 20_000 }

describe('the live status view', () => {
  it('shows the model, engine and uptime, and charts the requests already made', async () => {
    for (const text of ['one', 'two', 'three']) expect((await ask(text)).status).toBe(200)
    await page.goto(baseURL)
    await expect.poll(() => status().locator('[data-fact="model"]').textContent(), ui).toBe('qwen3-vl-4b-instruct')
    expect(await status().locator('[data-fact="engine"]').textContent()).toBe('scripted · ready')
    expect(await status().locator('[data-fact="uptime"]').textContent()).toMatch(/^\d+ s$/)
    expect(await status().locator('[data-fact="promptSpeed"]').textContent()).toMatch(/^[\d.]+ tok\/s$/)
    await expect.poll(() => status().locator('.status-window').textContent(), ui).toContain('3 requests')
    expect(await chart('Success rate').locator('figcaption').textContent()).toContain('100% of 3 requests')
    for (const name of ['Latency', 'Success rate', 'Tokens/s']) {
      expect(Number(await chart(name).locator('svg').getAttribute('data-points')), name).toBeGreaterThan(0)
      expect(await chart(name).locator('.status-dot, .status-line').count(), name).toBeGreaterThan(0)
    }
    expect(await chart('Latency').locator('figcaption').textContent()).toMatch(/p50 \d+ ms · p95 \d+ ms/)
    expect(await chart('Tokens/s').locator('figcaption').textContent()).toMatch(/generation [\d.]+ · prompt [\d.]+/)
    expect(cspViolations).toEqual([])
  })

  it('keeps updating while the page is open, errors included', async () => {
    expect((await ask('four')).status).toBe(200)
    const bad = await fetch(`${baseURL}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }], temperature: 9 }),
    })
    expect(bad.status).toBe(400)
    await expect.poll(() => status().locator('.status-window').textContent(), ui).toContain('5 requests')
    expect(await chart('Success rate').locator('figcaption').textContent()).toContain('80.0% of 5 requests')
    expect(cspViolations).toEqual([])
    if (process.env.VISTO_SCREENSHOT) await status().screenshot({ path: process.env.VISTO_SCREENSHOT })
  })

  it('speaks Chinese at once when the header switches to 中文, figures included, and English again when switched back', async () => {
    await expect.poll(() => status().locator('.status-window').textContent(), ui).toContain('5 requests')
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh')
    expect(await status().locator('summary').textContent()).toBe('服务器状态')
    expect(await status().locator('dt').allTextContents()).toEqual(['模型', '推理引擎', '已运行', '提示处理速度', '首个 token（p50）'])
    for (const name of ['延迟', '成功率', '每秒 token 数', '队列']) expect(await chart(name).count(), name).toBe(1)
    // Not only the headings: the figures are written again in the new words, without waiting for the next poll.
    expect(await status().locator('.status-window').textContent()).toBe('最近 10 分钟 · 5 个请求')
    expect(await chart('成功率').locator('figcaption').textContent()).toContain('5 个请求，成功 80.0%')
    expect(await chart('成功率').locator('svg').getAttribute('aria-label')).toBe('成功率: 5 个请求，成功 80.0%')
    expect(await status().locator('[data-fact="uptime"]').textContent()).toMatch(/^\d+ (秒|分钟)$/)
    expect(await status().locator('[data-fact="promptSpeed"]').textContent()).toMatch(/^每秒 [\d.]+ 个 token$/)
    expect(await chart('队列').locator('.status-legend').textContent()).toBe('排队运行中')

    await page.getByRole('combobox', { name: '语言' }).selectOption('en')
    expect(await status().locator('summary').textContent()).toBe('Server status')
    expect(await chart('Success rate').locator('figcaption').textContent()).toContain('80.0% of 5 requests')
    expect(cspViolations).toEqual([])
  })
})
