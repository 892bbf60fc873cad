import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { fixturesDir } from '../../../../test-support/paths.js'
import { ApiError } from '../errors.js'
import { defaultImagePipelineOptions, prepareImage, prepareImageBytes } from './pipeline.js'

/**
 * 64x48, left half red and right half blue, HEVC-coded: written once with libheif's
 * heif-enc (x265), 911 bytes. No encoder ships on npm, so the file is committed.
 */
const heic = readFileSync(join(fixturesDir, 'tiny.heic'))

describe('HEIC through libheif-js', () => {
  it('decodes an iPhone-style HEIC labelled image/jpeg, colours intact', async () => {
    const image = await prepareImage(fixtures.dataUrl(heic, 'image/jpeg'), 'messages[0].content[1]', defaultImagePipelineOptions)
    expect(image).toMatchObject({ sourceFormat: 'heic', sourceWidth: 64, sourceHeight: 48, width: 128, height: 96, mime: 'image/jpeg' })
    const left = await fixtures.meanColour(image.data, { left: 8, top: 8, width: 48, height: 80 })
    const right = await fixtures.meanColour(image.data, { left: 72, top: 8, width: 48, height: 80 })
    expect(left.r).toBeGreaterThan(180)
    expect(left.b).toBeLessThan(80)
    expect(right.b).toBeGreaterThan(180)
    expect(right.r).toBeLessThan(80)
  })

  it('checks the pixel limit from the header before decoding', async () => {
    const error = await prepareImageBytes(heic, 'image[0]', { ...defaultImagePipelineOptions, maxPixels: 1000 }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).status).toBe(413)
    expect((error as ApiError).message).toBe('Image too large in image[0]: the image is 64x48 (0 MP), over the limit of 0 MP decoded pixels (--max-image-pixels)')
  })

  it('reports a truncated HEIC as a 400 naming HEIC', async () => {
    const error = await prepareImageBytes(heic.subarray(0, 100), 'image[0]', defaultImagePipelineOptions).catch((caught: unknown) => caught)
    expect((error as ApiError).status).toBe(400)
    expect((error as ApiError).message).toMatch(/^Invalid image data in image\[0\]: truncated or corrupt HEIC \(.+\)$/)
  })
})
