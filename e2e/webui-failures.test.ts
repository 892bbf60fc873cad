import type { FastifyInstance } from 'fastify'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { launchChromium } from '../test-support/chromium.js'
import { ScriptedEngine, words } from '../test-support/scripted-engine.js'

// How the page words a failed answer, for replies no healthy Visto sends but a proxy or a
// broken upstream can: the page reads streams and error bodies with the SDK's reader and
// parser, and each kind of failure keeps its own words. The replies are fulfilled by the
// browser (page.route), so nothing here depends on the engine.

let browser: Browser
let app: FastifyInstance
let baseURL: string
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  const composed = await composeServer(serveConfig({ 'response-cache': 'off' }), { engine: new ScriptedEngine(words(['unused'])), metrics: { processMetrics: false } })
  app = composed.app
  baseURL = await app.listen({ port: 0, host: '127.0.0.1' })
  browser = await launchChromium()
  page = await browser.newPage()
  page.on('pageerror', (error) => pageErrors.push(String(error)))
})

afterAll(async () => {
  await browser?.close()
  await app?.close()
})

const ui = { timeout: 10_000 }
const chunk = (content: string, finishReason: string | null = null) =>
  `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: finishReason }] })}\n\n`

async function askWithReply(reply: { status: number; contentType: string; body: string }): Promise<void> {
  await page.unroute('**/v1/chat/completions')
  await page.route('**/v1/chat/completions', (route) => route.fulfill(reply))
  await page.goto(baseURL)
  await page.getByLabel('Question').fill('What is this?')
  await page.getByRole('button', { name: 'Send' }).click()
}

describe('the page in Chromium, when an answer fails', () => {
  it.each([
    [
      'a stream that ends with neither a finish_reason nor [DONE]',
      { status: 200, contentType: 'text/event-stream', body: chunk('Half') },
      'The connection closed before the answer was complete',
    ],
    [
      'an error event mid-stream (shown as the server worded it)',
      {
        status: 200,
        contentType: 'text/event-stream',
        body: `${chunk('Half')}data: {"error":{"message":"The engine stopped.","type":"server_error","param":null,"code":null}}\n\ndata: [DONE]\n\n`,
      },
      'The engine stopped.',
    ],
    ['an error event without a message', { status: 200, contentType: 'text/event-stream', body: 'data: {"error":{}}\n\ndata: [DONE]\n\n' }, 'The server reported an error'],
    [
      'an HTTP error with an OpenAI error envelope',
      { status: 400, contentType: 'application/json', body: '{"error":{"message":"messages must not be empty","type":"invalid_request_error","param":"messages","code":null}}' },
      'messages must not be empty',
    ],
    ['an HTTP error whose body is no envelope (shown as it came, trimmed)', { status: 502, contentType: 'text/html', body: '  <h1>Bad gateway</h1>\n' }, '<h1>Bad gateway</h1>'],
    ['an HTTP error with an empty body', { status: 502, contentType: 'text/plain', body: '' }, 'HTTP 502 Bad Gateway'],
  ])('says so for %s', async (_case, reply, expected) => {
    await askWithReply(reply)
    await expect.poll(() => page.getByRole('alert').textContent(), ui).toBe(expected)
    await expect.poll(() => page.getByRole('button', { name: 'Retry' }).count(), ui).toBe(1)
    expect(pageErrors).toEqual([])
  })

  it('takes a stream that has a finish_reason but no [DONE] as a whole answer', async () => {
    await askWithReply({ status: 200, contentType: 'text/event-stream', body: chunk('Complete', 'stop') })
    await expect.poll(() => page.locator('.message.assistant .text').textContent(), ui).toBe('Complete')
    expect(await page.getByRole('alert').count()).toBe(0)
    expect(pageErrors).toEqual([])
  })
})
