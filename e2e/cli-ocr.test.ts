import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { textPdf } from '../test-support/pdfs.js'
import { apiError, json, completion, ok, startScriptedServer, type ScriptedServer } from '../test-support/scripted-server.js'
import { OCR_PROMPT, stripFence } from '../packages/cli/src/commands/ocr.js'
import { fixturesDir } from '../test-support/paths.js'
import { runCli } from '../test-support/run-cli.js'

const png = join(fixturesDir, 'tiny.png')
const jpg = join(fixturesDir, 'tiny.jpg')

let server: ScriptedServer
beforeEach(async () => {
  server = await startScriptedServer()
})
afterEach(async () => {
  await server.close()
})

describe('visto ocr', () => {
  it('transcribes one image with the tuned prompt at temperature 0 and prints only the text', async () => {
    server.script(ok('```\nINVOICE 42\nTotal: 9.99\n```'))
    const run = await runCli(['ocr', png, '--base-url', server.url])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('INVOICE 42\nTotal: 9.99\n')
    const body = server.requests[0]!.json!
    expect(body.temperature).toBe(0)
    expect(body.max_tokens).toBe(2048)
    expect(body.messages[0]!.content).toEqual([
      { type: 'text', text: OCR_PROMPT },
      { type: 'image_url', image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) } },
    ])
  })

  it('prints several images under headers in argument order, and JSON with --json', async () => {
    server.fallback = (request, res) => {
      const url = JSON.stringify(request.json?.messages)
      return json(200, completion(url.includes('image/png') ? 'png text' : 'jpeg text'))(request, res)
    }
    const plain = await runCli(['ocr', png, jpg, '--base-url', server.url, '--lang', 'Chinese'])
    expect(plain.code).toBe(0)
    expect(plain.stdout).toBe(`==> ${png} <==\npng text\n\n==> ${jpg} <==\njpeg text\n`)
    expect(JSON.stringify(server.requests[0]!.json!.messages)).toContain('The text is in Chinese.')
    const asJson = await runCli(['ocr', png, jpg, '--json', '--base-url', server.url])
    expect(JSON.parse(asJson.stdout)).toMatchObject([
      { file: png, text: 'png text', finish_reason: 'stop' },
      { file: jpg, text: 'jpeg text', finish_reason: 'stop' },
    ])
  })

  it('reports a failed image on stderr and exits 1, still printing the others', async () => {
    server.fallback = (request, res) =>
      JSON.stringify(request.json?.messages).includes('image/jpeg') ? apiError(400, 'Invalid image data')(request, res) : ok('fine')(request, res)
    const run = await runCli(['ocr', png, jpg, '--base-url', server.url])
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('fine')
    expect(run.stderr).toContain(`visto ocr: ${jpg}: 400 Invalid image data`)
  })

  it('strips a code fence around the transcript but leaves other text alone', () => {
    expect(stripFence('```text\nA\nB\n```')).toBe('A\nB')
    expect(stripFence('  plain  \n')).toBe('plain')
    expect(stripFence('a ``` b')).toBe('a ``` b')
  })

  it('transcribes a PDF one page per request, each under its own header, and one JSON object per page', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visto-ocr-pdf-'))
    try {
      const pdf = join(dir, 'scan.pdf')
      await writeFile(pdf, await textPdf(3))
      server.fallback = (request, res) => {
        const file = (request.json!.messages[0]!.content as Array<{ type: string; file?: { pages?: string } }>).find((p) => p.type === 'file')
        return json(200, completion(`text of page ${file?.file?.pages}`))(request, res)
      }
      const plain = await runCli(['ocr', pdf, '--base-url', server.url, '-c', '1'])
      expect(plain.code).toBe(0)
      expect(plain.stdout).toBe(`==> ${pdf} (page 1 of 3) <==\ntext of page 1\n\n==> ${pdf} (page 2 of 3) <==\ntext of page 2\n\n==> ${pdf} (page 3 of 3) <==\ntext of page 3\n`)
      const sent = server.requests[0]!.json!.messages[0]!.content
      expect(sent).toEqual([
        { type: 'text', text: OCR_PROMPT },
        { type: 'file', file: { filename: 'scan.pdf', file_data: expect.stringMatching(/^data:application\/pdf;base64,JVBERi/), pages: '1' } },
      ])
      const asJson = await runCli(['ocr', pdf, '--json', '--pages', '2-3', '--base-url', server.url])
      expect(JSON.parse(asJson.stdout)).toMatchObject([
        { file: pdf, page: 2, pages: 3, text: 'text of page 2' },
        { file: pdf, page: 3, pages: 3, text: 'text of page 3' },
      ])
      const beyond = await runCli(['ocr', pdf, '--pages', '4', '--base-url', server.url])
      expect([beyond.code, beyond.stderr.trim()]).toEqual([2, `visto ocr: --pages asks for page 4, but ${pdf} has 3 pages`])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
