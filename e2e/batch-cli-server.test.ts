import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../packages/server/src/main.js'
import { testImage } from '@visto/testkit/images/test-images'
import { startTinyServer } from '../test-support/in-process-server.js'
import { textPdf } from '../test-support/pdfs.js'
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
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
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
    expect(
      records(out)
        .map((r) => r.file)
        .sort(),
    ).toEqual(['photo-0.jpg', 'photo-1.jpg', 'photo-2.jpg', 'photo-3.jpg', 'photo-4.jpg'])
    expect((await api.batches.list({ limit: 100 })).data.length).toBe(before + 1)
  })

  it('sends --pages with each PDF in the batch file, and the server reads only those pages', async () => {
    const pdfDir = mkdtempSync(path.join(os.tmpdir(), 'visto-cli-server-batch-pdf-'))
    // Small pages, so two fit the tiny server's context (pages are scaled to the detail budget, so not by much).
    writeFileSync(path.join(pdfDir, 'report.pdf'), await textPdf(3, { size: [200, 260] }))
    const api = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused' })
    const run = async (pages: string) => {
      const out = path.join(pdfDir, `pages-${pages}.jsonl`)
      const result = await cli(['batch', pdfDir, '-q', 'Summarise.', '-o', out, '--server', '--pages', pages, '--max-tokens', '2', '--temperature', '0'])
      expect(result.code, result.stderr).toBe(0)
      const [record] = records(out)
      expect(record).toMatchObject({ file: 'report.pdf', ok: true })
      return record!.prompt_tokens as number
    }
    const onePage = await run('2')
    const [latest] = (await api.batches.list({ limit: 1 })).data
    const input = await (await api.files.content(latest!.input_file_id)).text()
    expect(
      (JSON.parse(input.trim()) as { body: { messages: Array<{ content: Array<{ type: string; file?: { pages?: string } }> }> } }).body.messages[0]!.content[1]!.file!.pages,
    ).toBe('2')
    const twoPages = await run('1,3')
    expect(twoPages).toBeGreaterThan(1.5 * onePage)
    // A page the PDF does not have fails that line; the CLI prints the server's reason.
    const missingPage = await cli(['batch', pdfDir, '-q', 'Summarise.', '-o', path.join(pdfDir, 'missing.jsonl'), '--server', '--pages', '4', '--max-tokens', '2'])
    expect(missingPage.code).toBe(1)
    expect(missingPage.stderr).toMatch(
      /✗ report\.pdf: Invalid file data in messages\[0\]\.content\[1\]: pages "4" asks for page 4, but the document has 3 pages \(request req_\w+\)/,
    )
    rmSync(pdfDir, { recursive: true, force: true })
  })

  it('needs -o to keep the batch id for re-attaching', async () => {
    const result = await cli(['batch', dir, '-q', 'Describe.', '--server'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--server needs -o FILE')
  })
})
