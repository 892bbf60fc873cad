import multipart, { type FastifyMultipartOptions } from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify'
import { answerPreflight, type RouteAccess } from '../access.js'
import type { BatchSystem } from '../batches/batch-system.js'
import type { PdfDocuments } from '../documents/pdf-documents.js'
import type { Engine } from '../engines/engine.js'
import type { FilesService } from '../files/files-service.js'
import type { ErrorFormat } from '../http-errors.js'
import type { ImagePipelineOptions } from '../images/pipeline.js'
import type { ServerMetrics } from '../observability/server-metrics.js'
import type { ResponsesService } from '../responses/responses-service.js'
import type { Videos } from '../video/videos.js'
import type { Admission } from '../serving/admission.js'
import type { ChatCompletionsService } from '../serving/chat-completions.js'
import type { ModelFiles } from '../serving/ollama-models.js'
import { anthropicMessagesHandlers } from './anthropic-messages.js'
import { batchesHandlers, dataDirUnavailable } from './batches.js'
import { chatCompletionsHandler } from './chat-completions.js'
import { documentPreviewHandler } from './document-preview.js'
import { filesHandlers } from './files.js'
import { healthHandlers } from './health.js'
import { imageCostHandler } from './image-cost.js'
import { imagesDescribeRoute } from './images-describe.js'
import { metricsHandlers } from './metrics.js'
import { modelsHandler } from './models.js'
import { responsesHandlers } from './responses.js'
import { ollamaHandlers } from './ollama.js'
import { videoPreviewHandler } from './video-preview.js'
import { webUiHandlers, type StaticRoots } from './web-ui.js'

/** One row of the table: a handler, the paths it answers, who may call it. */
export interface RouteEntry {
  /** `ANY`: every method the router knows (the placeholders of an API that is off). */
  method: HTTPMethods | 'ANY'
  /** The documented path first, then the aliases clients also use; each is its own metrics label. */
  paths: readonly string[]
  access: RouteAccess
  /** Each handler names its own body and query types; a request typed `never` is one every such handler accepts. */
  handler: (request: FastifyRequest<never>, reply: FastifyReply) => unknown
  /** Parses multipart/form-data for this route alone, with these limits (the uploads). */
  multipart?: FastifyMultipartOptions
  /** A chat request: counted in the live status view's requests and latencies. */
  chat?: boolean
  /** The shape of this route's error bodies, the access rule's refusals included: OpenAI's envelope when unset. */
  errorFormat?: ErrorFormat
}

/** What the routes serve: the composed services. */
export interface RouteServices {
  engine: Engine
  admission: Admission
  chat: ChatCompletionsService
  images: ImagePipelineOptions
  documents: PdfDocuments
  /** Largest PDF upload to /v1/images/describe. */
  maxPdfBytes: number
  videos: Videos
  metrics: ServerMetrics
  /** `--metrics-public`: a Prometheus that cannot send the API key may scrape without it. */
  metricsPublic: boolean
  /** Undefined (as batches) when the server has no data directory of its own. */
  files: FilesService | undefined
  batches: BatchSystem | undefined
  /** Stores nothing (and says so) when the server has no data directory of its own. */
  responses: ResponsesService
  staticRoots: StaticRoots
  /** When the server started, in ms since the epoch. */
  startedAt: number
  /** The GGUF files the engine runs, when they are local (Ollama's /api/tags and /api/show describe them). */
  modelFiles?: ModelFiles | undefined
}

/**
 * Every route Visto serves, in one place. `guarded` needs the API key when one is set
 * (anything that runs the model, reads server state or touches user data); `public`
 * is the web page's files (they hold no data; the page asks for the key itself), the
 * liveness probe and the CORS preflight (see access.ts).
 */
