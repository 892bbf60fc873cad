import { readFile } from 'node:fs/promises'
import OpenAI, { toFile } from 'openai'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVisto, type SpawnedVisto } from '../test-support/visto-server.js'
import { launchChromium } from '../test-support/chromium.js'

let visto: SpawnedVisto
let browser: Browser

beforeAll(async () => {
  visto = await startVisto()
  browser = await launchChromium()
})
afterAll(async () => {
  await browser?.close()
  await visto?.stop()
})

const ui = { timeout: 30_000 }

describe('the web page lists server-side batches', () => {
  it('shows a finished batch with its counts and progress, and downloads its results', async () => {
    const api = new OpenAI({ baseURL: `${visto.baseURL}/v1`, apiKey: 'unused' })
    const lines = ['a', 'b', 'c'].map((id) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: `Say ${id}.` }], max_tokens: 4, temperature: 0 } }),
    )
    const file = await api.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'three.jsonl'), purpose: 'batch' })
    const batch = await api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' })

    const page = await browser.newPage({ acceptDownloads: true })
    await page.goto(visto.baseURL)
    await page.getByText('Batches', { exact: true }).click()
    const item = page.getByRole('listitem', { name: `Batch ${batch.id}` })
    await expect.poll(() => item.getAttribute('data-status'), ui).toBe('completed')
    expect(await item.locator('.batch-counts').textContent()).toBe('3 done, 0 failed of 3')
    expect(await item.getByRole('progressbar', { name: 'Progress' }).getAttribute('value')).toBe('3')

    const [download] = await Promise.all([page.waitForEvent('download'), item.getByRole('button', { name: 'Download results' }).click()])
    const text = await readFile((await download.path())!, 'utf8')
    expect(
      text
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { custom_id: string }).custom_id),
    ).toEqual(['a', 'b', 'c'])
    await page.close()
  })
})
