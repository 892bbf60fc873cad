import type { FastifyInstance } from 'fastify'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { composeServer, type ComposeOptions } from '../packages/server/src/compose.js'
import { serveConfig, type ServeOptionName } from '../packages/server/src/config.js'
import { launchChromium } from './chromium.js'
import { ScriptedEngine } from './scripted-engine.js'

/** The web page served by a real Visto on loopback, with a scripted engine, and a Chromium to drive it. */
export interface ScriptedSite {
  engine: ScriptedEngine
  app: FastifyInstance
  baseURL: string
  browser: Browser
  close(): Promise<void>
}

export async function startScriptedSite(options: Partial<Record<ServeOptionName, string | number | boolean>>, compose: Omit<ComposeOptions, 'engine'> = {}): Promise<ScriptedSite> {
  const engine = new ScriptedEngine()
  const { app } = await composeServer(serveConfig(options), { engine, ...compose })
  const baseURL = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launchChromium()
  return {
    engine,
    app,
    baseURL,
    browser,
    close: async () => {
      await browser.close()
      await app.close()
    },
  }
}

/**
 * Collects the Content-Security-Policy violations of every page the context opens
 * (reloads included), so a browser test can fail on any.
 */
export async function watchCspViolations(context: BrowserContext): Promise<string[]> {
  const violations: string[] = []
  await context.exposeBinding('reportCspViolation', (_source, violation: string) => violations.push(violation))
  await context.addInitScript(() => {
    const report = (window as unknown as { reportCspViolation: (v: string) => void }).reportCspViolation
    document.addEventListener('securitypolicyviolation', (event) => report(`${event.violatedDirective}: ${event.blockedURI} ${event.sample}`))
  })
  return violations
}

/** The page's "Code for this conversation" in one language, opening the dialog if it is closed. */
export async function exportedCode(page: Page, language: 'Python' | 'curl' | 'JavaScript' | 'Anthropic SDK'): Promise<string> {
  if (!(await page.getByRole('dialog').isVisible())) await page.getByRole('button', { name: 'Code for this conversation' }).click()
  await page.getByRole('tab', { name: language }).click()
  return (await page.locator('#code-text').textContent()) ?? ''
}