export function routeTable(services: RouteServices): RouteEntry[] {
  const { engine, admission, chat, images, documents, videos, metrics, files, batches, staticRoots } = services
  const describe = imagesDescribeRoute({ chat, images, maxPdfBytes: services.maxPdfBytes, maxVideoBytes: videos.options.maxVideoBytes })
  const health = healthHandlers({ engine, admission, batchPause: batches && (() => batches.runner.pause()) })
  const stats = metricsHandlers(metrics)
  const web = webUiHandlers(staticRoots)
  return [
    // The OpenAI API
    { method: 'POST', paths: ['/v1/chat/completions', '/chat/completions'], access: 'guarded', chat: true, handler: chatCompletionsHandler({ chat }) },
    { method: 'GET', paths: ['/v1/models', '/models'], access: 'guarded', handler: modelsHandler({ engine, startedAt: services.startedAt }) },
    ...responsesRoutes(services.responses),
    ...filesRoutes(files),
    ...batchRoutes(batches),
    // Ollama's API
    ...ollamaRoutes(services),
    // Anthropic's Messages API, its errors in Anthropic's shape
    ...anthropicRoutes(chat),
    // Visto's own API
    { method: 'POST', paths: ['/v1/images/describe', '/images/describe'], access: 'guarded', chat: true, multipart: describe.form, handler: describe.handler },
    { method: 'POST', paths: ['/v1/visto/image-cost'], access: 'guarded', handler: imageCostHandler({ images, videos }) },
    { method: 'POST', paths: ['/v1/visto/document-preview'], access: 'guarded', handler: documentPreviewHandler({ documents }) },
    { method: 'POST', paths: ['/v1/visto/video-preview'], access: 'guarded', handler: videoPreviewHandler({ videos }) },
    { method: 'GET', paths: ['/health'], access: 'public', handler: health.liveness },
    { method: 'GET', paths: ['/v1/health'], access: 'guarded', handler: health.detailed },
    { method: 'GET', paths: ['/metrics'], access: services.metricsPublic ? 'public' : 'guarded', handler: stats.scrape },
    { method: 'GET', paths: ['/v1/visto/stats'], access: 'guarded', handler: stats.stats },
    // The web page, and what it imports: the browser builds of the SDK and protocol, markdown-it
    { method: 'GET', paths: ['/'], access: 'public', handler: web.page },
    { method: 'GET', paths: ['/index.html'], access: 'public', handler: web.toPage },
    { method: 'GET', paths: ['/ui/*'], access: 'public', handler: web.pageFiles },
    { method: 'GET', paths: ['/sdk/*'], access: 'public', handler: web.sdkFiles },
    { method: 'GET', paths: ['/protocol/*'], access: 'public', handler: web.protocolFiles },
    { method: 'GET', paths: ['/vendor/markdown-it/*'], access: 'public', handler: web.markdownItFiles },
    // CORS preflight, for every path
    { method: 'OPTIONS', paths: ['*'], access: 'public', handler: answerPreflight },
  ]
}

function responsesRoutes(responses: ResponsesService): RouteEntry[] {
  const handlers = responsesHandlers(responses)
  return [
    { method: 'POST', paths: ['/v1/responses', '/responses'], access: 'guarded', chat: true, handler: handlers.create },
    { method: 'GET', paths: ['/v1/responses/:response_id'], access: 'guarded', handler: handlers.retrieve },
    { method: 'DELETE', paths: ['/v1/responses/:response_id'], access: 'guarded', handler: handlers.remove },
    { method: 'GET', paths: ['/v1/responses/:response_id/input_items'], access: 'guarded', handler: handlers.inputItems },
  ]
}

/** Ollama's API, answered with Ollama's error bodies; its other paths get a 404 naming the ones served. */
function ollamaRoutes(services: RouteServices): RouteEntry[] {
  const ollama = ollamaHandlers({ chat: services.chat, engine: services.engine, modelFiles: services.modelFiles, startedAt: services.startedAt })
  const errorFormat = 'ollama'
  return [
    { method: 'POST', paths: ['/api/chat'], access: 'guarded', chat: true, errorFormat, handler: ollama.chat },
    { method: 'POST', paths: ['/api/generate'], access: 'guarded', chat: true, errorFormat, handler: ollama.generate },
    { method: 'GET', paths: ['/api/tags'], access: 'guarded', errorFormat, handler: ollama.tags },
    { method: 'POST', paths: ['/api/show'], access: 'guarded', errorFormat, handler: ollama.show },
    { method: 'GET', paths: ['/api/ps'], access: 'guarded', errorFormat, handler: ollama.ps },
    { method: 'GET', paths: ['/api/version'], access: 'guarded', errorFormat, handler: ollama.version },
    // Not ANY: OPTIONS stays the CORS preflight's.
    ...(['GET', 'POST', 'DELETE'] as const).map((method): RouteEntry => ({ method, paths: ['/api/*'], access: 'guarded', errorFormat, handler: ollama.unserved })),
  ]
}

