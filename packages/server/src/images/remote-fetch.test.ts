import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as fixtures from '@visto/testkit/images/test-images'
import { failure } from '../../../../test-support/api-failure.js'
import { blockedReason } from './address-policy.js'
import { defaultImagePipelineOptions, prepareImage, type ImagePipelineOptions } from './pipeline.js'

const where = 'messages[0].content[0]'
let server: Server
let port: number
let png: Buffer
const seen: Array<{ path: string; host: string | undefined }> = []
const routes = new Map<string, (request: IncomingMessage, response: ServerResponse) => void>()

beforeAll(async () => {
  png = await fixtures.png(96, 64)
  routes.set('/cat.png', (_request, response) => response.writeHead(200, { 'content-type': 'image/png' }).end(png))
  routes.set('/hop1', (_request, response) => response.writeHead(302, { location: '/hop2' }).end())
  routes.set('/hop2', (_request, response) => response.writeHead(301, { location: `http://127.0.0.1:${port}/cat.png` }).end())
  routes.set('/to-ipv6-loopback', (_request, response) => response.writeHead(302, { location: `http://[::1]:${port}/cat.png` }).end())
  routes.set('/to-metadata', (_request, response) => response.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end())
  routes.set('/to-private-name', (_request, response) => response.writeHead(302, { location: `http://intranet.test:${port}/cat.png` }).end())
  routes.set('/to-file', (_request, response) => response.writeHead(302, { location: 'file:///etc/passwd' }).end())
  routes.set('/loop', (_request, response) => response.writeHead(302, { location: '/loop' }).end())
  routes.set('/missing', (_request, response) => response.writeHead(404).end('nope'))
  routes.set('/huge-declared', (_request, response) => response.writeHead(200, { 'content-length': String(50 * 1024 * 1024) }).end())
  routes.set('/huge-chunked', (_request, response) => {
    response.writeHead(200, { 'content-type': 'image/jpeg' })
    const chunk = Buffer.alloc(64 * 1024, 0xff)
    let sent = 0
    const pump = (): void => {
      while (sent < 64 && response.write(chunk)) sent++
      if (sent < 64) response.once('drain', pump)
      else response.end()
    }
    pump()
  })
  routes.set('/slow', () => {
    /* never answers */
  })
  routes.set('/svg-labelled-png', (_request, response) => response.writeHead(200, { 'content-type': 'image/png' }).end('<svg xmlns="http://www.w3.org/2000/svg"/>'))
  server = createServer((request, response) => {
    const path = request.url ?? '/'
    seen.push({ path, host: request.headers.host })
    const route = routes.get(path)
    if (route) route(request, response)
    else response.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})

/** Production policy except that our test server on 127.0.0.1 is reachable. */
function localOptions(remote: Partial<ImagePipelineOptions['remote']> = {}): ImagePipelineOptions {
  return {
    ...defaultImagePipelineOptions,
    allowRemote: true,
    remote: {
      ...defaultImagePipelineOptions.remote,
      timeoutMs: 2000,
      addressPolicy: (address) => (address === '127.0.0.1' ? null : blockedReason(address)),
      resolve: async (hostname) => {
        if (hostname === 'images.test') return [{ address: '127.0.0.1', family: 4 }]
        if (hostname === 'intranet.test') return [{ address: '10.1.2.3', family: 4 }]
        if (hostname === 'mixed.test')
          return [
            { address: '127.0.0.1', family: 4 },
            { address: '192.168.0.7', family: 4 },
          ]
        throw new Error('ENOTFOUND')
      },
      ...remote,
    },
  }
}

describe('remote image URLs', () => {
  it('refuses loopback with the production guard, before sending any request', async () => {
    const before = seen.length
    const production = { ...defaultImagePipelineOptions, allowRemote: true }
    const error = await failure(prepareImage(`http://127.0.0.1:${port}/cat.png`, where, production))
    expect(error.status).toBe(400)
    expect(error.code).toBe('remote_image_forbidden')
    expect(error.message).toBe(`Invalid image data in messages[0].content[0]: refusing to fetch 127.0.0.1:${port}: image URLs must point to a public internet address`)
    expect((error.cause as Error).message).toBe(`127.0.0.1:${port} resolves to 127.0.0.1, a loopback address`)
    const named = await failure(prepareImage(`http://localhost:${port}/cat.png`, where, production))
    expect(named.message).toBe(`Invalid image data in messages[0].content[0]: refusing to fetch localhost:${port}: image URLs must point to a public internet address`)
    expect((named.cause as Error).message).toMatch(/^localhost:\d+ resolves to (127\.0\.0\.1|::1), a loopback address$/)
    const mapped = await failure(prepareImage(`http://[::ffff:127.0.0.1]:${port}/cat.png`, where, production))
    expect(mapped.code).toBe('remote_image_forbidden')
    expect(seen.length).toBe(before)
  })

  it('fetches, sniffs and normalises an allowed image', async () => {
    const image = await prepareImage(`http://127.0.0.1:${port}/cat.png`, where, localOptions())
    expect(image).toMatchObject({ sourceFormat: 'png', sourceWidth: 96, sourceHeight: 64 })
  })

  it('connects to the address it checked, keeping the hostname for the Host header', async () => {
    const image = await prepareImage(`http://images.test:${port}/cat.png`, where, localOptions())
    expect(image.sourceFormat).toBe('png')
    expect(seen.at(-1)).toEqual({ path: '/cat.png', host: `images.test:${port}` })
  })

  it('refuses a host when any of its addresses is private', async () => {
    const error = await failure(prepareImage(`http://mixed.test:${port}/cat.png`, where, localOptions()))
    expect(error.message).toBe(`Invalid image data in messages[0].content[0]: refusing to fetch mixed.test:${port}: image URLs must point to a public internet address`)
    expect(error.message).not.toContain('192.168')
    expect((error.cause as Error).message).toBe(`mixed.test:${port} resolves to 192.168.0.7, a private address`)
  })

  it('follows redirects, checking every hop', async () => {
    const image = await prepareImage(`http://127.0.0.1:${port}/hop1`, where, localOptions())
    expect(image.sourceFormat).toBe('png')
  })

  it.each([
    ['/to-ipv6-loopback', /refusing to fetch \[::1\]:\d+: image URLs must point to a public internet address$/],
    ['/to-metadata', /refusing to fetch 169\.254\.169\.254: image URLs must point to a public internet address$/],
    ['/to-private-name', /refusing to fetch intranet\.test:\d+: image URLs must point to a public internet address$/],
    ['/to-file', /redirected to an unsupported scheme "file:"$/],
    ['/loop', /took more than 3 redirects$/],
  ])('refuses the redirect %s', async (path, message) => {
    const error = await failure(prepareImage(`http://127.0.0.1:${port}${path}`, where, localOptions()))
    expect(error.status).toBe(400)
    expect(error.message).toMatch(message)
  })

  it('keeps the internal address a refused redirect resolved to out of the message, in the cause for the log', async () => {
    const error = await failure(prepareImage(`http://127.0.0.1:${port}/to-private-name`, where, localOptions()))
    expect(error.message).not.toContain('10.1.2.3')
    expect(error.message).not.toContain('private')
    expect((error.cause as Error).message).toBe(`intranet.test:${port} resolves to 10.1.2.3, a private address`)
  })

  it('reports the HTTP status of a failed fetch', async () => {
    const error = await failure(prepareImage(`http://127.0.0.1:${port}/missing`, where, localOptions()))
    expect(error.message).toBe(`Invalid image data in messages[0].content[0]: fetching the image from 127.0.0.1:${port} failed: the server answered HTTP 404`)
  })

  it('answers 413 when the declared or streamed size passes the cap', async () => {
    const declared = await failure(prepareImage(`http://127.0.0.1:${port}/huge-declared`, where, localOptions({ maxBytes: 1024 * 1024 })))
    expect(declared.status).toBe(413)
    expect(declared.message).toMatch(/over the limit of 1 MiB/)
    const streamed = await failure(prepareImage(`http://127.0.0.1:${port}/huge-chunked`, where, localOptions({ maxBytes: 1024 * 1024 })))
    expect(streamed.status).toBe(413)
  })

  it('gives up after the time limit', async () => {
    const started = Date.now()
    const error = await failure(prepareImage(`http://127.0.0.1:${port}/slow`, where, localOptions({ timeoutMs: 200 })))
    expect(Date.now() - started).toBeLessThan(2000)
    expect(error.message).toBe(`Invalid image data in messages[0].content[0]: fetching the image from 127.0.0.1:${port} timed out after 200 ms`)
  })

  it('reports a host that does not resolve', async () => {
    const error = await failure(prepareImage('http://nowhere.test/cat.png', where, localOptions()))
    expect(error.message).toBe('Invalid image data in messages[0].content[0]: could not resolve the host nowhere.test')
  })

  it('sniffs fetched bytes like inline ones, ignoring the Content-Type', async () => {
    const error = await failure(prepareImage(`http://127.0.0.1:${port}/svg-labelled-png`, where, localOptions()))
    expect(error.message).toMatch(/unsupported image format: SVG/)
  })
})
