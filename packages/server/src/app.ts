import { pipeline, Transform } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { installAccessControl, type AccessOptions } from './access.js'
import { InvalidRequestError, NotFoundError } from './errors.js'
import { bodyTooLarge, isBodyLimitError, newRequestId, sendClientError, sendError, sendFrameworkError } from './http-errors.js'
import { defaultMaxJsonDepth, JsonDepthScanner, jsonDepthExcess } from './serving/json-depth.js'

export interface HttpAppOptions {
  bodyLimitBytes: number
  /** Receiving one request (headers and body) may take this long; 0 = no limit. Generation is never limited. */
  bodyTimeoutMs?: number
  access: AccessOptions
  /** Deepest nesting of objects and arrays a JSON body may have (--max-json-depth), checked before parsing. */
  maxJsonDepth?: number
  logger?: FastifyServerOptions['logger']
}

const defaultBodyTimeoutMs = 300_000

/** Bodies parsed as JSON, whatever their declared type (see the parser below). */
const jsonBodyTypes = ['application/json', 'text/plain', 'application/x-www-form-urlencoded']

const REQUEST_ID = /^[\w.:-]{1,128}$/

declare module 'fastify' {
  interface FastifyInstance {
    /** Responses not yet fully written (streams included): what a graceful shutdown waits for. */
    inFlight: { count: number }
  }
}

/**
 * The HTTP shell every route lives in: body parsing, request ids, the access rule, and
 * the one error handler. It has no routes of its own; compose.ts registers them.
 */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const bodyTimeoutMs = options.bodyTimeoutMs ?? defaultBodyTimeoutMs
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId()
    },
    // One route per path whatever its spelling, so the access rule sees one decision:
    // `/V1/Models` and `//v1//models` are `/v1/models` (percent-decoding is the router's own).
    routerOptions: { caseSensitive: false, ignoreDuplicateSlashes: true },
    // Node's requestTimeout covers receiving the request only (it stops once the body has
    // arrived), so a slow upload is cut while a generation of many minutes is not.
    requestTimeout: bodyTimeoutMs,
    http: {
      // Node checks for expired requests on this interval (30 s by default).
      connectionsCheckingInterval: bodyTimeoutMs > 0 ? Math.min(30_000, Math.max(100, Math.floor(bodyTimeoutMs / 4))) : 30_000,
      // Node insists that headers arrive no later than the whole request.
      headersTimeout: bodyTimeoutMs > 0 ? Math.min(60_000, bodyTimeoutMs) : 60_000,
      // Node would answer a Host-less HTTP/1.1 request itself, outside the envelope and
      // without a request id; the access rule refuses it instead (access.ts).
      requireHostHeader: false,
    },
    clientErrorHandler: (error, socket) => sendClientError(error, socket, bodyTimeoutMs),
    frameworkErrors: (error, request, reply) => sendFrameworkError(error, request, reply),
    forceCloseConnections: 'idle',
  })

  // Clients send JSON as application/json, text/plain, form encoding (curl -d) or with no
  // type at all; all of them carry JSON here. Cross-origin "simple" requests that exploit
  // this are refused by the Origin check before the body is read.
  const maxJsonDepth = options.maxJsonDepth ?? defaultMaxJsonDepth
  const tooDeep = (at: number) =>
    new InvalidRequestError(`The request body nests objects and arrays deeper than ${maxJsonDepth} levels (at character ${at}); the limit is --max-json-depth`, {
      param: 'body',
      code: 'json_too_deep',
    })
  // The depth is checked as the body arrives, chunk by chunk: a 46 MiB run of `[` is
  // refused at its 65th byte, before fastify gathers and decodes the whole body (that
  // alone held the event loop for 300 ms).
  const scannedWhileReceived = new WeakSet<object>()
  app.addHook('preParsing', async (request, _reply, payload) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (!jsonBodyTypes.includes(type)) return payload
    scannedWhileReceived.add(request)
    const scanner = new JsonDepthScanner(maxJsonDepth)
    let tooDeepAt = -1
    const checked = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (tooDeepAt < 0) tooDeepAt = scanner.feed(chunk)
        // Past the excess the rest is read and dropped unseen, and the 400 comes once the
        // body has arrived: a client still sending gets its answer, not a broken pipe.
        callback(null, tooDeepAt < 0 ? chunk : undefined)
      },
      flush(callback) {
        callback(tooDeepAt < 0 ? null : tooDeep(tooDeepAt))
      },
    })
    // pipeline, not pipe: a client that goes away mid-body must end the checked stream too.
    pipeline(payload, checked, () => {})
    return checked
  })
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser(jsonBodyTypes, { parseAs: 'string', bodyLimit: options.bodyLimitBytes }, (request, body, done) => {
    const tooDeepAt = scannedWhileReceived.has(request) ? -1 : jsonDepthExcess(body as string, maxJsonDepth)
    if (tooDeepAt >= 0) {
      done(tooDeep(tooDeepAt), undefined)
      return
    }
    try {
      done(null, JSON.parse(body as string))
    } catch (error) {
      ;(error as { code?: string }).code = 'FST_ERR_CTP_INVALID_JSON_BODY'
      done(error as Error, undefined)
    }
  })

  app.decorate('inFlight', { count: 0 })
  app.addHook('onRequest', async (request, reply) => {
    app.inFlight.count++
    reply.raw.once('close', () => app.inFlight.count--)
    reply.header('x-request-id', request.id)
  })
  installAccessControl(app, options.access)

  // The 413 names the limit, which is known here.
  app.setErrorHandler((error, request, reply) => sendError(isBodyLimitError(error) ? bodyTooLarge(options.bodyLimitBytes) : error, request, reply))
  app.setNotFoundHandler((request, reply) => sendError(new NotFoundError(`No route for ${request.method} ${request.url.split('?')[0]}`, { code: 'unknown_route' }), request, reply))
  return app
}
