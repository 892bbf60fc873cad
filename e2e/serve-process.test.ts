import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { dataUrl, testImage } from '../test-support/images.js'
import { startVisto, vistoBin } from '../test-support/visto-server.js'

describe('visto serve as a process', () => {
  it('rejects a bad flag with one clear line and exit code 2', () => {
    const result = spawnSync(process.execPath, [vistoBin, 'serve', '--port', 'seventy'], { encoding: 'utf8' })
    expect(result.status).toBe(2)
    expect(result.stderr.trim()).toBe('visto serve: --port must be a whole number, got "seventy"')
  })

  it('names the files to download and where to put them when the default model is not available offline', () => {
    const result = spawnSync(process.execPath, [vistoBin, 'serve', '--port', '0'], {
      encoding: 'utf8',
      env: { ...process.env, HF_ENDPOINT: 'http://127.0.0.1:9', VISTO_CACHE: '/tmp/visto-offline-test-cache' },
      timeout: 60_000,
    })
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('Qwen3VL-4B-Instruct-Q4_K_M.gguf')
    expect(result.stderr).toContain('/tmp/visto-offline-test-cache')
  })

  it('drains an in-flight request on SIGTERM, then exits 0', async () => {
    const server = await startVisto(['--parallel', '1'])
    const body = {
      model: 'qwen3-vl-4b-instruct',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe.' }, { type: 'image_url', image_url: { url: dataUrl(await testImage(128, 128)) } }] }],
      max_tokens: 400,
      ignore_eos: true,
    }
    const inFlight = fetch(`${server.baseURL}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    await new Promise((r) => setTimeout(r, 150))
    const exit = server.stop('SIGTERM')
    const response = await inFlight
    expect(response.status).toBe(200)
    expect(((await response.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(400)
    expect(await exit).toBe(0)
  })
})
