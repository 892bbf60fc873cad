import { describe, expect, it } from 'vitest'
import { writeBmp } from '../../test/support/bmp-writer.js'
import * as fixtures from '../../test/support/image-fixtures.js'
import { checkAccepted, classifyFailure, fuzzCase, type FuzzSeed } from './image-fuzz.js'
import { defaultImagePipelineOptions, prepareImage } from './pipeline.js'

const caseCount = Number(process.env.VISTO_IMAGE_FUZZ_CASES ?? 3000)
const fuzzSeed = Number(process.env.VISTO_IMAGE_FUZZ_SEED ?? 20261125)

async function makeSeeds(): Promise<FuzzSeed[]> {
  const palette: Array<[number, number, number]> = [
    [0, 0, 0],
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
  ]
  return [
    { name: 'jpeg', format: 'jpeg', bytes: await fixtures.photoLikeJpeg(48, 40) },
    { name: 'exif-jpeg', format: 'jpeg', bytes: await fixtures.jpeg(40, 24, { orientation: 6 }) },
    { name: 'png', format: 'png', bytes: await fixtures.png(40, 30) },
    { name: 'alpha-png', format: 'png', bytes: await fixtures.transparentPng(20, 20) },
    { name: 'webp', format: 'webp', bytes: await fixtures.webp(40, 30) },
    { name: 'gif', format: 'gif', bytes: await fixtures.multiPage('gif', 24, 16, fixtures.red, fixtures.blue) },
    { name: 'tiff', format: 'tiff', bytes: await fixtures.tiff(24, 16) },
    { name: 'avif', format: 'avif', bytes: await fixtures.avif(24, 16) },
    { name: 'bmp24', format: 'bmp', bytes: fixtures.bmp24(30, 20) },
    { name: 'bmp8-rle', format: 'bmp', bytes: writeBmp({ width: 30, height: 20, bitsPerPixel: 8, compression: 'rle8', palette, pixel: (x, y) => [(x + y) % 4, 0, 0, 0] }) },
    { name: 'bmp4', format: 'bmp', bytes: writeBmp({ width: 31, height: 9, bitsPerPixel: 4, palette, pixel: (x) => [x % 4, 0, 0, 0], topDown: true }) },
    { name: 'bmp32-bitfields', format: 'bmp', bytes: writeBmp({ width: 9, height: 9, bitsPerPixel: 32, header: 'v5', compression: 'bitfields', pixel: () => [1, 2, 3, 128] }) },
  ]
}

describe('image pipeline fuzz', () => {
  it(
    `answers ${caseCount} hostile images with a usable image or a 400/413 "Invalid image data", never another error`,
    async () => {
      const seeds = await makeSeeds()
      const options = { ...defaultImagePipelineOptions, decodeTimeoutSeconds: 10 }
      const violations: string[] = []
      const tally = { accepted: 0, refused: 0 }
      const batch = 8
      for (let start = 0; start < caseCount; start += batch) {
        await Promise.all(
          Array.from({ length: Math.min(batch, caseCount - start) }, async (_, offset) => {
            const index = start + offset
            const testCase = fuzzCase(seeds, index, fuzzSeed)
            let outcome
            try {
              const image = await prepareImage(testCase.url, `messages[0].content[${index}]`, options, index % 3 === 0 ? 'low' : undefined)
              outcome = checkAccepted(image, options.alignTo, options.pixelBudget.auto)
            } catch (error) {
              outcome = classifyFailure(error)
            }
            if (outcome.kind === 'violation') violations.push(`case ${index} (seed ${fuzzSeed}) ${testCase.label}: ${outcome.reason}`)
            else tally[outcome.kind]++
          }),
        )
      }
      if (process.env.VISTO_IMAGE_FUZZ_VERBOSE) console.log(tally, violations.length)
      expect(violations).toEqual([])
      // Both paths must be exercised, or the generator has gone blind.
      expect(tally.accepted).toBeGreaterThan(caseCount / 10)
      expect(tally.refused).toBeGreaterThan(caseCount / 3)
    },
    120_000,
  )
})
