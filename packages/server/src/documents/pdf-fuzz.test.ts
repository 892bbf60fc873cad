import { describe, expect, it } from 'vitest'
import { hostilePdfs, rawPdf, textPdf } from '../../../../test-support/pdfs.js'
import type { EngineContentPart } from '../engines/engine.js'
import { classifyPdfFailure, pdfFuzzCase, type PdfFuzzOutcome } from '@visto/testkit/documents/pdf-fuzz'
import { ApiError } from '../errors.js'
import { defaultDocumentOptions, PdfDocuments } from './pdf-documents.js'

const caseCount = Number(process.env.VISTO_PDF_FUZZ_CASES ?? 60)
const fuzzSeed = Number(process.env.VISTO_PDF_FUZZ_SEED ?? 20261129)

function checkRendered(parts: EngineContentPart[], budget: number): PdfFuzzOutcome {
  if (parts.length === 0 || parts.length % 2 !== 0) return { kind: 'violation', reason: `${parts.length} parts` }
  for (let i = 0; i < parts.length; i += 2) {
    const marker = parts[i]!
    const page = parts[i + 1]!
    if (marker.type !== 'text' || !/^Page \d+ of \d+:$/.test(marker.text)) return { kind: 'violation', reason: `bad marker ${JSON.stringify(marker)}` }
    if (page.type !== 'image') return { kind: 'violation', reason: 'no page image after the marker' }
    const { width, height, data } = page.image
    if (width % 32 !== 0 || height % 32 !== 0 || width * height > budget || data.length === 0) return { kind: 'violation', reason: `bad page ${width}x${height}` }
  }
  return { kind: 'accepted' }
}

describe('PDF fuzz', () => {
  it(`answers ${caseCount} hostile PDFs with rendered pages or a 400/413, never another error`, async () => {
    const seeds = [
      { name: 'text-2', bytes: await textPdf(2, { size: [300, 400] }) },
      {
        name: 'raw-1',
        bytes: rawPdf([
          '<< /Type /Catalog /Pages 2 0 R >>',
          '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
          '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 300] /Contents 4 0 R >>',
          { dict: '', stream: Buffer.from('0 0 m 100 100 l S') },
        ]),
      },
      { name: 'encrypted', bytes: hostilePdfs.encrypted() },
      { name: 'javascript', bytes: hostilePdfs.withJavaScript() },
      { name: 'cyclic', bytes: hostilePdfs.cyclicPageTree() },
    ]
    const options = { ...defaultDocumentOptions, maxPagesPerRequest: 4, maxPageTokensPerRequest: 4096, timeoutSeconds: 20 }
    const docs = new PdfDocuments(options)
    const violations: string[] = []
    const tally = { accepted: 0, refused: 0 }
    for (let index = 0; index < caseCount; index++) {
      const testCase = pdfFuzzCase(seeds, index, fuzzSeed)
      let outcome: PdfFuzzOutcome
      try {
        const part = {
          type: 'file' as const,
          where: `messages[0].content[${index}]`,
          filename: 'x.pdf',
          fileData: testCase.bytes.toString('base64'),
          fileId: undefined,
          pages: undefined,
          detail: 'low' as const,
        }
        const doc = await docs.inspect(part)
        docs.checkLimits([doc])
        outcome = checkRendered(await docs.render(doc), options.pixelBudget.low)
      } catch (error) {
        outcome = classifyPdfFailure(error, ApiError)
      }
      if (outcome.kind === 'violation') violations.push(`case ${index} (seed ${fuzzSeed}) ${testCase.label}: ${outcome.reason}`)
      else tally[outcome.kind]++
    }
    if (process.env.VISTO_PDF_FUZZ_VERBOSE) console.log(tally)
    expect(violations).toEqual([])
    expect(tally.accepted).toBeGreaterThan(caseCount / 10)
    expect(tally.refused).toBeGreaterThan(caseCount / 10)
  }, 300_000)
})
