import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { writeBmp } from '@visto/testkit/images/bmp-writer'
import * as fixtures from '@visto/testkit/images/test-images'
import { failure } from '../../../../test-support/api-failure.js'
import { InvalidImageError, PayloadTooLargeError } from '../errors.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import { defaultImagePipelineOptions, prepareImage, prepareImageBytes, type ImagePipelineOptions } from './pipeline.js'
import { closeApp } from '../../../../test-support/close-app.js'

const where = 'messages[0].content[1]'
const options = defaultImagePipelineOptions

function near(actual: fixtures.Colour, expected: fixtures.Colour, tolerance = 12): void {
  expect(Math.abs(actual.r - expected.r), `red of ${JSON.stringify(actual)}`).toBeLessThanOrEqual(tolerance)
  expect(Math.abs(actual.g - expected.g), `green of ${JSON.stringify(actual)}`).toBeLessThanOrEqual(tolerance)
  expect(Math.abs(actual.b - expected.b), `blue of ${JSON.stringify(actual)}`).toBeLessThanOrEqual(tolerance)
}

describe('prepareImage: what clients send', () => {
  it('accepts a data:image/jpeg;base64 URL and hands back our own aligned JPEG', async () => {
    const image = await prepareImage(fixtures.dataUrl(await fixtures.jpeg(640, 480)), where, options)
    expect(image).toMatchObject({ mime: 'image/jpeg', sourceFormat: 'jpeg', sourceWidth: 640, sourceHeight: 480, width: 640, height: 480, imageTokens: 300 })
    const metadata = await sharp(image.data).metadata()
    expect([metadata.format, metadata.width, metadata.height, metadata.orientation, metadata.space]).toEqual(['jpeg', 640, 480, undefined, 'srgb'])
  })

  it('sniffs the bytes and ignores a wrong MIME label (a PNG labelled image/jpeg)', async () => {
    const image = await prepareImage(fixtures.dataUrl(await fixtures.png(200, 100), 'image/jpeg'), where, options)
    expect(image.sourceFormat).toBe('png')
  })

  it('accepts base64 wrapped at 76 columns with CRLF, as Python base64.encodebytes writes it', async () => {
    const base64 = (await fixtures.png(100, 100)).toString('base64').replace(/.{76}/g, '$&\r\n')
    const image = await prepareImage(`data:image/png;base64,${base64}\n`, where, options)
    expect(image.sourceFormat).toBe('png')
  })

  it('accepts the URL-safe alphabet without padding', async () => {
    const base64url = (await fixtures.png(101, 77)).toString('base64url')
    expect(base64url).toMatch(/[-_]/)
    const image = await prepareImage(`data:image/png;base64,${base64url}`, where, options)
    expect(image.sourceWidth).toBe(101)
  })

  it('accepts a bare base64 string without the data: prefix', async () => {
    const image = await prepareImage((await fixtures.jpeg(64, 64)).toString('base64'), where, options)
    expect(image.sourceFormat).toBe('jpeg')
  })
})