function anthropicRoutes(chat: ChatCompletionsService): RouteEntry[] {
  const handlers = anthropicMessagesHandlers({ chat })
  return [
    { method: 'POST', paths: ['/v1/messages'], access: 'guarded', chat: true, errorFormat: 'anthropic', handler: handlers.create },
    { method: 'POST', paths: ['/v1/messages/count_tokens'], access: 'guarded', errorFormat: 'anthropic', handler: handlers.countTokens },
  ]
}

function filesRoutes(files: FilesService | undefined): RouteEntry[] {
  if (!files) return [{ method: 'ANY', paths: ['/v1/files', '/v1/files/*'], access: 'guarded', handler: dataDirUnavailable }]
  const handlers = filesHandlers(files)
  return [
    { method: 'POST', paths: ['/v1/files'], access: 'guarded', multipart: handlers.uploadForm, handler: handlers.upload },
    { method: 'GET', paths: ['/v1/files'], access: 'guarded', handler: handlers.list },
    { method: 'GET', paths: ['/v1/files/:file_id'], access: 'guarded', handler: handlers.retrieve },
    { method: 'GET', paths: ['/v1/files/:file_id/content'], access: 'guarded', handler: handlers.content },
    { method: 'DELETE', paths: ['/v1/files/:file_id'], access: 'guarded', handler: handlers.remove },
  ]
}

function batchRoutes(batches: BatchSystem | undefined): RouteEntry[] {
  if (!batches) return [{ method: 'ANY', paths: ['/v1/batches', '/v1/batches/*'], access: 'guarded', handler: dataDirUnavailable }]
  const handlers = batchesHandlers(batches.service)
  return [
    { method: 'POST', paths: ['/v1/batches'], access: 'guarded', handler: handlers.create },
    { method: 'GET', paths: ['/v1/batches'], access: 'guarded', handler: handlers.list },
    { method: 'GET', paths: ['/v1/batches/:batch_id'], access: 'guarded', handler: handlers.retrieve },
    { method: 'POST', paths: ['/v1/batches/:batch_id/cancel'], access: 'guarded', handler: handlers.cancel },
  ]
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The path of the table row the route came from: its label in the request metrics. */
    metricsLabel?: string
    /** From the row's `chat`. */
    chatRequest?: boolean
  }
}

/**
 * Registers the table on `app`, and refuses any route registered another way, so that
 * the table stays the whole list. Rows with a multipart form each get their own scope:
 * the parser applies to the upload routes only.
 */
export async function registerRoutes(app: FastifyInstance, table: readonly RouteEntry[]): Promise<void> {
  app.addHook('onRoute', (route) => {
    if (route.config?.metricsLabel === undefined) throw new Error(`Route ${String(route.method)} ${route.url} is not in the route table (routes/route-table.ts)`)
  })
  const add = (scope: FastifyInstance, entry: RouteEntry): void => {
    for (const path of entry.paths) {
      scope.route({
        method: entry.method === 'ANY' ? scope.supportedMethods : entry.method,
        url: path,
        config: { access: entry.access, metricsLabel: path, chatRequest: entry.chat === true, ...(entry.errorFormat ? { errorFormat: entry.errorFormat } : {}) },
        handler: entry.handler as RouteHandlerMethod,
      })
    }
  }
  await app.register(async (scope) => {
    for (const entry of table) if (!entry.multipart) add(scope, entry)
  })
  for (const entry of table) {
    const form = entry.multipart
    if (!form) continue
    await app.register(async (scope) => {
      await scope.register(multipart, form)
      add(scope, entry)
    })
  }
}
