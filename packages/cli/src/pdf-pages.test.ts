import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ok, startScriptedServer, type ScriptedServer } from '../../../test-support/scripted-server.js'
import { textPdf } from '../../../test-support/pdfs.js'
import { resolveInputs } from './batch-inputs.js'
import { fixturesDir } from '../../../test-support/paths.js'
import { runCli } from '../../../test-support/run-cli.js'

let server: ScriptedServer
let dir: string
beforeEach(async () => {
  server = await startScriptedServer()
  dir = await mkdtemp(join(tmpdir(), 'visto-cli-pdf-'))
})
afterEach(async () => {
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

type SentPart = { type: string; file?: { filename?: string; pages?: string; file_data?: string } }

describe('PDFs in visto ask and visto batch', () => {
  it('ask sends a PDF as a file part, with --pages', async () => {
    const pdf = join(dir, 'invoice.pdf')
    await writeFile(pdf, await textPdf(2))
    server.script(ok('Total: 42'))
    const run = await runCli(['ask', pdf, '-q', 'What is the total?', '--pages', '2', '--base-url', server.url])
    expect([run.code, run.stdout]).toEqual([0, 'Total: 42\n'])
    const content = server.requests[0]!.json!.messages[0]!.content as SentPart[]
    expect(content.map((p) => p.type)).toEqual(['text', 'file'])
    expect(content[1]!.file).toMatchObject({ filename: 'invoice.pdf', pages: '2', file_data: expect.stringMatching(/^data:application\/pdf;base64,JVBERi/) })
  })

  it('batch finds PDFs in a directory, by extension or by their bytes, next to images', async () => {
    const docs = join(dir, 'docs')
    await mkdir(docs)
    await writeFile(join(docs, 'a.pdf'), await textPdf(1))
    await copyFile(join(fixturesDir, 'tiny.png'), join(docs, 'b.png'))
    await writeFile(join(docs, 'notes.txt'), 'not an input')
    const unnamed = join(dir, 'scan-without-extension')
    await writeFile(unnamed, await textPdf(1))
    const inputs = await resolveInputs([docs, unnamed], { cwd: dir })
    expect(inputs.map((i) => i.file)).toEqual([join('docs', 'a.pdf'), join('docs', 'b.png'), 'scan-without-extension'])
  })
})
