import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Debian's chromium (`apt-get install chromium`); playwright-core never downloads a browser. */
export const chromiumPath = process.env.VISTO_CHROMIUM ?? '/usr/bin/chromium'

/** Headless Chromium with nothing that phones home, so tests never touch the network. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`No Chromium at ${chromiumPath}: install it with "apt-get install -y chromium" or set VISTO_CHROMIUM`)
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
}
