import { timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { AuthenticationError, InvalidRequestError, PermissionDeniedError } from './errors.js'

/**
 * Who may call what, decided once per request on the route the router matched (so
 * `/chat/completions`, `/%761/chat/completions`, `//v1/chat/completions` and
 * `/V1/Chat/Completions` all reach the decision of the route they resolve to).
 *
 * - `guarded`: needs the API key when one is configured. The default for anything that
 *   runs the model, reads server state or touches user data.
 * - `public`: the web page's files and a liveness probe that reveals nothing.
 *
 * Every route declares one or the other in the route table (routes/route-table.ts, which
 * puts it in the route's `{ config: { access } }`); registering a route without it
 * throws, so a new route cannot be left open by accident.
 * Requests that match no route are treated as guarded.
 *
 * Before the key, two browser-facing checks run on every request, public or not:
 * the Host header (DNS rebinding: a hostile name resolving to 127.0.0.1 must not reach a
 * loopback-bound server) and the Origin header (another web page the user visits must
 * not be able to drive the server, even with a "simple" text/plain POST that skips
 * preflight).
 */
export type RouteAccess = 'public' | 'guarded'

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess
  }
}

export interface AccessOptions {
  apiKey?: string | undefined
  /** Origins (scheme://host[:port]) allowed to call cross-origin, or `*` for any. */
  corsOrigins: readonly string[]
  /** Extra Host names accepted besides loopback ones (reverse proxies, LAN names). */
  allowedHosts: readonly string[]
  /** Whether the Host header is checked at all: on for loopback binds and whenever allowedHosts is set. */
  checkHost: boolean
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', 'ip6-localhost', 'ip6-loopback'])

/** `localhost`, `*.localhost` (browsers resolve these to loopback themselves), 127.0.0.0/8 and ::1. */
export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, '')
  if (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || name.endsWith('.localhost.')) return true
  if (isIP(name) === 4) return name.startsWith('127.')
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(name)
  return false
}

/** Whether binding to `host` exposes the server only to this machine. */
export function isLoopbackBind(host: string): boolean {
  return isLoopbackHostname(host)
}

/** The host part of a Host header (`name:port`, `[v6]:port`), lower-cased; undefined when malformed. */
export function hostnameOf(hostHeader: string): string | undefined {
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase()
  } catch {
    return undefined
  }
}

/** `scheme://host[:port]` in the form browsers send, or undefined for `null` and garbage. */
export function normaliseOrigin(origin: string): string | undefined {
  if (origin === '*') return '*'
  try {
    const url = new URL(origin)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
    return url.origin
  } catch {
    return undefined
  }
}

export function parseOriginList(raw: string | undefined): string[] {
  if (!raw) return []
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((origin) => {
      const normalised = normaliseOrigin(origin)
      if (normalised === undefined) throw new Error(`not an origin: "${origin}" (expected scheme://host[:port] or *)`)
      return normalised
    })
}

export function parseHostList(raw: string | undefined): string[] {
  if (!raw) return []
  return raw
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
}

/** One host[:port]: a name or IPv4 address, or a bracketed IPv6 address; a port of 1–5 digits. */
const HOST_HEADER = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?$/

/**
 * Why a request's Host headers are malformed, or undefined when there is at most one well-formed
 * one. Node keeps only the first of several Host lines, so they are counted in the raw headers;
 * userinfo (`evil@127.0.0.1`), a path (`127.0.0.1:7990/x`) or an empty value would otherwise
 * reach the loopback check through URL parsing that reads them leniently.
 */
export function hostHeaderProblem(rawHeaders: readonly string[]): string | undefined {
  const values: string[] = []
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') values.push(rawHeaders[i + 1]!)
  if (values.length > 1) return `it was sent ${values.length} times`
  if (values.length === 0) return undefined
  const value = values[0]!
  if (value === '') return 'it is empty'
  const match = HOST_HEADER.exec(value)
  if (match === null || (match[1] !== undefined && Number(match[1]) > 65535)) return `${JSON.stringify(value.slice(0, 100))} is not host[:port]`
  return undefined
}