describe('prepareImage: formats', () => {
  it.each([
    ['webp', fixtures.webp],
    ['avif', fixtures.avif],
    ['tiff', fixtures.tiff],
    ['png', fixtures.png],
  ] as const)('decodes %s', async (format, make) => {
    const image = await prepareImageBytes(await make(320, 240), 'image[0]', options)
    expect(image.sourceFormat).toBe(format)
    expect([image.width, image.height]).toEqual([320, 256])
    near(await fixtures.meanColour(image.data, { left: 10, top: 10, width: 100, height: 200 }), fixtures.red, 20)
    near(await fixtures.meanColour(image.data, { left: 210, top: 10, width: 100, height: 200 }), fixtures.blue, 20)
  })

  it.each(['gif', 'tiff'] as const)('uses the first frame or page of a multi-page %s', async (format) => {
    const image = await prepareImageBytes(await fixtures.multiPage(format, 128, 96, fixtures.green, fixtures.red), 'image[0]', options)
    expect([image.sourceWidth, image.sourceHeight]).toEqual([128, 96])
    near(await fixtures.meanColour(image.data, { left: 0, top: 0, width: image.width, height: image.height }), fixtures.green, 20)
  })

  it.each([false, true])('decodes a 24-bit BMP (top-down: %s) labelled image/bmp', async (topDown) => {
    const image = await prepareImage(fixtures.dataUrl(fixtures.bmp24(300, 200, topDown), 'image/bmp'), where, options)
    expect(image).toMatchObject({ sourceFormat: 'bmp', sourceWidth: 300, sourceHeight: 200, width: 288, height: 192 })
    near(await fixtures.meanColour(image.data, { left: 10, top: 10, width: 100, height: 170 }), fixtures.red)
    near(await fixtures.meanColour(image.data, { left: 180, top: 10, width: 100, height: 170 }), fixtures.blue)
  })

  it('decodes an 8-bit palette BMP', async () => {
    const bytes = writeBmp({
      width: 64,
      height: 64,
      bitsPerPixel: 8,
      palette: [
        [0, 0, 0],
        [10, 200, 40],
      ],
      pixel: () => [1, 0, 0, 0],
    })
    const image = await prepareImageBytes(bytes, 'image[0]', options)
    near(await fixtures.meanColour(image.data, { left: 0, top: 0, width: 64, height: 64 }), { r: 10, g: 200, b: 40 }, 6)
  })

  it('shrinks a big BMP while decoding and still lands on the budget', async () => {
    const image = await prepareImageBytes(fixtures.bmp24(3000, 2000), 'image[0]', { ...options, maxImageBytes: 64 * 1024 * 1024 })
    expect([image.width, image.height]).toEqual([1248, 832])
    near(await fixtures.meanColour(image.data, { left: 20, top: 20, width: 500, height: 700 }), fixtures.red)
  })

  it('converts a CMYK JPEG to sRGB', async () => {
    const cmyk = await sharp(await fixtures.png(64, 64))
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer()
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk')
    const image = await prepareImageBytes(cmyk, 'image[0]', options)
    const metadata = await sharp(image.data).metadata()
    expect([metadata.space, metadata.channels]).toEqual(['srgb', 3])
  })

  it('turns greyscale and 16-bit PNGs into 8-bit sRGB', async () => {
    const grey16 = await sharp(await fixtures.png(64, 64))
      .greyscale()
      .png({ force: true })
      .toColourspace('grey16')
      .toBuffer()
    const image = await prepareImageBytes(grey16, 'image[0]', options)
    const metadata = await sharp(image.data).metadata()
    expect([metadata.space, metadata.channels, metadata.depth]).toEqual(['srgb', 3, 'uchar'])
  })
})

