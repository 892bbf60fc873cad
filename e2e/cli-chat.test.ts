import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { apiError, chunk, ok, refusedUrl, sse, startScriptedServer, type ScriptedServer } from '../test-support/scripted-server.js'
import { fixturesDir, repoRoot } from '../test-support/paths.js'
import { runCli } from '../test-support/run-cli.js'

const png = join(fixturesDir, 'tiny.png')
const gif = join(fixturesDir, 'tiny.gif')

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

const imageCount = (content: unknown) => (Array.isArray(content) ? content.filter((p) => p.type === 'image_url').length : 0)

describe('visto chat (stdin piped)', () => {
  it('holds a multi-turn conversation, attaching images with /image and forgetting on /reset', async () => {
    server.script(
      sse([chunk('A red '), chunk('square.'), chunk(undefined, 'stop')]),
      sse([chunk('Yes, a GIF.'), chunk(undefined, 'stop')]),
      sse([chunk('Fresh start.'), chunk(undefined, 'stop')]),
    )
    const input = ['What is this?', `/image ${gif}`, 'And this one?', '/reset', 'Hello again', '/exit', 'never sent'].join('\n')
    const run = await runCli(['chat', png, '--base-url', server.url], { input })
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('A red square.\nYes, a GIF.\nFresh start.\n')
    expect(server.requests).toHaveLength(3)

    const first = server.requests[0]!.json!.messages
    expect(first).toHaveLength(1)
    expect(imageCount(first[0]!.content)).toBe(1)

    const second = server.requests[1]!.json!.messages
    expect(second.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
    expect(second[1]).toEqual({ role: 'assistant', content: 'A red square.' })
    const gifBase64 = (await readFile(gif)).toString('base64')
    expect(second[2]!.content).toEqual([
      { type: 'text', text: 'And this one?' },
      { type: 'image_url', image_url: { url: `data:image/gif;base64,${gifBase64}` } },
    ])

    expect(server.requests[2]!.json!.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hello again' }] }])
    expect(run.stderr).toContain('conversation reset')
  })

  it('reports a failed turn and carries on; the failed turn is not part of the history', async () => {
    server.script(apiError(400, 'bad turn'), ok('second answer'))
    const run = await runCli(['chat', '--no-stream', '--base-url', server.url], { input: 'first\nsecond\n' })
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('second answer\n')
    expect(run.stderr).toContain('400 bad turn')
    expect(server.requests[1]!.json!.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'second' }] }])
  })

  it('rejects an /image that is not an image without sending anything', async () => {
    const run = await runCli(['chat', '--base-url', server.url], { input: `/image ${join(repoRoot, 'package.json')}\n/image nope.png\n` })
    expect(run.code).toBe(0)
    expect(run.stderr).toContain('Not a recognised image')
    expect(run.stderr).toContain('Cannot read image nope.png: no such file')
    expect(server.requests).toHaveLength(0)
  })

  it('exits 3 when the server is unreachable', async () => {
    const url = await refusedUrl()
    const run = await runCli(['chat', '--retries', '0', '--base-url', url], { input: 'hello?\n' })
    expect(run.code).toBe(3)
    expect(run.stderr).toContain(`cannot reach the server at ${url}/v1 (ECONNREFUSED)`)
  })
})