function sameKey(presented: string, apiKey: string): boolean {
  const given = Buffer.from(presented)
  const expected = Buffer.from(apiKey)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * The key as `Authorization: Bearer <key>` (OpenAI's clients) or `x-api-key: <key>`
 * (Anthropic's), on every guarded route alike: one rule, whatever API a route speaks.
 */
function keyMatches(headers: FastifyRequest['headers'], apiKey: string): boolean {
  const authorization = headers.authorization ?? ''
  const bearer = /^bearer /i.test(authorization) ? authorization.slice(7).trim() : ''
  const xApiKey = headers['x-api-key']
  return sameKey(bearer, apiKey) || (typeof xApiKey === 'string' && sameKey(xApiKey.trim(), apiKey))
}

const EXPOSED_HEADERS = 'x-request-id, retry-after, x-visto-cache'
const PREFLIGHT_MAX_AGE_SECONDS = '600'

/** Installs the rule on `app`: declaration check on registration, Host/Origin/key on every request, CORS headers. */
export function installAccessControl(app: FastifyInstance, options: AccessOptions): void {
  const anyOrigin = options.corsOrigins.includes('*')
  const allowedOrigins = new Set(options.corsOrigins)
  const allowedHosts = new Set(options.allowedHosts)

  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access
    if (access !== 'public' && access !== 'guarded') {
      throw new Error(`Route ${String(route.method)} ${route.url} must declare { config: { access: 'public' | 'guarded' } }`)
    }
  })

  /** The origin a cross-origin caller may be answered with, or undefined when it may not call. */
  const allowedOrigin = (request: FastifyRequest, origin: string): string | undefined => {
    const normalised = normaliseOrigin(origin)
    if (normalised === undefined) return anyOrigin ? '*' : undefined
    // Same origin: the page's own address. Host was already checked, so a rebinding name cannot pass here.
    const host = request.headers.host
    if (host !== undefined && new URL(normalised).host === new URL(`http://${host}`).host) return normalised
    if (anyOrigin) return '*'
    return allowedOrigins.has(normalised) ? normalised : undefined
  }

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const hostProblem = hostHeaderProblem(request.raw.rawHeaders)
    if (hostProblem !== undefined) {
      throw new InvalidRequestError(`Malformed Host header: ${hostProblem}; send one Host: name[:port]`, { param: 'host', code: 'invalid_host_header' })
    }
    // HTTP/1.1 requires one (RFC 9112 §3.2); HTTP/1.0 clients may send none.
    if (request.headers.host === undefined && request.raw.httpVersion !== '1.0') {
      throw new InvalidRequestError('Missing Host header: an HTTP/1.1 request must carry one; send Host: name[:port]', { param: 'host', code: 'invalid_host_header' })
    }
    // The asterisk request target (`GET * HTTP/1.1`) means the server itself, for OPTIONS only.
    if (request.raw.url === '*' && request.method !== 'OPTIONS') {
      throw new InvalidRequestError(`${request.method} * is not a request for anything: "*" is a request target for OPTIONS only`, { param: null, code: 'invalid_request_target' })
    }
    if (options.checkHost) {
      const host = request.headers.host
      const hostname = host === undefined ? undefined : hostnameOf(host)
      // HTTP/1.0 clients may send no Host at all; browsers always do.
      if (host !== undefined && (hostname === undefined || !(isLoopbackHostname(hostname) || allowedHosts.has(hostname)))) {
        throw new PermissionDeniedError(
          `Host "${host.slice(0, 100)}" is not allowed: this server answers to loopback names only. Add the name to --allowed-hosts (VISTO_ALLOWED_HOSTS) to serve it.`,
          { code: 'host_not_allowed' },
        )
      }
    }
    const origin = request.headers.origin
    if (origin !== undefined) {
      const allowed = allowedOrigin(request, origin)
      if (allowed === undefined) {
        throw new PermissionDeniedError(
          `Cross-origin requests from ${JSON.stringify(origin.slice(0, 200))} are not allowed. Add the origin to --cors-origins (VISTO_CORS_ORIGINS) to allow it.`,
          { code: 'origin_not_allowed' },
        )
      }
      reply.header('access-control-allow-origin', allowed)
      reply.header('vary', 'Origin')
      reply.header('access-control-expose-headers', EXPOSED_HEADERS)
    }
    const access = request.routeOptions.config?.access ?? 'guarded'
    if (access === 'guarded' && options.apiKey !== undefined && !keyMatches(request.headers, options.apiKey)) {
      // A preflight never carries credentials; it is answered (for allowed origins) below.
      if (!(request.method === 'OPTIONS' && origin !== undefined)) throw new AuthenticationError()
    }
  })
}

/** `OPTIONS *`, the CORS preflight for every path; only allowed origins reach it (the access hook refused the rest). */
export async function answerPreflight(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (request.headers.origin === undefined || request.headers['access-control-request-method'] === undefined) {
    return reply.code(204).header('allow', 'GET, POST, DELETE, OPTIONS').send()
  }
  const requestedHeaders = request.headers['access-control-request-headers']
  return reply
    .code(204)
    .header('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS')
    .header('access-control-allow-headers', typeof requestedHeaders === 'string' ? requestedHeaders : 'authorization, content-type')
    .header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS)
    .send()
}
