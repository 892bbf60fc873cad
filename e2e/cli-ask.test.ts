import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { apiError, chunk, ok, refusedUrl, sse, startScriptedServer, type ScriptedServer } from '../test-support/scripted-server.js'
import { fixturesDir } from '../test-support/paths.js'
import { runCli } from '../test-support/run-cli.js'
import { ffmpegAvailable, makeClip } from '../test-support/videos.js'

const png = join(fixturesDir, 'tiny.png')
const jpg = join(fixturesDir, 'tiny.jpg')

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

describe('visto ask', () => {
  it('prints the answer on stdout and sends the images as sniffed data URLs with the question first', async () => {
    server.script(ok('A small red rectangle.'))
    const run = await runCli(['ask', png, jpg, '-q', 'What is this?', '--base-url', server.url, '--max-tokens', '64', '-t', '0.5'])
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('A small red rectangle.\n')
    const body = server.requests[0]?.json
    const pngBase64 = (await readFile(png)).toString('base64')
    expect(body).toMatchObject({ model: 'qwen3-vl-4b-instruct', max_tokens: 64, temperature: 0.5 })
    expect(body?.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${pngBase64}` } },
          { type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/jpeg;base64,/) } },
        ],
      },
    ])
  })

  it('streams tokens with --stream', async () => {
    server.script(sse([chunk('Red '), chunk('box.'), chunk(undefined, 'stop')]))
    const run = await runCli(['ask', png, '-q', 'What?', '--stream', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('Red box.\n')
    expect(server.requests[0]?.json?.stream).toBe(true)
  })

  it('prints a JSON object with --json, using env VISTO_BASE_URL, VISTO_API_KEY and --model', async () => {
    server.script(ok('Answer.', { promptTokens: 3 }))
    const run = await runCli(['ask', png, '-q', 'What?', '--json', '--model', 'custom-model'], { env: { VISTO_BASE_URL: server.url, VISTO_API_KEY: 'k-123' } })
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout)
    expect(result).toMatchObject({ text: 'Answer.', finish_reason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }, request_id: 'req-200' })
    expect(typeof result.latency_ms).toBe('number')
    expect(server.requests[0]?.json?.model).toBe('custom-model')
    expect(server.requests[0]?.headers.authorization).toBe('Bearer k-123')
  })

  it('never sends OPENAI_API_KEY: a key for another service stays on this machine', async () => {
    server.script(ok('Answer.'))
    const run = await runCli(['ask', png, '-q', 'What?', '--base-url', server.url], { env: { OPENAI_API_KEY: 'sk-not-for-visto' } })
    expect(run.code).toBe(0)
    expect(server.requests[0]?.headers.authorization).toBeUndefined()
    expect(JSON.stringify(server.requests[0]?.headers)).not.toContain('sk-not-for-visto')
  })

  it('sends an explicit --api-key over VISTO_API_KEY', async () => {
    server.script(ok('Answer.'))
    const run = await runCli(['ask', png, '-q', 'What?', '--base-url', server.url, '--api-key', 'flag-key'], { env: { VISTO_API_KEY: 'env-key', OPENAI_API_KEY: 'sk-other' } })
    expect(run.code).toBe(0)
    expect(server.requests[0]?.headers.authorization).toBe('Bearer flag-key')
  })

  it('warns on stderr when the answer was cut off by max_tokens', async () => {
    server.script(ok('Partial', { finishReason: 'length' }))
    const run = await runCli(['ask', png, '-q', 'What?', '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('Partial\n')
    expect(run.stderr).toContain('cut off at max_tokens')
  })

  it('exits 1 with the server’s message on a 400, without retrying', async () => {
    server.script(apiError(400, 'Invalid image data in messages[0].content[1]: truncated PNG'))
    const run = await runCli(['ask', png, '-q', 'What?', '--base-url', server.url])
    expect(run.code).toBe(1)
    expect(run.stderr).toBe('visto ask: 400 Invalid image data in messages[0].content[1]: truncated PNG (request req-400)\n')
    expect(server.requests).toHaveLength(1)
  })

  it('exits 3 with a plain message when nothing listens at the base URL', async () => {
    const url = await refusedUrl()
    const run = await runCli(['ask', png, '-q', 'What?', '--base-url', url, '--retries', '0'])
    expect(run.code).toBe(3)
    expect(run.stderr).toBe(`visto ask: cannot reach the server at ${url}/v1 (ECONNREFUSED); is it running? Start one with \`visto serve\` or pass --base-url\n`)
    expect(run.stdout).toBe('')
  })

  it('exits 2 on usage errors: a missing question, a missing file, a bad flag value', async () => {
    const noQuestion = await runCli(['ask', png, '--base-url', server.url])
    expect(noQuestion.code).toBe(2)
    expect(noQuestion.stderr).toContain('missing -q QUESTION')
    const noFile = await runCli(['ask', 'no-such.png', '-q', 'x', '--base-url', server.url])
    expect(noFile.code).toBe(2)
    expect(noFile.stderr).toBe('visto ask: no such file: no-such.png\n')
    const badFlag = await runCli(['ask', png, '-q', 'x', '--timeout', 'soon'])
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain('--timeout must be a number')
    const badUrl = await runCli(['ask', png, '-q', 'x', '--base-url', 'localhost:7860'])
    expect(badUrl.code).toBe(2)
    expect(badUrl.stderr).toContain('--base-url: baseURL must be an absolute http(s) URL')
    expect(server.requests).toHaveLength(0)
  })

  it('prints help with --help and exits 0', async () => {
    const run = await runCli(['ask', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('Usage: visto ask IMAGE|PDF|VIDEO… -q QUESTION')
    expect(run.stdout).toContain('Exit codes: 0 ok, 1 failure, 2 usage, 3 server unreachable')
  })
})

describe.skipIf(!ffmpegAvailable)('visto ask with a video', () => {
  it('sends a clip as a video_url part, told apart by its bytes, with --fps and --max-frames', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'visto-ask-video-'))
    try {
      const clip = await makeClip({ codec: 'vp9', container: 'webm' })
      // Named .bin: the bytes decide, never the name.
      const path = join(dir, 'clip.bin')
      writeFileSync(path, clip)
      server.script(ok('A counter ticks.'))
      const run = await runCli(['ask', path, '-q', 'What happens?', '--fps', '1', '--max-frames', '8', '--base-url', server.url])
      expect(run.stderr).toBe('')
      expect(run.code).toBe(0)
      expect(run.stdout).toBe('A counter ticks.\n')
      expect(server.requests[0]?.json?.messages).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What happens?' },
            { type: 'video_url', video_url: { url: `data:video/webm;base64,${clip.toString('base64')}`, fps: 1, max_frames: 8 } },
          ],
        },
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a bad --fps or --max-frames before sending anything', async () => {
    const low = await runCli(['ask', png, '-q', 'x', '--max-frames', '2', '--base-url', server.url])
    expect(low.code).toBe(2)
    expect(low.stderr).toContain('--max-frames must be a whole number, at least 4, got "2"')
    const fps = await runCli(['ask', png, '-q', 'x', '--fps', 'fast', '--base-url', server.url])
    expect(fps.code).toBe(2)
    expect(fps.stderr).toContain('--fps must be a number above 0 and at most 60, got "fast"')
    expect(server.requests).toHaveLength(0)
  })
})
