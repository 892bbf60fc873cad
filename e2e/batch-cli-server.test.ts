import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'
import { runCli, startCli } from '../test-support/run-cli.js'

let server: RunningServer
let dir: string

beforeAll(async () => {
  server = await startTinyServer(['--parallel', '2'])
  dir = mkdtempSync(path.join(os.tmpdir(), 'visto-cli-server-batch-'))
  for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `photo-${i}.jpg`), await testImage(64 + 16 * i, 64, 'jpeg'))
})
afterAll(async () => {
  await server?.shutdown()
})

const cli = (args: string[]) => runCli([...args, '--base-url', server.url], { timeoutMs: 120_000 })

function records(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('visto batch --server', () => {
  it('runs the folder as a server-side batch and writes results in the client-side format', async () => {
    const out = path.join(dir, 'server.jsonl')
    const result = await cli(['batch', dir, '-q', 'Describe.', '-o', out, '--server', '--max-tokens', '4', '--temperature', '0'])
    expect(result.stderr).toContain('submitted server batch batch_')
    expect(result.code).toBe(0)
    const server = records(out)
    expect(server.map((r) => r.file).sort()).toEqual(['photo-0.jpg', 'photo-1.jpg', 'photo-2.jpg', 'photo-3.jpg', 'photo-4.jpg'])
    for (const record of server) expect(record).toMatchObject({ ok: true, question: 'Describe.', completion_tokens: 4, error: null })

    const local = path.join(dir, 'local.jsonl')
    expect((await cli(['batch', dir, '-q', 'Describe.', '-o', local, '--max-tokens', '4', '--temperature', '0'])).code).toBe(0)
    expect(Object.keys(server[0]!).sort()).toEqual(Object.keys(records(local)[0]!).sort())
    expect(existsSync(`${out}.server-batch.json`)).toBe(false)

    const again = await cli(['batch', dir, '-q', 'Describe.', '-o', out, '--server', '--max-tokens', '4'])
    expect(again.code).toBe(0)
    expect(again.stderr).not.toContain('submitted')
    expect(records(out)).toHaveLength(5)
  })

  it('re-attaches to the same batch after an interruption instead of submitting again', async () => {
    const out = path.join(dir, 'interrupted.jsonl')
    const api = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' })
    const before = (await api.batches.list({ limit: 100 })).data.length
    const { child, done } = startCli(['batch', dir, '-q', 'Describe at length.', '-o', out, '--server', '--max-tokens', '200', '--base-url', server.url], { timeoutMs: 120_000 })
    const submitted = new Promise<void>((resolve) => {
      let stderr = ''
      child.stderr!.on('data', (chunk: string) => {
        stderr += chunk
        if (stderr.includes('submitted server batch')) resolve()
      })
    })
    await submitted
    child.kill('SIGINT')
    expect((await done).code).toBe(130)
    const saved = JSON.parse(readFileSync(`${out}.server-batch.json`, 'utf8')) as { batch_id: string }

    const again = await cli(['batch', dir, '-q', 'Describe at length.', '-o', out, '--server', '--max-tokens', '200'])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain(`attaching to server batch ${saved.batch_id}`)
    expect(records(out).map((r) => r.file).sort()).toEqual(['photo-0.jpg', 'photo-1.jpg', 'photo-2.jpg', 'photo-3.jpg', 'photo-4.jpg'])
    expect((await api.batches.list({ limit: 100 })).data.length).toBe(before + 1)
  })

  it('needs -o to keep the batch id for re-attaching', async () => {
    const result = await cli(['batch', dir, '-q', 'Describe.', '--server'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--server needs -o FILE')
  })
})
