import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BadRequestError, createClient, NotFoundError } from '@visto/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'
import { runCli } from '../test-support/run-cli.js'

let server: RunningServer
let dir: string

beforeAll(async () => {
  server = await startTinyServer(['--parallel', '3'])
  dir = mkdtempSync(path.join(os.tmpdir(), 'visto-sdk-e2e-'))
  for (let i = 0; i < 4; i++) writeFileSync(path.join(dir, `photo-${i}.${i % 2 ? 'png' : 'jpg'}`), await testImage(96 + 32 * i, 128, i % 2 ? 'png' : 'jpeg'))
  // A PNG wearing a .jpg name: the SDK must sniff, and the server must not care.
  writeFileSync(path.join(dir, 'mislabelled.jpg'), await testImage(64, 64, 'png'))
})
afterAll(async () => {
  await server?.shutdown()
})

/** Runs the CLI as a child process. Asynchronously: the server answering it lives in this process. */
const cli = (args: string[]) => runCli([...args, '--base-url', server.url], { timeoutMs: 120_000 })

describe('the SDK against a real Visto server', () => {
  it('asks about an image file and reports usage and latency', async () => {
    const client = createClient({ baseURL: server.url })
    const result = await client.ask(path.join(dir, 'mislabelled.jpg'), 'Describe.', { maxTokens: 12, temperature: 0 })
    expect(typeof result.text).toBe('string')
    expect(result.usage?.completion_tokens).toBe(12)
    expect(result.finishReason).toBe('length')
    expect(result.latencyMs).toBeGreaterThan(0)
  })

  it('surfaces the server’s errors as typed errors with message, param and request id', async () => {
    const client = createClient({ baseURL: server.url, maxRetries: 0 })
    const corrupt = await client.ask(Buffer.concat([(await testImage(64, 64)).subarray(0, 300)]), 'Describe.', { maxTokens: 4 }).catch((error: unknown) => error)
    expect(corrupt).toBeInstanceOf(BadRequestError)
    expect((corrupt as BadRequestError).message).toMatch(/Invalid image data in messages\[0\]\.content\[\d\]/)
    expect((corrupt as BadRequestError).requestId).toMatch(/^req_/)
    const unknownModel = await createClient({ baseURL: server.url, model: 'gpt-4o', maxRetries: 0 })
      .ask(undefined, 'hi')
      .catch((e: unknown) => e)
    expect(unknownModel).toBeInstanceOf(NotFoundError)
  })

  it('keeps a multi-turn conversation about an image', async () => {
    const client = createClient({ baseURL: server.url })
    const conversation = client.conversation({ maxTokens: 6 })
    await conversation.attach(path.join(dir, 'photo-0.jpg'))
    const first = await conversation.send('What is this?')
    const second = await conversation.send('And the colours?')
    expect(second.usage!.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens)
    expect(conversation.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant'])
  })
})

describe('the CLI against a real Visto server', () => {
  it('visto ask prints the answer', async () => {
    const result = await cli(['ask', path.join(dir, 'photo-1.png'), '-q', 'Describe.', '--max-tokens', '8', '--json'])
    expect(result.code).toBe(0)
    const output = JSON.parse(result.stdout) as { text: string; usage: { completion_tokens: number } }
    expect(output.usage.completion_tokens).toBe(8)
  })

  it('visto batch answers every image once, and a re-run repeats nothing', async () => {
    const out = path.join(dir, 'results.jsonl')
    const first = await cli(['batch', dir, '-q', 'Describe.', '-c', '3', '-o', out, '--max-tokens', '4'])
    expect(first.code).toBe(0)
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    expect(lines).toHaveLength(5)
    const again = await cli(['batch', dir, '-q', 'Describe.', '-c', '3', '-o', out, '--max-tokens', '4'])
    expect(again.code).toBe(0)
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(5)
  })

  it('visto ask fails plainly with exit 1 and the server’s message for a corrupt image', async () => {
    const broken = path.join(dir, 'broken.bin')
    writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]))
    const result = await cli(['ask', broken, '-q', 'Describe.'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Invalid image data')
  })
})
