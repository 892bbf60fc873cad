import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { composeServer } from '../compose.js'
import { serveConfig } from '../config.js'
import type { StaticRoots } from './web-ui.js'
import { ScriptedEngine } from '../../../../test-support/scripted-engine.js'
import { repoRoot } from '../../../../test-support/paths.js'
import { closeApp } from '../../../../test-support/close-app.js'

let app: FastifyInstance | undefined
afterEach(async () => {
  await closeApp(app)
  app = undefined
})

async function setup(roots?: StaticRoots): Promise<FastifyInstance> {
  const composed = await composeServer(serveConfig({ 'api-key': 'secret' }), { engine: new ScriptedEngine(), ...(roots ? { staticRoots: roots } : {}) })
  app = composed.app
  return app
}

describe('the web page shipped in packages/webui', () => {
  it('serves the chat page on / as HTML that loads its script and stylesheet from /ui/', async () => {
    const app = await setup()
    const response = await app.inject({ method: 'GET', url: '/' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.headers['cache-control']).toBe('no-cache')
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.body).toContain('<script type="module" src="/ui/app.js"></script>')
    expect(response.body).toContain('href="/ui/style.css"')
    expect(response.body).toContain('data-i18n-placeholder="composer.defaultQuestion"')
  })

  it('keeps the page fit for a strict Content-Security-Policy: one inline script (the import map), no inline styles or handlers', async () => {
    const app = await setup()
    const html = (await app.inject({ method: 'GET', url: '/' })).body
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script type="importmap">', '<script type="module" src="/ui/app.js">'])
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/i)
    for (const file of [
      'app.js',
      'attachments.js',
      'clipboard.js',
      'code-dialog.js',
      'conversation.js',
      'elements.js',
      'estimate.js',
      'messages.js',
      'notice.js',
      'server-errors.js',
      'server-state.js',
      'settings.js',
      'state.js',
      'i18n.js',
      'markdown.js',
      'code-export.js',
      'status.js',
      'batches.js',
    ]) {
      const source = (await app.inject({ method: 'GET', url: `/ui/${file}` })).body
      expect(source, file).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/)
    }
  })

  it('sends a Content-Security-Policy that allows only the page itself, its import map by hash, and never framing', async () => {
    const app = await setup()
    const response = await app.inject({ method: 'GET', url: '/' })
    const policy = response.headers['content-security-policy'] as string
    const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(response.body)![1]!
    const hash = (await import('node:crypto')).createHash('sha256').update(importMap).digest('base64')
    expect(policy.split('; ')).toEqual(
      expect.arrayContaining(["default-src 'self'", `script-src 'self' 'sha256-${hash}'`, "img-src 'self' data: blob:", "connect-src 'self'", "frame-ancestors 'none'"]),
    )
    expect(policy).not.toMatch(/unsafe-inline|unsafe-eval|\*/)
    expect(response.headers['x-frame-options']).toBe('DENY')
  })

  it('serves the page without an API key even when the API requires one', async () => {
    const app = await setup()
    expect((await app.inject({ method: 'GET', url: '/ui/app.js' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401)
  })

  it('serves the script and stylesheet with JavaScript and CSS content types', async () => {
    const app = await setup()
    const script = await app.inject({ method: 'GET', url: '/ui/conversation.js' })
    expect(script.statusCode).toBe(200)
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(script.body).toContain("fetch('/v1/chat/completions'")
    const style = await app.inject({ method: 'GET', url: '/ui/style.css' })
    expect(style.statusCode).toBe(200)
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8')
  })

  it('serves the browser builds of the SDK and protocol that the import map names', async () => {
    const app = await setup()
    const page = (await app.inject({ method: 'GET', url: '/' })).body
    expect(page).toContain('"@visto/sdk": "/sdk/index.js"')
    expect(page).toContain('"@visto/protocol": "/protocol/index.js"')
    const sdk = await app.inject({ method: 'GET', url: '/sdk/index.js' })
    expect(sdk.statusCode).toBe(200)
    expect(sdk.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(sdk.body).toContain('createClient')
    const protocol = await app.inject({ method: 'GET', url: '/protocol/index.js' })
    expect(protocol.statusCode).toBe(200)
    expect(protocol.headers['content-type']).toBe('text/javascript; charset=utf-8')
    // The page reads its streams with the same SSE parser as the SDK and the engines.
    const sse = await app.inject({ method: 'GET', url: '/protocol/sse.js' })
    expect(sse.statusCode).toBe(200)
    expect(sse.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect(sse.body).toContain('export async function* readSseData')
  })

  it('serves the self-contained browser build of markdown-it that the import map names, from node_modules', async () => {
    const app = await setup()
    const page = (await app.inject({ method: 'GET', url: '/' })).body
    expect(page).toContain('"markdown-it": "/vendor/markdown-it/markdown-it.esm.min.mjs"')
    const response = await app.inject({ method: 'GET', url: '/vendor/markdown-it/markdown-it.esm.min.mjs' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8')
    const installed = createRequire(path.join(repoRoot, 'packages', 'webui', 'package.json')).resolve('markdown-it/browser')
    expect(response.body).toBe(readFileSync(path.join(path.dirname(installed), 'markdown-it.esm.min.mjs'), 'utf8'))
    // It imports nothing: the page's import map needs no entries for markdown-it's own dependencies.
    expect(response.body).not.toMatch(/^\s*import\b|\bimport\s*\(/m)
    expect(response.body).toMatch(/export\s*\{\s*\w+ as default\s*\}/)
  })

  it("serves from the page's folder only what a browser loads: its package.json, tsconfig.json, README and licence are 404", async () => {
    const app = await setup()
    for (const file of ['package.json', 'tsconfig.json', 'README.md', 'LICENSE']) {
      expect(existsSync(path.join(repoRoot, 'packages', 'webui', file)), file).toBe(true)
      const response = await app.inject({ method: 'GET', url: `/ui/${file}` })
      expect(response.statusCode, file).toBe(404)
      expect(response.json().error.code, file).toBe('file_not_found')
    }
    // Likewise markdown-it's folder offers its browser build, not its UMD twin or its manifest.
    for (const url of ['/vendor/markdown-it/markdown-it.umd.min.js', '/vendor/markdown-it/..%2f..%2fpackage.json']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(404)
    }
  })

  it('redirects /index.html to /', async () => {
    const app = await setup()
    const response = await app.inject({ method: 'GET', url: '/index.html' })
    expect(response.statusCode).toBe(301)
    expect(response.headers.location).toBe('/')
  })
})

describe('the static file handler', () => {
  let dir: string
  let roots: StaticRoots
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'visto-webui-'))
    const webui = path.join(dir, 'webui')
    mkdirSync(path.join(webui, 'nested'), { recursive: true })
    writeFileSync(path.join(webui, 'index.html'), '<!doctype html><title>fixture</title>')
    writeFileSync(path.join(webui, 'app.js'), 'export const fixture = 1\n')
    writeFileSync(path.join(webui, 'nested', 'chunk.js'), 'export const nested = 2\n')
    writeFileSync(path.join(webui, 'source.ts'), 'export const hidden = 3\n')
    writeFileSync(path.join(dir, 'secret.js'), 'export const secret = "outside the root"\n')
    symlinkSync(path.join(dir, 'secret.js'), path.join(webui, 'link-out.js'))
    symlinkSync(path.join(webui, 'app.js'), path.join(webui, 'link-in.js'))
    roots = { webui, sdk: path.join(dir, 'missing-sdk'), protocol: path.join(dir, 'missing-protocol'), markdownIt: path.join(dir, 'missing-markdown-it') }
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('serves files in nested folders', async () => {
    const app = await setup(roots)
    const response = await app.inject({ method: 'GET', url: '/ui/nested/chunk.js' })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe('export const nested = 2\n')
  })

  it.each([
    ['/ui/%2e%2e/secret.js', 'an encoded ../'],
    ['/ui/..%2fsecret.js', 'an encoded slash after ..'],
    ['/ui/nested/%2e%2e/%2e%2e/secret.js', 'two levels up from a subfolder'],
    ['/ui/%2fetc%2fpasswd', 'an absolute path'],
    ['/ui/link-out.js', 'a symlink pointing outside the root'],
    ['/ui/app.js%00.css', 'a NUL byte'],
  ])('refuses %s (%s) with the 404 error envelope', async (url) => {
    const app = await setup(roots)
    // With the key: a path the router leaves unmatched is guarded like any unknown route.
    const response = await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer secret' } })
    expect(response.statusCode).toBe(404)
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(response.json()).toEqual({
      error: { message: expect.stringMatching(/^No (file|route) /), type: 'not_found_error', param: null, code: expect.stringMatching(/^(file_not_found|unknown_route)$/) },
    })
    expect(response.body).not.toContain('outside the root')
  })

  it('follows a symlink that stays inside the root', async () => {
    const app = await setup(roots)
    const response = await app.inject({ method: 'GET', url: '/ui/link-in.js' })
    expect(response.statusCode).toBe(200)
    expect(response.body).toBe('export const fixture = 1\n')
  })

  it('answers 404 for missing files, folders, unlisted file types and a root that does not exist', async () => {
    const app = await setup(roots)
    for (const url of ['/ui/nope.js', '/ui/nested', '/ui/nested/', '/ui/', '/ui/source.ts', '/sdk/index.js']) {
      const response = await app.inject({ method: 'GET', url })
      expect(response.statusCode, url).toBe(404)
      expect(response.json().error.code, url).toBe('file_not_found')
    }
  })

  it('answers a matching If-None-Match with 304 and no body', async () => {
    const app = await setup(roots)
    const first = await app.inject({ method: 'GET', url: '/ui/app.js' })
    const etag = first.headers.etag as string
    expect(etag).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/)
    const second = await app.inject({ method: 'GET', url: '/ui/app.js', headers: { 'if-none-match': etag } })
    expect(second.statusCode).toBe(304)
    expect(second.body).toBe('')
  })

  it('answers HEAD with the headers of GET', async () => {
    const app = await setup(roots)
    const response = await app.inject({ method: 'HEAD', url: '/' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(response.body).toBe('')
  })
})
