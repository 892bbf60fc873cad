import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { isLoopbackBind, parseHostList, parseOriginList } from './access.js'
import { createHttpApp } from './app.js'
import { MiB, type ServeConfig } from './config.js'
import { documentOptionsFrom, PdfDocuments, type FileLookup } from './documents/pdf-documents.js'
import type { Engine } from './engines/engine.js'
import { imagePipelineOptions, prepareImage, prepareImageBytes, type ImagePipelineOptions } from './images/pipeline.js'
import { Semaphore } from './images/semaphore.js'
import { chatCompletionsRoutes } from './routes/chat-completions.js'
import { healthRoutes } from './routes/health.js'
import { documentPreviewRoutes } from './routes/document-preview.js'
import { imageCostRoutes } from './routes/image-cost.js'
import { imagesDescribeRoutes } from './routes/images-describe.js'
import { modelsRoutes } from './routes/models.js'
import { defaultStaticRoots, webUiRoutes, type StaticRoots } from './routes/web-ui.js'
import { openBatchesForServe, registerBatchRoutes, type BatchSystem } from './batches/batch-system.js'
import type { Clock } from './batches/store.js'
import { installObservability } from './observability/install-observability.js'
import { ServerMetrics, type ServerMetricsOptions } from './observability/server-metrics.js'
import { Admission } from './serving/admission.js'
import { ResponseCache, type ResponseCacheMode } from './serving/response-cache.js'
import { ChatCompletionsService, type ImagePreparer } from './serving/chat-completions.js'
import { chatRequestLimitsFrom } from './serving/request-limits.js'

export interface ComposeOptions {
  /** What runs the model: llama-server, an upstream, or a scripted engine in tests. Not started here. */
  engine: Engine
  logger?: FastifyServerOptions['logger']
  /** Replaces decoding of images sent by URL (uploads still decode): only for HTTP tests whose images are placeholders. */
  prepareImage?: ImagePreparer
  /** Where the web page's files are read from (tests point this at fixtures). */
  staticRoots?: StaticRoots
  /** Uploaded files, for `file_id` in chat requests; without it such parts get a 400. */
  files?: FileLookup
  /** Tests: sampling intervals, and no process metrics. */
  metrics?: ServerMetricsOptions
  /**
   * Where the Files and Batch APIs keep their state. Without it (tests that are not about
   * batches) those routes answer 503: one data directory serves one server at a time.
   */
  batches?: { dataDir: string; log?: (line: string) => void; clock?: Clock }
}

/** Everything a running Visto is made of, wired but not listening. */
export interface ComposedServer {
  app: FastifyInstance
  engine: Engine
  admission: Admission
  chat: ChatCompletionsService
  images: ImagePipelineOptions
  metrics: ServerMetrics
  responseCache: ResponseCache
  /** Undefined when batches are off (no data directory given, or another server holds it). */
  batches: BatchSystem | undefined
}

/**
 * The composition root: a frozen config (plus the engine) becomes admission, services
 * and every route. main.ts, the tests and the scripts all build servers through here,
 * so what they exercise is what `visto serve` runs.
 */
export async function composeServer(config: ServeConfig, options: ComposeOptions): Promise<ComposedServer> {
  const { engine } = options
  // Asked per image: the engine reads its model's geometry when it starts, after this.
  const images = imagePipelineOptions(config, { geometry: () => engine.describe().geometry, decodeSlots: new Semaphore(config['decode-concurrency']) })
  // Uploaded files live in the batch system, which is built after the chat service that
  // reads them: the lookup finds it when a request comes.
  let batches: BatchSystem | undefined
  const uploads: FileLookup = async (id) => batches?.readUpload(id)
  const documents = documentOptionsFrom(config, images, options.files ?? (options.batches ? uploads : undefined))
  const pdfDocuments = new PdfDocuments(documents)
  const admission = new Admission(config.parallel, config['max-queue'])
  const responseCache = new ResponseCache({
    maxBytes: Math.round(config['response-cache-mb'] * MiB),
    mode: config['response-cache'] as ResponseCacheMode,
    maxImageBytes: images.maxImageBytes,
  })
  const metrics = new ServerMetrics({ engine, admission, responseCache, batches: () => batches?.store.progressSnapshot() }, options.metrics)
  const chat = new ChatCompletionsService(
    engine,
    admission,
    {
      fromUrl: options.prepareImage ?? ((url, where, detail, signal) => prepareImage(url, where, images, detail, signal)),
      fromBytes: (bytes, where, detail, signal) => prepareImageBytes(bytes, where, images, detail, signal),
    },
    {
      defaultMaxTokens: config['default-max-tokens'],
      maxImagesPerRequest: images.maxImagesPerRequest,
      limits: chatRequestLimitsFrom(config),
      documents: pdfDocuments,
      responseCache,
      observer: metrics,
    },
  )
  const allowedHosts = parseHostList(config['allowed-hosts'])
  const app = createHttpApp({
    bodyLimitBytes: Math.round(config['body-limit-mb'] * MiB),
    bodyTimeoutMs: Math.round(config['body-timeout-seconds'] * 1000),
    maxJsonDepth: config['max-json-depth'],
    logger: options.logger,
    access: {
      apiKey: config['api-key'],
      corsOrigins: parseOriginList(config['cors-origins']),
      allowedHosts,
      checkHost: isLoopbackBind(config.host) || allowedHosts.length > 0,
    },
  })
  // Request metrics hook every route registered after this, /metrics among them.
  installObservability(app, { metrics, metricsPublic: config['metrics-public'] })

  await app.register(async (scope) => {
    chatCompletionsRoutes(scope, { chat })
    modelsRoutes(scope, { engine })
    healthRoutes(scope, { engine, admission })
    webUiRoutes(scope, options.staticRoots ?? defaultStaticRoots)
    imageCostRoutes(scope, { images })
    documentPreviewRoutes(scope, { documents: pdfDocuments })
  })
  batches = options.batches
    ? await openBatchesForServe(config, { chat, admission, dataDir: options.batches.dataDir, log: options.batches.log ?? (() => {}), clock: options.batches.clock })
    : undefined
  // Their own scopes: the multipart parser applies to the upload routes only.
  await app.register(async (scope) => registerBatchRoutes(scope, batches))
  await app.register(async (scope) => imagesDescribeRoutes(scope, { chat, images, maxPdfBytes: documents.maxFileBytes }))
  return { app, engine, admission, chat, images, metrics, responseCache, batches }
}
