import { randomBytes, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Engine } from './engines/engine.js'
import { AuthenticationError, NotFoundError } from './errors.js'
import { sendError } from './http-errors.js'
import { chatCompletionsRoutes } from './routes/chat-completions.js'
import { healthRoutes } from './routes/health.js'
import { modelsRoutes } from './routes/models.js'
import { installObservability } from './observability/install-observability.js'
import type { ServerMetrics } from './observability/server-metrics.js'
import type { Admission } from './serving/admission.js'
import type { ChatCompletionsService } from './serving/chat-completions.js'

export interface AppDeps {
  engine: Engine
  admission: Admission
  chat: ChatCompletionsService
  bodyLimitBytes: number
  apiKey?: string | undefined
  /** Metrics and the status view's numbers; without it there is no /metrics. */
  metrics?: ServerMetrics | undefined
  metricsPublic?: boolean
  logger?: FastifyServerOptions['logger']
  /** Extra route plugins (the web page, uploads) registered after the core API. */
  plugins?: Array<(app: FastifyInstance, deps: AppDeps) => void | Promise<void>>
}

const REQUEST_ID = /^[\w.:-]{1,128}$/

declare module 'fastify' {
  interface FastifyInstance {
    /** Responses not yet fully written (streams included): what a graceful shutdown waits for. */
    inFlight: { count: number }
  }
}

/** Builds the HTTP app without listening: tests use app.inject(), main.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (request) => {
      const incoming = request.headers['x-request-id']
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `req_${randomBytes(12).toString('hex')}`
    },
    // Requests with big images legitimately take minutes on CPU.
    requestTimeout: 0,
    forceCloseConnections: 'idle',
  })

  // The article sends application/json; curl -d sends form encoding and some clients
  // send text/plain or nothing. All of them carry JSON here, so parse them as JSON.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser(['application/json', 'text/plain', 'application/x-www-form-urlencoded'], { parseAs: 'string', bodyLimit: deps.bodyLimitBytes }, (_request, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch (error) {
      ;(error as { code?: string }).code = 'FST_ERR_CTP_INVALID_JSON_BODY'
      done(error as Error, undefined)
    }
  })

  app.decorate('inFlight', { count: 0 })
  if (deps.metrics) installObservability(app, { metrics: deps.metrics, metricsPublic: deps.metricsPublic ?? false })
  app.addHook('onRequest', async (request, reply) => {
    app.inFlight.count++
    reply.raw.once('close', () => app.inFlight.count--)
    reply.header('x-request-id', request.id)
    if (!deps.apiKey || !(request.url.startsWith('/v1/') || (request.routeOptions.config as { access?: string } | undefined)?.access === 'guarded')) return
    const header = request.headers.authorization ?? ''
    const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '')
    const expected = Buffer.from(deps.apiKey)
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw new AuthenticationError()
  })

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, deps.bodyLimitBytes))
  app.setNotFoundHandler((request, reply) =>
    sendError(new NotFoundError(`No route for ${request.method} ${request.url.split('?')[0]}`, { code: 'unknown_route' }), request, reply, deps.bodyLimitBytes),
  )

  await app.register(async (scope) => {
    chatCompletionsRoutes(scope, deps)
    modelsRoutes(scope, deps)
    healthRoutes(scope, deps)
  })
  for (const plugin of deps.plugins ?? []) await app.register(async (scope) => plugin(scope, deps))
  return app
}
