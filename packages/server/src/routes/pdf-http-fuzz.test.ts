import { pdfFuzzCase } from '@visto/testkit/documents/pdf-fuzz'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeApp } from '../../../../test-support/close-app.js'
import { hostilePdfs, pdfDataUrl, textPdf } from '../../../../test-support/pdfs.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'

// The scripted engine stands in only for generation: reading, limits and rendering are real.
let app: FastifyInstance
let threePages: Buffer

beforeAll(async () => {
  threePages = await textPdf(3)
  app = (await composeServer(serveConfig({ 'max-pdf-pages': 4, 'max-pdf-tokens': 2048, 'body-limit-mb': 8 }), { engine: new ScriptedEngine() })).app
})

afterAll(async () => {
  await closeApp(app)
})

function chat(content: unknown[]) {
  return app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content }], max_tokens: 8 } })
}

describe('mutated PDFs over HTTP', () => {
  it('answers 24 mutated PDFs with 200 or a 400/413 envelope, never a 5xx', async () => {
    const seeds = [
      { name: 'text-3', bytes: threePages },
      { name: 'encrypted', bytes: hostilePdfs.encrypted() },
      { name: 'cyclic', bytes: hostilePdfs.cyclicPageTree() },
    ]
    const statuses: number[] = []
    for (let index = 0; index < 24; index++) {
      const { bytes, label } = pdfFuzzCase(seeds, index, 424242)
      const response = await chat([{ type: 'file', file: { file_data: pdfDataUrl(bytes), detail: 'low', pages: '1' } }])
      statuses.push(response.statusCode)
      if (response.statusCode !== 200) {
        expect([400, 413], label).toContain(response.statusCode)
        expect(Object.keys(response.json().error).sort(), label).toEqual(['code', 'message', 'param', 'type'])
      }
    }
    expect(statuses).toContain(200)
    expect(statuses).toContain(400)
  })
})