describe('prepareImage: normalisation', () => {
  it('applies EXIF orientation (6 = rotate 90° clockwise) before sizing', async () => {
    // Stored 400x200, left red / right blue; displayed 200x400 with red on top.
    const image = await prepareImageBytes(await fixtures.jpeg(400, 200, { orientation: 6 }), 'image[0]', options)
    expect([image.sourceWidth, image.sourceHeight, image.width, image.height]).toEqual([200, 400, 192, 384])
    near(await fixtures.meanColour(image.data, { left: 20, top: 20, width: 150, height: 150 }), fixtures.red)
    near(await fixtures.meanColour(image.data, { left: 20, top: 220, width: 150, height: 150 }), fixtures.blue)
  })

  it.each([
    [1, 'left', [320, 160]],
    [2, 'right', [320, 160]],
    [3, 'right', [320, 160]],
    [4, 'left', [320, 160]],
    [5, 'top', [160, 320]],
    [6, 'top', [160, 320]],
    [7, 'bottom', [160, 320]],
    [8, 'bottom', [160, 320]],
  ] as const)('applies EXIF orientation %i: the red half ends up %s', async (orientation, side, size) => {
    const image = await prepareImageBytes(await fixtures.jpeg(320, 160, { orientation }), 'image[0]', options)
    expect([image.width, image.height]).toEqual([...size])
    const [w, h] = size
    const half = side === 'left' || side === 'right' ? { width: w / 2 - 20, height: h - 20 } : { width: w - 20, height: h / 2 - 20 }
    const origin = { left: side === 'right' ? w / 2 + 10 : 10, top: side === 'bottom' ? h / 2 + 10 : 10 }
    near(await fixtures.meanColour(image.data, { ...origin, ...half }), fixtures.red)
  })

  it('flattens transparency on white', async () => {
    const image = await prepareImageBytes(await fixtures.transparentPng(128, 128), 'image[0]', options)
    near(await fixtures.meanColour(image.data, { left: 0, top: 0, width: 128, height: 128 }), { r: 255, g: 255, b: 255 }, 1)
  })

  it('resizes a 12 MP photo to about 1024x1024 with sides that are multiples of 32', async () => {
    const image = await prepareImageBytes(await fixtures.photoLikeJpeg(4000, 3000), 'image[0]', options)
    expect([image.width, image.height, image.imageTokens]).toEqual([1152, 864, 36 * 27])
  })

  it('lets image_url.detail pick the low or high budget', async () => {
    const photo = fixtures.dataUrl(await fixtures.photoLikeJpeg(2000, 1500))
    const low = await prepareImage(photo, where, options, 'low')
    const high = await prepareImage(photo, where, options, 'high')
    expect([low.width, low.height]).toEqual([576, 416])
    expect(high.width * high.height).toBeLessThanOrEqual(1536 * 1536)
    expect(high.width * high.height).toBeGreaterThan(2_000_000)
  })

  it('never upscales a small image past the model minimum', async () => {
    const image = await prepareImageBytes(await fixtures.png(40, 30), 'image[0]', options)
    expect([image.width, image.height]).toEqual([128, 96])
    const medium = await prepareImageBytes(await fixtures.png(300, 200), 'image[0]', options)
    expect([medium.width, medium.height]).toEqual([288, 192])
  })

  it('encodes PNG when configured to', async () => {
    const image = await prepareImageBytes(await fixtures.jpeg(100, 100), 'image[0]', { ...options, outputFormat: 'png' })
    expect(image.mime).toBe('image/png')
    expect((await sharp(image.data).metadata()).format).toBe('png')
  })
})

describe('prepareImage: refused images', () => {
  it('reports a truncated JPEG with the exact message and JSON path', async () => {
    const jpeg = await fixtures.photoLikeJpeg(400, 300)
    const error = await failure(prepareImage(fixtures.dataUrl(jpeg.subarray(0, jpeg.length >> 1)), where, options))
    expect(error).toBeInstanceOf(InvalidImageError)
    expect(error.status).toBe(400)
    expect(error.message).toBe('Invalid image data in messages[0].content[1]: truncated JPEG')
    expect(error.param).toBe('messages[0].content[1].image_url.url')
    expect(error.toEnvelope().error.type).toBe('invalid_request_error')
  })

  it('reports a truncated PNG', async () => {
    const png = await fixtures.png(300, 300)
    const error = await failure(prepareImageBytes(png.subarray(0, 60), 'image[0]', options))
    expect(error.message).toMatch(/^Invalid image data in image\[0\]: (truncated|corrupt) PNG/)
    expect(error.param).toBe('image[0]')
  })

  it.each([
    ['bad base64', 'data:image/jpeg;base64,/9j/4AAQ$$$', 'Invalid image data in messages[0].content[1]: bad base64: invalid character "$" at position 8'],
    ['zero bytes', 'data:image/jpeg;base64,', 'Invalid image data in messages[0].content[1]: the image data is empty (zero bytes)'],
    ['an empty url', '   ', 'Invalid image data in messages[0].content[1]: the image URL is empty (zero bytes)'],
    [
      'padding in the middle',
      'data:image/png;base64,iVBO=Rw0',
      'Invalid image data in messages[0].content[1]: bad base64: unexpected "=" at character 4 (padding is only allowed at the end)',
    ],
    [
      'an impossible length',
      'data:image/png;base64,iVBORw0KG',
      'Invalid image data in messages[0].content[1]: bad base64: 9 characters cannot encode whole bytes (truncated base64?)',
    ],
    ['a data URL without a comma', 'data:image/png;base64', 'Invalid image data in messages[0].content[1]: malformed data URL: no "," separates the header from the data'],
    ['a file: URL', 'file:///etc/passwd', 'Invalid image data in messages[0].content[1]: unsupported URL scheme "file:"; send the image inline as a data:image/...;base64,... URL'],
  ])('refuses %s', async (_name, url, message) => {
    const error = await failure(prepareImage(url, where, options))
    expect(error).toBeInstanceOf(InvalidImageError)
    expect(error.message).toBe(message)
    expect(error.param).toBe('messages[0].content[1].image_url.url')
  })

  it.each([
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')],
    ['PDF', Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n')],
    ['plain text', Buffer.from('this is not an image at all')],
    ['ZIP archive', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0])],
  ])('names the detected format %s when refusing it', async (name, bytes) => {
    const error = await failure(prepareImage(fixtures.dataUrl(bytes, 'image/png'), where, options))
    const pdfHint = name === 'PDF' ? ' (send a PDF as a "file" part: {"type": "file", "file": {"file_data": "data:application/pdf;base64,..."}})' : ''
    expect(error.message).toBe(`Invalid image data in messages[0].content[1]: unsupported image format: ${name}; send JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC or BMP${pdfHint}`)
    expect(error.code).toBe('unsupported_image_format')
  })

  it('refuses SVG sent as a percent-encoded data URL, naming SVG', async () => {
    const error = await failure(prepareImage('data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E', where, options))
    expect(error.message).toMatch(/unsupported image format: SVG/)
  })

  it('refuses remote URLs by default and says how to enable them', async () => {
    const error = await failure(prepareImage('https://example.com/cat.jpg', where, options))
    expect(error.status).toBe(400)
    expect(error.code).toBe('remote_images_disabled')
    expect(error.message).toBe(
      'Invalid image data in messages[0].content[1]: remote image URLs are disabled on this server; send the image inline as a data:image/...;base64,... URL, or start the server with --allow-remote-images (VISTO_ALLOW_REMOTE_IMAGES=1)',
    )
  })
})

