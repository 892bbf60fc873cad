import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixturesDir } from '../../../test-support/paths.js'
import { contentPart, createClient, isPdf, pdfPart, userContent, type ChatCompletionRequest } from './index.js'

// A minimal PDF header is all the SDK looks at: it never parses documents, the server does.
const pdf = new TextEncoder().encode('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n')
const pdfBase64 = Buffer.from(pdf).toString('base64')
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-sdk-pdf-'))
  await writeFile(join(dir, 'contract.pdf'), pdf)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('PDFs in the SDK', () => {
  it('recognises a PDF from its bytes, with up to 1 KiB before the header', () => {
    expect(isPdf(pdf)).toBe(true)
    expect(isPdf(new Uint8Array([...new Uint8Array(100), ...pdf]))).toBe(true)
    expect(isPdf(new TextEncoder().encode('PDF-1.7 but not a header'))).toBe(false)
  })

  it('makes a file part from bytes, a path and a data URL', async () => {
    const expected = { type: 'file', file: { filename: 'document.pdf', file_data: `data:application/pdf;base64,${pdfBase64}` } }
    expect(await contentPart(pdf)).toEqual(expected)
    expect(await contentPart(`data:application/octet-stream;base64,${pdfBase64}`)).toEqual(expected)
    expect(await contentPart(join(dir, 'contract.pdf'), { pages: '1-2', detail: 'low' })).toEqual({
      type: 'file',
      file: { filename: 'contract.pdf', file_data: `data:application/pdf;base64,${pdfBase64}`, pages: '1-2', detail: 'low' },
    })
  })

  it('keeps images as image_url parts next to PDFs', async () => {
    const png = await readFile(join(fixturesDir, 'tiny.png'))
    const parts = await userContent('Compare', [new Uint8Array(png), pdf])
    expect(parts.map((p) => p.type)).toEqual(['text', 'image_url', 'file'])
  })

  it('refuses bytes that are not a PDF in pdfPart', () => {
    expect(() => pdfPart(new Uint8Array([1, 2, 3]), { filename: 'x.pdf' })).toThrow('Not a PDF x.pdf: the bytes do not start with %PDF-')
  })

  it('ask sends a PDF path as a file part, with pages', async () => {
    let sent: ChatCompletionRequest | undefined
    const client = createClient({
      baseURL: 'http://visto.invalid',
      fetch: async (_url, init) => {
        sent = JSON.parse(String(init.body)) as ChatCompletionRequest
        const completion = {
          id: 'x',
          object: 'chat.completion',
          created: 0,
          model: 'm',
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok', refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }
        return new Response(JSON.stringify(completion), { status: 200, headers: { 'content-type': 'application/json' } })
      },
    })
    await client.ask(join(dir, 'contract.pdf'), 'Who signed?', { pages: '3' })
    expect(sent!.messages[0]!.content).toEqual([
      { type: 'text', text: 'Who signed?' },
      { type: 'file', file: { filename: 'contract.pdf', file_data: `data:application/pdf;base64,${pdfBase64}`, pages: '3' } },
    ])
  })
})
