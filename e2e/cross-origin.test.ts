import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeServer } from '../packages/server/src/compose.js'
import { serveConfig } from '../packages/server/src/config.js'
import { ScriptedEngine, words } from '../test-support/scripted-engine.js'
import { launchChromium } from '../test-support/chromium.js'

// What another web page open in the user's browser can do to a local Visto: nothing.
// Visto's own page, under its Content-Security-Policy, keeps working.

let browser: Browser
let visto: FastifyInstance
let vistoURL: string
let engine: ScriptedEngine
let otherSite: Server
let otherURL: string

const chat = JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a secret' }], max_tokens: 8 })

/** A page on another local port that tries every way a page can reach a server. */
function hostilePage(target: string): string {
  return `<!doctype html><meta charset="utf-8"><title>other site</title><script>
window.attempts = (async () => {
  const tries = {
    simplePost: () => fetch(${JSON.stringify(target)} + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(chat)} }),
    noCorsPost: () => fetch(${JSON.stringify(target)} + '/chat/completions', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(chat)} }),
    jsonPost: () => fetch(${JSON.stringify(target)} + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(chat)} }),
    models: () => fetch(${JSON.stringify(target)} + '/v1/models'),
  }
  const results = {}
  for (const [name, attempt] of Object.entries(tries)) {
    try {
      const response = await attempt()
      results[name] = response.type === 'opaque' ? 'opaque' : 'read:' + response.status + ':' + (await response.text()).slice(0, 80)
    } catch (error) {
      results[name] = 'blocked:' + error.name
    }
  }
  return results
})()
</script>`
}

beforeAll(async () => {
  engine = new ScriptedEngine(words(['The', ' answer']))
  visto = (await composeServer(serveConfig(), { engine })).app
  vistoURL = await visto.listen({ port: 0, host: '127.0.0.1' })
  otherSite = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(hostilePage(vistoURL))
  })
  await new Promise<void>((resolve) => otherSite.listen(0, '127.0.0.1', resolve))
  otherURL = `http://127.0.0.1:${(otherSite.address() as AddressInfo).port}/`
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await visto?.close()
  await new Promise((resolve) => otherSite?.close(resolve))
})

describe('a page from another local port', () => {
  it('cannot get an answer out of Visto, and makes it do no work', async () => {
    const page = await browser.newPage()
    await page.goto(otherURL)
    const results = (await page.evaluate('window.attempts')) as Record<string, string>
    for (const [name, outcome] of Object.entries(results)) {
      expect(outcome, name).not.toMatch(/^read:/)
    }
    // The no-cors request is sent (the browser hides the answer) — and Visto refused it unread.
    expect(results.noCorsPost).toBe('opaque')
    expect(engine.requests).toHaveLength(0)
    await page.close()
  })
})

describe("Visto's own page", () => {
  it('gets answers under its Content-Security-Policy, with no policy violations', async () => {
    const page = await browser.newPage()
    const violations: string[] = []
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text())
    })
    await page.goto(vistoURL)
    await page.getByRole('textbox', { name: 'Question' }).fill('Hello?')
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.getByRole('listitem', { name: 'Answer 1' }).locator('.text').textContent(), { timeout: 15_000 }).toBe('The answer')
    expect(engine.requests).toHaveLength(1)
    expect(violations).toEqual([])
    await page.close()
  })
})