describe('prepareImage: limits', () => {
  it('answers 413 naming the byte limit before decoding the base64', async () => {
    const small: ImagePipelineOptions = { ...options, maxImageBytes: 1000 }
    const error = await failure(prepareImage(fixtures.dataUrl(await fixtures.photoLikeJpeg(200, 200)), where, small))
    expect(error).toBeInstanceOf(PayloadTooLargeError)
    expect(error.status).toBe(413)
    expect(error.message).toMatch(/^Image too large in messages\[0\]\.content\[1\]: the image is [\d.]+ KiB, over the per-image limit of 1000 bytes \(--max-image-mb\)$/)
    expect(error.param).toBe('messages[0].content[1].image_url.url')
  })

  it('refuses a PNG whose header claims 100000x100000 pixels without decoding it', async () => {
    const png = Buffer.from(await fixtures.png(16, 16))
    png.writeUInt32BE(100_000, 16)
    png.writeUInt32BE(100_000, 20)
    const started = Date.now()
    const error = await failure(prepareImageBytes(png, 'image[0]', options))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(error.status).toBe(413)
    expect(error.message).toBe('Image too large in image[0]: the image is 100000x100000 (10000 MP), over the limit of 100 MP decoded pixels (--max-image-pixels)')
  })

  it('refuses a BMP whose header claims a huge size, from the header alone', async () => {
    const bmp = fixtures.bmp24(4, 4)
    bmp.writeInt32LE(50_000, 18)
    bmp.writeInt32LE(50_000, 22)
    const error = await failure(prepareImageBytes(bmp, 'image[0]', options))
    expect(error.message).toBe('Image too large in image[0]: the image is 50000x50000 (2500 MP), over the limit of 100 MP decoded pixels (--max-image-pixels)')
  })

  it('names text that happens to start with "BM" plain text, not a corrupt bitmap', async () => {
    const error = await failure(prepareImageBytes(Buffer.from('BMW 320i service history and receipts'), 'image[0]', options))
    expect(error.message).toBe('Invalid image data in image[0]: unsupported image format: plain text; send JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIC or BMP')
  })

  it('still names the fault in a bitmap whose DIB header size is unknown', async () => {
    const bmp = fixtures.bmp24(4, 4)
    bmp.writeUInt32LE(77, 14)
    const error = await failure(prepareImageBytes(bmp, 'image[0]', options))
    expect(error.status).toBe(400)
    expect(error.message).toBe('Invalid image data in image[0]: corrupt BMP (unknown header size 77)')
  })

  it('refuses an RLE BMP whose run goes past the row end as corrupt (400), decoded off the event loop', async () => {
    const palette: Array<[number, number, number]> = [
      [0, 0, 0],
      [255, 255, 255],
    ]
    const file = writeBmp({ width: 64, height: 64, bitsPerPixel: 8, compression: 'rle8', palette, pixel: () => [0, 0, 0, 0] })
    const dataOffset = file.readUInt32LE(10)
    const bytes = Buffer.concat([file.subarray(0, dataOffset), Buffer.from([200, 1, 0, 1])])
    const error = await failure(prepareImage(fixtures.dataUrl(bytes, 'image/bmp'), where, options))
    expect(error.status).toBe(400)
    expect(error.code).toBe('corrupt_image')
    expect(error.message).toBe('Invalid image data in messages[0].content[1]: corrupt BMP (RLE run past the end of row 0: to pixel 200 of 64)')
  })

  it('refuses an aspect ratio Qwen cannot handle, naming it', async () => {
    const error = await failure(prepareImageBytes(await fixtures.png(4100, 10), 'image[0]', options))
    expect(error.status).toBe(400)
    expect(error.message).toBe('Invalid image data in image[0]: the image is 4100x10, an aspect ratio of 410:1; the model accepts at most 200:1')
  })
})

