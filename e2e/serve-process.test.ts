import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { dataUrl, testImage } from '@visto/testkit/images/test-images'
import { vistoBin } from '../test-support/paths.js'
import { startVisto } from '../test-support/visto-server.js'

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
    // A generation of thousands of tokens is still running when SIGTERM arrives, and a
    // generous drain deadline keeps a loaded CI machine's slow reads from cutting it.
    const server = await startVisto(['--parallel', '1', '--ctx-size', '8192', '--drain-seconds', '120'])
    const body = {
      model: 'qwen3-vl-4b-instruct',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe.' },
            { type: 'image_url', image_url: { url: dataUrl(await testImage(128, 128)) } },
          ],
        },
      ],
      max_tokens: 2000,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }
    const response = await fetch(`${server.baseURL}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(response.status).toBe(200)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = decoder.decode((await reader.read()).value, { stream: true })
    // The request is generating now: stop the server under it.
    const exit = server.stop('SIGTERM')
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true })
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true)
    const usage = text
      .split('\n\n')
      .filter((e) => e.includes('"usage":{'))
      .map((e) => JSON.parse(e.slice(6)) as { usage: { completion_tokens: number } })
    expect(usage.at(-1)?.usage.completion_tokens, text.slice(-600) + server.output()).toBe(2000)
    expect(await exit).toBe(0)
    expect(server.output()).toContain('SIGTERM: draining in-flight requests')
  }, 120_000)

  it('takes llama-server down with it even when killed with SIGKILL', async () => {
    const server = await startVisto()
    const children = spawnSync('ps', ['-o', 'pid=,comm=', '--ppid', String(server.child.pid)], { encoding: 'utf8' }).stdout
    const engine = children
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find(([, comm]) => comm === 'llama-server')
    expect(engine).toBeDefined()
    const pid = Number(engine![0])
    await server.stop('SIGKILL')
    const alive = (): boolean => {
      try {
        process.kill(pid, 0)
        return (
          spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' })
            .stdout.trim()
            .startsWith('Z') === false
        )
      } catch {
        return false
      }
    }
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(alive()).toBe(false)
  })
})
