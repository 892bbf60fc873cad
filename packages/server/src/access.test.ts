import { rawExchange } from '../../../test-support/raw-http.js'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ScriptedEngine } from '../../../test-support/scripted-engine.js'
import { createHttpApp } from './app.js'
import { composeServer } from './compose.js'
import { serveConfig, type ServeOptionName } from './config.js'
import { registerRoutes } from './routes/route-table.js'
import type { ImagePreparer } from './serving/chat-completions.js'
import { freshDataDir } from '../../../test-support/data-dir.js'
import { listRoutes } from '../../../test-support/route-list.js'
import { closeApp } from '../../../test-support/close-app.js'

const KEY = 'sk-visto-access-test'
const placeholderImage: ImagePreparer = async () => ({ data: Buffer.from('png'), mime: 'image/png', width: 32, height: 32 })
const chatBody = { messages: [{ role: 'user', content: 'Hello?' }], max_tokens: 4 }

/**
 * The routes that need no key. Anything else a server registers is guarded; adding a
 * public route means adding it here, on purpose.
 */
const PUBLIC_ROUTES = new Set([
  'GET /',
  'HEAD /',
  'GET /index.html',
  'HEAD /index.html',
  'GET /ui/*',
  'HEAD /ui/*',
  'GET /sdk/*',
  'HEAD /sdk/*',
  'GET /protocol/*',
  'HEAD /protocol/*',
  'GET /vendor/markdown-it/*',
  'HEAD /vendor/markdown-it/*',
  'GET /health',
  'HEAD /health',
  'OPTIONS *',
])

let apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.map((app) => closeApp(app)))
  apps = []
})

async function compose(options: Partial<Record<ServeOptionName, string | number | boolean>> = {}, data?: { dir: string }) {
  const engine = new ScriptedEngine()
  const composed = await composeServer(serveConfig({ 'api-key': KEY, ...options }), { engine, prepareImage: placeholderImage, ...(data ? { data } : {}) })
  const { app } = composed
  apps.push(app)
  if (composed.dataDir) app.addHook('onClose', async () => composed.dataDir?.close())
  await app.ready()
  return { app, engine, routes: listRoutes(app, composed.routes) }
}

/** A concrete path for a route pattern: wildcards and params get a value that exists. */
function concretePath(url: string): string {
  return url.replace(/\*$/, 'app.js').replace(/:(\w+)/g, 'example_$1')
}