describe('prepareImage: concurrency', () => {
  it('decodes at most two images at once, queueing the rest', async () => {
    const photo = fixtures.dataUrl(await fixtures.photoLikeJpeg(1200, 900))
    let peak = 0
    let sawQueue = false
    const sampler = setInterval(() => {
      peak = Math.max(peak, options.decodeSlots.inUse)
      sawQueue ||= options.decodeSlots.queued > 0
    }, 1)
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => prepareImage(photo, `messages[0].content[${i}]`, options)))
      expect(results.every((image) => image.width === 1152 && image.height === 864)).toBe(true)
    } finally {
      clearInterval(sampler)
    }
    expect(peak).toBe(2)
    expect(sawQueue).toBe(true)
    expect(options.decodeSlots.inUse).toBe(0)
  })

  /** Two images through a composed server's pipeline, with every decode's start and end recorded in order. */
  async function decodeTwo(config: Parameters<typeof serveConfig>[0]): Promise<{ limit: number; events: string[]; peak: number }> {
    const { app, images } = await composeServer(serveConfig(config), { engine: new ScriptedEngine() })
    try {
      const slots = images.decodeSlots
      const events: string[] = []
      let peak = 0
      const run = slots.run.bind(slots)
      slots.run = (task, signal) =>
        run(async () => {
          // Inside a slot: inUse counts this decode and every other one running now.
          peak = Math.max(peak, slots.inUse)
          const index = events.filter((event) => event.startsWith('start')).length
          events.push(`start ${index}`)
          try {
            return await task()
          } finally {
            events.push(`end ${index}`)
          }
        }, signal)
      const photo = fixtures.dataUrl(await fixtures.photoLikeJpeg(1200, 900))
      await Promise.all([0, 1].map((i) => prepareImage(photo, `messages[0].content[${i}]`, images)))
      return { limit: slots.limit, events, peak }
    } finally {
      await closeApp(app)
    }
  }

  it('decodes two images one after the other with --decode-concurrency 1, side by side by default', async () => {
    expect(await decodeTwo({ 'decode-concurrency': 1 })).toEqual({ limit: 1, events: ['start 0', 'end 0', 'start 1', 'end 1'], peak: 1 })
    const byDefault = await decodeTwo({})
    // Which of two equal decodes ends first is up to the scheduler; that both began before either ended is not.
    expect({ ...byDefault, events: byDefault.events.slice(0, 2) }).toEqual({ limit: 2, events: ['start 0', 'start 1'], peak: 2 })
  })
})
