import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRandom } from '@visto/testkit/images/image-fuzz'
import { describe, expect, it } from 'vitest'
import { fixturesDir } from '../../../../test-support/paths.js'
import { ApiError } from '../errors.js'
import { defaultImagePipelineOptions, prepareImageBytes } from './pipeline.js'

/** The 64x48 HEVC-coded HEIC of heic-decoder.test.ts. */
const heic = readFileSync(join(fixturesDir, 'tiny.heic'))

describe('HEIC fuzz', () => {
  it('answers every cut and mutated HEIC with an image or a 400, never another error', async () => {
    const random = createRandom(7)
    const outcomes: string[] = []
    for (let i = 0; i < 24; i++) {
      const bytes = Buffer.from(i % 2 === 0 ? heic.subarray(0, Math.floor(random() * heic.length)) : heic)
      if (i % 2 === 1) for (let flip = 0; flip < 4; flip++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      try {
        await prepareImageBytes(bytes, 'image[0]', defaultImagePipelineOptions)
        outcomes.push('ok')
      } catch (error) {
        expect(error).toBeInstanceOf(ApiError)
        expect((error as ApiError).status).toBe(400)
        expect((error as ApiError).message).toMatch(/^Invalid image data in image\[0\]: /)
        outcomes.push('refused')
      }
    }
    expect(outcomes).toContain('refused')
  }, 60_000)
})
