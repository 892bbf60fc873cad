import { describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { ApiError } from '../errors.js'
import { createRandom } from '@visto/testkit/images/image-fuzz'
import { defaultImagePipelineOptions, prepareImage, prepareImageBytes } from './pipeline.js'

/**
 * 64x48, left half red and right half blue, HEVC-coded: written once with libheif's
 * heif-enc (x265), 911 bytes. No encoder ships on npm, so this one is inlined.
 */
const heic = Buffer.from(
  [
    'AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAvxtZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAA',
    'AA5waXRtAAAAAAACAAAAGGlkYXQAAAAAAEAAMAAAAAAAQAAwAAAAYGlsb2MBAAAAREAABAABAAAAAAAAAyAAAQAAAAAAAABcAAIA',
    'AQAAAAAAAAABAAAAAAAAAAgAAwAAAAAAAAN8AAEAAAAAAAAAEwAEAAEAAAAAAAAAAQAAAAgAAAAIAAAAYmlpbmYAAAAAAAQAAAAV',
    'aW5mZQIAAAEAAQAAaHZjMQAAAAAVaW5mZQIAAAAAAgAAZ3JpZAAAAAAVaW5mZQIAAAEAAwAAaHZjMQAAAAAVaW5mZQIAAAAABAAA',
    'Z3JpZAAAAAGxaXBycAAAAYRpcGNvAAAAdmh2Y0MBA3AAAAAAAAAAAAAe8AD8/fj4AAAPAyAAAQAYQAEMAf//A3AAAAMAkAAAAwAA',
    'AwAeugJAIQABACpCAQEDcAAAAwCQAAADAAADAB6gIIEFlurkprm4EBAwIAAAAwAgAAADACEiAAEABkQBwXPAiQAAABRpc3BlAAAA',
    'AAAAAEAAAABAAAAAFGlzcGUAAAAAAAAAQAAAADAAAAAQcGl4aQAAAAADCAgIAAAAcWh2Y0MBBAgAAAAAAAAAAAAe8AD8/Pj4AAAP',
    'AyAAAQAXQAEMAf//BAgAAAMAn/gAAAMAAB66AkAhAAEAJkIBAQQIAAADAJ/4AAADAAAewIIEFlurkprmwIAAAAMAgAAAAwCEIgAB',
    'AAZEAcFzwIkAAAAUaXNwZQAAAAAAAABAAAAAQAAAABRpc3BlAAAAAAAAAEAAAAAwAAAADnBpeGkAAAAAAQgAAAAnYXV4QwAAAAB1',
    'cm46bXBlZzpoZXZjOjIwMTU6YXV4aWQ6MQAAAAAlaXBtYQAAAAAAAAAEAAECgQIAAgIDhAADAoUGAAQDB4iJAAAANmlyZWYAAAAA',
    'AAAADmRpbWcAAgABAAEAAAAOZGltZwAEAAEAAwAAAA5hdXhsAAQAAQACAAAAd21kYXQAAABYKAGvE4D4EOGn//wUqP/3Ws8Pyyd5',
    'if/2NxEf0qcv/zmgju723/hvoYvWtayf7iRS9sIdibG6H8f2/goERcE5mYOkIMx0YXEQRsWpJJ/EuO6s8uqtneuH7gAAAA8oAa4n',
    '59y33/+aL3nAK+A=',
  ].join(''),
  'base64',
)

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
