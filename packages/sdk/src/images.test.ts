import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidImageError, contentPart, imagePart, imageToDataUrl, sniffImageMime, videoPart } from './index.js'
import { fixturesDir } from '../../../test-support/paths.js'

const read = async (name: string) => new Uint8Array(await readFile(join(fixturesDir, name)))

describe('sniffImageMime', () => {
  // Files as image tools write them; the header edge cases are in protocol's image-format.test.ts.
  it.each([
    ['tiny.jpg', 'image/jpeg'],
    ['tiny.png', 'image/png'],
    ['tiny.gif', 'image/gif'],
    ['tiny.webp', 'image/webp'],
    ['tiny.bmp', 'image/bmp'],
    ['tiny.tiff', 'image/tiff'],
    ['tiny.avif', 'image/avif'],
  ])('recognises %s from its bytes as %s', async (name, mime) => {
    expect(sniffImageMime(await read(name))).toBe(mime)
  })
})

describe('imageToDataUrl', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visto-sdk-mime-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('labels a PNG saved with a .jpg name as image/png, reading it by path', async () => {
    const misnamed = join(dir, 'photo.jpg')
    await copyFile(join(fixturesDir, 'tiny.png'), misnamed)
    const url = await imageToDataUrl(misnamed)
    const bytes = await read('tiny.png')
    expect(url).toBe(`data:image/png;base64,${Buffer.from(bytes).toString('base64')}`)
  })

  it('encodes bytes, ArrayBuffers and Blobs identically', async () => {
    const bytes = await read('tiny.webp')
    const expected = `data:image/webp;base64,${Buffer.from(bytes).toString('base64')}`
    expect(await imageToDataUrl(bytes)).toBe(expected)
    expect(await imageToDataUrl(bytes.slice().buffer)).toBe(expected)
    expect(await imageToDataUrl(new Blob([bytes]))).toBe(expected)
  })

  it('relabels a data URL whose declared type contradicts its bytes', async () => {
    const base64 = Buffer.from(await read('tiny.bmp')).toString('base64')
    expect(await imageToDataUrl(`data:image/jpeg;base64,${base64}`)).toBe(`data:image/bmp;base64,${base64}`)
  })

  it('rejects bytes that are no known image, unless a MIME type is forced', async () => {
    const text = new TextEncoder().encode('hello')
    await expect(imageToDataUrl(text)).rejects.toThrow(InvalidImageError)
    await expect(imageToDataUrl(text)).rejects.toThrow(/Not a recognised image/)
    expect(await imageToDataUrl(text, { mime: 'image/x-custom' })).toBe('data:image/x-custom;base64,aGVsbG8=')
  })

  it('names the path when a file cannot be read', async () => {
    await expect(imageToDataUrl(join(dir, 'missing.png'))).rejects.toThrow(/Cannot read image .*missing\.png: no such file/)
  })

  it('passes http(s) URLs through as image parts but refuses to turn them into data URLs', async () => {
    expect(await imagePart('https://example.com/cat.png')).toEqual({ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } })
    await expect(imageToDataUrl('https://example.com/cat.png')).rejects.toThrow(InvalidImageError)
  })
})

describe('videos', () => {
  const webm = new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81])
  const mp4 = new Uint8Array([0, 0, 0, 0x18, ...new TextEncoder().encode('ftypisom\0\0\0\0isomiso2')])

  it('become video_url parts, labelled from their bytes, with fps, max_frames and detail', async () => {
    expect(await contentPart(webm, { fps: 1, maxFrames: 16, detail: 'low' })).toEqual({
      type: 'video_url',
      video_url: { url: 'data:video/webm;base64,GkXfo59ChoE=', fps: 1, max_frames: 16, detail: 'low' },
    })
    expect(await contentPart(`data:application/octet-stream;base64,${Buffer.from(mp4).toString('base64')}`)).toMatchObject({
      type: 'video_url',
      video_url: { url: expect.stringMatching(/^data:video\/mp4;base64,/) },
    })
  })

  it('refuse bytes that are no video we read', () => {
    expect(() => videoPart(new Uint8Array([1, 2, 3]), { filename: 'x.mp4' })).toThrow('Not a recognised video x.mp4: expected MP4, MOV or WebM')
  })
})
