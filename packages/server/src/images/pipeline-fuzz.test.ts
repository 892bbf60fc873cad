import { describe, expect, it } from 'vitest'
import { fuzzSeeds } from '@visto/testkit/images/fuzz-seeds'
import { checkAccepted, classifyFailure, fuzzCase, type FuzzOutcome } from '@visto/testkit/images/image-fuzz'
import { ApiError } from '../errors.js'
import { tokenSide } from '../engines/vision-geometry.js'
import { defaultImagePipelineOptions, prepareImage } from './pipeline.js'

const caseCount = Number(process.env.VISTO_IMAGE_FUZZ_CASES ?? 3000)
const fuzzSeed = Number(process.env.VISTO_IMAGE_FUZZ_SEED ?? 20261125)

describe('image pipeline fuzz', () => {
  it(`answers ${caseCount} hostile images with a usable image or a 400/413 "Invalid image data", never another error`, async () => {
    const seeds = await fuzzSeeds()
    const options = { ...defaultImagePipelineOptions, decodeTimeoutSeconds: 10 }
    const violations: string[] = []
    const tally = { accepted: 0, refused: 0 }
    const batch = 8
    for (let start = 0; start < caseCount; start += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, caseCount - start) }, async (_, offset) => {
          const index = start + offset
          const testCase = fuzzCase(seeds, index, fuzzSeed)
          let outcome: FuzzOutcome
          try {
            const image = await prepareImage(testCase.url, `messages[0].content[${index}]`, options, index % 3 === 0 ? 'low' : undefined)
            outcome = checkAccepted(image, tokenSide(options.geometry()), options.pixelBudget.auto)
          } catch (error) {
            outcome = classifyFailure(error, ApiError)
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
  }, 120_000)
})
