import { testImage, dataUrl } from '@visto/testkit/images/test-images'
import { describe, expect, it } from 'vitest'
import { textPdf, pdfDataUrl } from '../../../../test-support/pdfs.js'
import { defaultDocumentOptions, PdfDocuments } from '../documents/pdf-documents.js'
import { qwen3VlGeometry, type VisionGeometry } from '../engines/vision-geometry.js'
import { imageCost } from './image-cost.js'
import { defaultImagePipelineOptions, prepareImage, type ImagePipelineOptions } from './pipeline.js'

/** Qwen2.5-VL sees images in 14-pixel patches, merged 2×2: one token per 28×28 pixels. */
const qwen25Vl: VisionGeometry = { patchSize: 14, spatialMerge: 2, minImageTokens: 8, frameTokens: 2 }
const withGeometry = (geometry: VisionGeometry): ImagePipelineOptions => ({ ...defaultImagePipelineOptions, geometry: () => geometry })

describe('sizes and costs follow the model geometry', () => {
  it('resizes to multiples of 28 px and counts 28×28 tokens for patch 14 × merge 2', () => {
    // Qwen3-VL: 1152×864 (36×27 = 972 tokens). 28 px: sqrt(12e6 / 1024²) = 3.383, so 868 = 31·28 by 1176 = 42·28.
    expect(imageCost(4000, 3000, 'auto', withGeometry(qwen3VlGeometry))).toEqual({ width: 1152, height: 864, imageTokens: 972, promptTokens: 974 })
    expect(imageCost(4000, 3000, 'auto', withGeometry(qwen25Vl))).toEqual({ width: 1176, height: 868, imageTokens: 31 * 42, promptTokens: 31 * 42 + 2 })
    // Grown to the fewest tokens: 8 tiles of 28×28 need 84×84 (9 tokens); of 32×32, 96×96.
    expect(imageCost(10, 10, 'auto', withGeometry(qwen25Vl))).toEqual({ width: 84, height: 84, imageTokens: 9, promptTokens: 11 })
    expect(imageCost(10, 10, 'auto', withGeometry({ ...qwen25Vl, minImageTokens: 16 }))).toEqual({ width: 112, height: 112, imageTokens: 16, promptTokens: 18 })
  })

  it("adds the model's own frame tokens to the prompt cost", () => {
    expect(imageCost(256, 256, 'auto', withGeometry({ ...qwen3VlGeometry, frameTokens: 0 })).promptTokens).toBe(64)
    expect(imageCost(256, 256, 'auto', withGeometry({ ...qwen3VlGeometry, frameTokens: 5 })).promptTokens).toBe(69)
  })

  it('the pipeline produces the 28-px size the cost predicts, and counts its tokens so', async () => {
    const options = withGeometry(qwen25Vl)
    const image = await prepareImage(dataUrl(await testImage(1000, 700)), 'messages[0].content[1]', options)
    const predicted = imageCost(1000, 700, 'auto', options)
    expect([image.width, image.height, image.imageTokens]).toEqual([predicted.width, predicted.height, predicted.imageTokens])
    expect([image.width % 28, image.height % 28, image.imageTokens]).toEqual([0, 0, (image.width / 28) * (image.height / 28)])
    expect(image.width % 32 !== 0 || image.height % 32 !== 0).toBe(true)
  })

  it('asks for the geometry at each image, so a model loaded later counts', async () => {
    let geometry: VisionGeometry = qwen3VlGeometry
    const options: ImagePipelineOptions = { ...defaultImagePipelineOptions, geometry: () => geometry }
    expect(imageCost(4000, 3000, 'auto', options).width).toBe(1152)
    geometry = qwen25Vl
    expect(imageCost(4000, 3000, 'auto', options).width).toBe(1176)
  })

  it('renders PDF pages at 28-px multiples and counts their tokens with the geometry', async () => {
    const part = {
      type: 'file',
      where: 'messages[0].content[1]',
      filename: 'doc.pdf',
      fileData: pdfDataUrl(await textPdf(1)),
      fileId: undefined,
      pages: undefined,
      detail: 'auto',
    } as const
    const qwen3 = await new PdfDocuments(defaultDocumentOptions).inspect(part)
    expect(qwen3.pages).toEqual([{ number: 1, width: 896, height: 1152, tokens: 28 * 36 }])
    // A Letter page filling 1024² px is 900×1165; at 28 px that is 32×41 tiles.
    const documents = new PdfDocuments({ ...defaultDocumentOptions, geometry: () => ({ ...qwen25Vl, frameTokens: 3 }) })
    const inspected = await documents.inspect(part)
    expect(inspected.pages).toEqual([{ number: 1, width: 896, height: 1148, tokens: 32 * 41 }])
    expect([inspected.tokens, inspected.frameTokensPerPage]).toEqual([32 * 41, 3])
    const [marker, page] = await documents.render(inspected)
    expect(marker).toEqual({ type: 'text', text: 'Page 1 of 1:' })
    expect(page?.type === 'image' && [page.image.width, page.image.height]).toEqual([896, 1148])
  })
})