/** Spellings of one path that must reach the same route, and so the same decision. */
function spellings(path: string): Array<[string, string]> {
  const variants: Array<[string, string]> = [['plain', path]]
  const firstLetter = /[a-z]/i.exec(path)
  if (firstLetter) {
    const i = firstLetter.index
    variants.push(['percent-encoded', `${path.slice(0, i)}%${path.charCodeAt(i).toString(16)}${path.slice(i + 1)}`])
    variants.push([
      'upper-case',
      path
        .toUpperCase()
        .replace(/\/UI\/APP\.JS$/, '/UI/app.js')
        .replace(/\/SDK\/APP\.JS$/, '/SDK/app.js')
        .replace(/\/PROTOCOL\/APP\.JS$/, '/PROTOCOL/app.js'),
    ])
  }
  variants.push(['doubled-slash', path === '/' ? '//' : path.replace(/\//g, '//')])
  return variants
}

/** The key goes as OpenAI's clients send it or as Anthropic's do (`x-api-key`), on every route alike. */
const credentials = [
  ['no key', {}],
  ['a wrong key', { authorization: 'Bearer sk-wrong-key-of-other-length' }],
  ['a wrong x-api-key', { 'x-api-key': 'sk-wrong-key-of-other-length' }],
  ['the right key', { authorization: `Bearer ${KEY}` }],
  ['the right key as x-api-key', { 'x-api-key': KEY }],
] as const
const presentsTheKey = (who: string): boolean => who.startsWith('the right key')

/** Routes that answer in Anthropic's error shape, their 401 included. */

describe('one access rule, decided on the matched route', () => {
  it('refuses to register a route that declares neither public nor guarded', async () => {
    const app = createHttpApp({ bodyLimitBytes: 1024, access: { corsOrigins: [], allowedHosts: [], checkHost: false } })
    apps.push(app)
    expect(() => app.get('/v1/undeclared', async () => 'open')).toThrow(/must declare \{ config: \{ access/)
  })

  it('refuses to register a route outside the route table, declared or not', async () => {
    const app = createHttpApp({ bodyLimitBytes: 1024, access: { corsOrigins: [], allowedHosts: [], checkHost: false } })
    apps.push(app)
    await registerRoutes(app, [])
    expect(() => app.get('/v1/elsewhere', { config: { access: 'guarded' } }, async () => 'hidden')).toThrow(/GET \/v1\/elsewhere is not in the route table/)
  })

  it('guards every registered route except the declared public allow-list', async () => {
    const { routes: table } = await compose()
    const routes = table.map((route) => ({ key: `${route.method} ${route.url}`, access: route.access }))
    expect(routes.length).toBeGreaterThan(10)
    for (const { key, access } of routes) expect(`${key} → ${access}`).toBe(`${key} → ${PUBLIC_ROUTES.has(key) ? 'public' : 'guarded'}`)
    // The API and its aliases are among the guarded ones.
    for (const key of [
      'POST /v1/chat/completions',
      'POST /chat/completions',
      'GET /v1/models',
      'GET /models',
      'POST /v1/images/describe',
      'POST /images/describe',
      'GET /v1/health',
      'POST /v1/responses',
      'POST /responses',
      'GET /v1/responses/:response_id',
      'DELETE /v1/responses/:response_id',
      'GET /v1/responses/:response_id/input_items',
      'POST /v1/messages',
      'POST /v1/messages/count_tokens',
    ]) {
      expect(routes).toContainEqual({ key, access: 'guarded' })
    }
    // Ollama's API, and the 404 for the rest of its paths.
    for (const key of ['POST /api/chat', 'POST /api/generate', 'GET /api/tags', 'POST /api/show', 'GET /api/ps', 'GET /api/version', 'POST /api/*']) {
      expect(routes).toContainEqual({ key, access: 'guarded' })
    }
  })

  it('applies that decision to every route × {no key, wrong key, right key} × {plain, percent-encoded, upper-case, doubled-slash}', async () => {
    const { app, routes } = await compose()
    const failures: string[] = []
    let checked = 0
    for (const route of routes) {
      if (route.method === 'OPTIONS') continue // preflights carry no credentials by definition; tested below
      for (const [spelling, path] of spellings(concretePath(route.url))) {
        for (const [who, headers] of credentials) {
          const response = await app.inject({
            method: route.method as 'GET',
            url: path,
            headers: { ...headers, 'content-type': 'application/json' },
            ...(route.method === 'POST' ? { payload: JSON.stringify(chatBody) } : {}),
          })
          checked++
          const refused = response.statusCode === 401
          const shouldRefuse = route.access === 'guarded' && !presentsTheKey(who)
          if (refused !== shouldRefuse) failures.push(`${route.method} ${path} (${spelling}) with ${who}: ${response.statusCode}`)
          if (refused && route.method !== 'HEAD') {
            // Each API refuses in its own error shape (Ollama's: the message alone).
            if (route.errorFormat === 'ollama')
              expect(response.json()).toEqual({ error: 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".' })
            else if (route.errorFormat === 'anthropic') {
              expect(response.json()).toEqual({
                type: 'error',
                error: { type: 'authentication_error', message: expect.stringContaining('x-api-key') },
                request_id: expect.any(String),
              })
            } else expect(response.json().error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' })
          }
        }
      }
    }
    expect(failures).toEqual([])
    expect(checked).toBeGreaterThan(100)
  })

  it('guards the Files and Batch routes of a server with its own data directory the same way', async () => {
    const { app, routes } = await compose({}, { dir: freshDataDir() })
    for (const route of routes)
      expect(`${route.method} ${route.url} → ${route.access}`).toBe(`${route.method} ${route.url} → ${PUBLIC_ROUTES.has(`${route.method} ${route.url}`) ? 'public' : 'guarded'}`)
    const dataRoutes = routes.filter((route) => /^\/v1\/(files|batches|responses)\b/.test(route.url))
    expect(dataRoutes.map((route) => `${route.method} ${route.url}`)).toContain('DELETE /v1/files/:file_id')
    expect(dataRoutes.map((route) => `${route.method} ${route.url}`)).toContain('GET /v1/responses/:response_id/input_items')
    const failures: string[] = []
    for (const route of dataRoutes) {
      for (const [who, headers] of credentials) {
        const response = await app.inject({
          method: route.method as 'GET',
          url: concretePath(route.url),
          headers: { ...headers, 'content-type': 'application/json' },
          ...(route.method === 'POST' ? { payload: '{}' } : {}),
        })
        if ((response.statusCode === 401) !== !presentsTheKey(who)) failures.push(`${route.method} ${route.url} with ${who}: ${response.statusCode}`)
      }
    }
    expect(failures).toEqual([])
  })

  it('runs the model for none of the refused spellings of the chat route', async () => {
    const { app, engine } = await compose()
    for (const url of ['/v1/chat/completions', '/chat/completions', '/%761/chat/completions', '//v1//chat//completions', '/V1/CHAT/COMPLETIONS', '/v1/chat/completions/']) {
      const response = await app.inject({ method: 'POST', url, payload: chatBody })
      expect([401, 404], `${url}: ${response.statusCode}`).toContain(response.statusCode)
    }
    expect(engine.requests).toHaveLength(0)
    const answered = await app.inject({ method: 'POST', url: '/%761/chat/completions', headers: { authorization: `Bearer ${KEY}` }, payload: chatBody })
    expect(answered.statusCode).toBe(200)
    expect(engine.requests).toHaveLength(1)
  })

  it("answers the Anthropic routes' refusals in Anthropic's shape: 401 without the key, 403 for another origin, and runs nothing", async () => {
    const { app, engine } = await compose()
    const body = { model: 'qwen3-vl-4b-instruct', max_tokens: 4, messages: [{ role: 'user', content: 'Hello?' }] }
    const noKey = await app.inject({ method: 'POST', url: '/v1/messages', headers: { 'anthropic-version': '2023-06-01' }, payload: body })
    expect(noKey.statusCode).toBe(401)
    expect(noKey.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'Missing or invalid API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".' },
      request_id: noKey.headers['x-request-id'],
    })
    const foreign = await app.inject({ method: 'POST', url: '/v1/messages', headers: { 'x-api-key': KEY, host: '127.0.0.1:7860', origin: 'https://evil.example' }, payload: body })
    expect(foreign.statusCode).toBe(403)
    expect(foreign.json()).toMatchObject({ type: 'error', error: { type: 'permission_error', message: expect.stringContaining('--cors-origins') } })
    expect(engine.requests).toHaveLength(0)
    const answered = await app.inject({ method: 'POST', url: '/v1/messages', headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' }, payload: body })
    expect(answered.statusCode).toBe(200)
    expect(engine.requests).toHaveLength(1)
  })

  it('treats an unknown path as guarded: 401 without the key, 404 with it', async () => {
    const { app } = await compose()
    expect((await app.inject({ method: 'GET', url: '/v1/secret-plans' })).statusCode).toBe(401)
    expect((await app.inject({ method: 'GET', url: '/v1/secret-plans', headers: { authorization: `Bearer ${KEY}` } })).statusCode).toBe(404)
  })

  it('needs no key anywhere when none is configured', async () => {
    const engine = new ScriptedEngine()
    const { app } = await composeServer(serveConfig(), { engine, prepareImage: placeholderImage })
    apps.push(app)
    expect((await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: chatBody })).statusCode).toBe(200)
  })

  it('reveals only status and progress on the public /health; details need the key', async () => {
    const { app, engine } = await compose()
    engine.currentState = { status: 'unavailable', message: 'upstream http://10.0.0.5:8000/v1 unreachable' }
    const open = await app.inject({ method: 'GET', url: '/health' })
    expect(open.statusCode).toBe(503)
    expect(open.json()).toEqual({ status: 'unavailable' })
    const detailed = await app.inject({ method: 'GET', url: '/v1/health', headers: { authorization: `Bearer ${KEY}` } })
    expect(detailed.json()).toMatchObject({ status: 'unavailable', message: expect.stringContaining('unreachable'), running: 0, queued: 0 })
  })
})

describe('other web pages and DNS rebinding', () => {
  const post = (app: FastifyInstance, headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { 'content-type': 'text/plain', ...headers }, payload: JSON.stringify(chatBody) })

  it("refuses another origin's simple text/plain POST with 403 before any work", async () => {
    const { app, engine } = await compose()
    const response = await post(app, { host: '127.0.0.1:7860', origin: 'http://127.0.0.1:8080', authorization: `Bearer ${KEY}` })
    expect(response.statusCode).toBe(403)
    expect(response.json().error).toMatchObject({ type: 'permission_error', code: 'origin_not_allowed', message: expect.stringContaining('--cors-origins') })
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    expect(engine.requests).toHaveLength(0)
  })

  it('refuses foreign origins without a key configured too (the default setup)', async () => {
    const engine = new ScriptedEngine()
    const { app } = await composeServer(serveConfig(), { engine, prepareImage: placeholderImage })
    apps.push(app)
    for (const origin of ['https://evil.example', 'null', 'http://localhost.evil.example:7860', 'file://']) {
      const response = await post(app, { host: 'localhost:7860', origin })
      expect(response.statusCode, origin).toBe(403)
    }
    expect(engine.requests).toHaveLength(0)
  })

  it("answers the server's own origin, and an origin listed in --cors-origins with that origin only", async () => {
    const { app } = await compose({ 'cors-origins': 'https://app.example.com, http://localhost:3000' })
    const auth = { authorization: `Bearer ${KEY}` }
    const own = await post(app, { ...auth, host: 'localhost:7860', origin: 'http://localhost:7860' })
    expect(own.statusCode).toBe(200)
    const listed = await post(app, { ...auth, host: '127.0.0.1:7860', origin: 'https://app.example.com' })
    expect(listed.statusCode).toBe(200)
    expect(listed.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(listed.headers.vary).toMatch(/Origin/)
    expect(listed.headers['access-control-expose-headers']).toContain('x-request-id')
    const unlisted = await post(app, { ...auth, host: '127.0.0.1:7860', origin: 'https://app.example.com.evil.example' })
    expect(unlisted.statusCode).toBe(403)
  })

  it('answers preflights for allowed origins with the usual CORS headers, and refuses others', async () => {
    const { app } = await compose({ 'cors-origins': 'http://localhost:3000' })
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/v1/chat/completions',
        headers: { host: '127.0.0.1:7860', origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      })
    const allowed = await preflight('http://localhost:3000')
    expect(allowed.statusCode).toBe(204)
    expect(allowed.headers).toMatchObject({
      'access-control-allow-origin': 'http://localhost:3000',
      'access-control-allow-methods': expect.stringContaining('POST'),
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': expect.any(String),
    })
    const refused = await preflight('http://localhost:3001')
    expect(refused.statusCode).toBe(403)
    expect(refused.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('answers any origin with * (never by reflecting it) when --cors-origins is *', async () => {
    const { app } = await compose({ 'cors-origins': '*' })
    const response = await post(app, { authorization: `Bearer ${KEY}`, host: '127.0.0.1:7860', origin: 'https://anywhere.example' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['access-control-allow-origin']).toBe('*')
  })

  it('refuses a Host that is not a loopback name when bound to loopback (DNS rebinding), unless listed in --allowed-hosts', async () => {
    const { app, engine } = await compose()
    const auth = { authorization: `Bearer ${KEY}` }
    // A rebinding page is "same-origin" with itself: its Origin matches its Host.
    const rebound = await post(app, { ...auth, host: 'attacker.example:7860', origin: 'http://attacker.example:7860' })
    expect(rebound.statusCode).toBe(403)
    expect(rebound.json().error).toMatchObject({ code: 'host_not_allowed', message: expect.stringContaining('--allowed-hosts') })
    expect((await app.inject({ method: 'GET', url: '/', headers: { host: 'attacker.example:7860' } })).statusCode).toBe(403)
    for (const host of ['localhost:7860', '127.0.0.1:7860', '127.1.2.3', '[::1]:7860', 'visto.localhost:7860']) {
      expect((await post(app, { ...auth, host })).statusCode, host).toBe(200)
    }
    expect(engine.requests).toHaveLength(5)

    const { app: proxied } = await compose({ 'allowed-hosts': 'visto.internal' })
    expect((await post(proxied, { ...auth, host: 'visto.internal' })).statusCode).toBe(200)
    expect((await post(proxied, { ...auth, host: 'other.internal' })).statusCode).toBe(403)
  })

  it('leaves Host alone when bound to all interfaces without --allowed-hosts', async () => {
    const { app } = await compose({ host: '0.0.0.0' })
    expect((await post(app, { authorization: `Bearer ${KEY}`, host: '192.168.1.20:7860' })).statusCode).toBe(200)
  })

  it('refuses an unparseable --cors-origins at start-up', () => {
    expect(() => serveConfig({ 'cors-origins': 'not an origin' })).toThrow(/--cors-origins: not an origin/)
  })
})

describe('Host header and request-target form, on the wire', () => {
  it('answers 400 in the envelope, with x-request-id, to a Host that is not one well-formed host[:port]', async () => {
    // Bound to all interfaces, no key: well-formedness is checked even where the loopback rule is off.
    const { app } = await compose({ 'api-key': undefined as unknown as string, host: '0.0.0.0' })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const cases: Array<[string, string]> = [
      ['Host: evil@127.0.0.1\r\n', '"evil@127.0.0.1" is not host[:port]'],
      ['Host: 127.0.0.1:7990/x\r\n', '"127.0.0.1:7990/x" is not host[:port]'],
      ['Host: 127.0.0.1\r\nHost: evil.example\r\n', 'it was sent 2 times'],
      ['Host: 127.0.0.1:99999\r\n', '"127.0.0.1:99999" is not host[:port]'],
      ['Host: \r\n', 'it is empty'],
    ]
    for (const [hostLines, problem] of cases) {
      const response = await rawExchange(port, `GET /health HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`)
      expect(response.status, hostLines).toBe('HTTP/1.1 400 Bad Request')
      expect(response.headers, hostLines).toMatch(/\r\nx-request-id: req_[0-9a-f]{24}/)
      expect(JSON.parse(response.body), hostLines).toEqual({
        error: { message: `Malformed Host header: ${problem}; send one Host: name[:port]`, type: 'invalid_request_error', param: 'host', code: 'invalid_host_header' },
      })
    }
    for (const host of ['127.0.0.1:7860', 'localhost', '[::1]:7860', 'visto.internal:443', '192.168.1.20']) {
      expect((await rawExchange(port, `GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).status, host).toBe('HTTP/1.1 200 OK')
    }
  })

  it('answers GET * with a 400 envelope instead of the page, and still answers OPTIONS *', async () => {
    const { app } = await compose()
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    const star = await rawExchange(port, 'GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    expect(star.status).toBe('HTTP/1.1 400 Bad Request')
    expect(star.headers).toMatch(/\r\nx-request-id: req_/)
    expect(JSON.parse(star.body)).toEqual({
      error: {
        message: 'GET * is not a request for anything: "*" is a request target for OPTIONS only',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_request_target',
      },
    })
    expect((await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status).toBe('HTTP/1.1 204 No Content')
  })
})
