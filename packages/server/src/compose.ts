import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { isLoopbackBind, parseHostList, parseOriginList } from './access.js'
import { createHttpApp } from './app.js'
import { MiB, type ServeConfig } from './config.js'
import { openDataDirUnlessInUse, type Clock, type DataDir } from './data-dir.js'
import { documentOptionsFrom, PdfDocuments } from './documents/pdf-documents.js'
import type { Engine } from './engines/engine.js'
import { imagePipelineOptions, measureImage, measureImageBytes, prepareImage, prepareImageBytes, type ImagePipelineOptions } from './images/pipeline.js'
import { Semaphore } from './images/semaphore.js'
import { registerRoutes, routeTable, type RouteEntry } from './routes/route-table.js'
import { defaultStaticRoots, type StaticRoots } from './routes/web-ui.js'
import { batchLimitsFrom, openBatchSystem, type BatchSystem } from './batches/batch-system.js'
import { fileLimitsFrom, openFiles, type FilesService } from './files/files-service.js'
import { installObservability } from './observability/install-observability.js'
import { ServerMetrics, type ServerMetricsOptions } from './observability/server-metrics.js'
import { Admission } from './serving/admission.js'
import { ResponseCache, type ResponseCacheMode } from './serving/response-cache.js'
import { ChatCompletionsService, type ImagePreparer, type VideoPreparer } from './serving/chat-completions.js'
import type { ModelFiles } from './serving/ollama-models.js'
import type { ChatJobImagePart } from './serving/chat-job.js'
import { chatRequestLimitsFrom } from './serving/request-limits.js'
import { ResponseStore } from './responses/response-store.js'
import { ResponsesService } from './responses/responses-service.js'
import { type InspectedVideo, Videos, videoOptionsFrom } from './video/videos.js'

export interface ComposeOptions {
  /** What runs the model: llama-server, an upstream, or a scripted engine in tests. Not started here. */
  engine: Engine
  logger?: FastifyServerOptions['logger']
  /** Replaces decoding of images sent by URL (uploads still decode): only for HTTP tests whose images are placeholders. */
  prepareImage?: ImagePreparer
  /** Where the web page's files are read from (tests point this at fixtures). */
  staticRoots?: StaticRoots
  /** When the server started (ms since the epoch): the models' `created`, the status view's uptime. Default: now. */
  startedAt?: number
  /** Tests: sampling intervals, and no process metrics. */
  metrics?: ServerMetricsOptions
  /**
   * Where the Files and Batch APIs keep their state. Without it (tests that are not about
   * them) those routes answer 503, as when another server holds the directory: one data
   * directory serves one server at a time.
   */
  data?: { dir: string; log?: (line: string) => void; clock?: Clock }
  /**
   * Called at named steps of a batch's life (`validated`, `line-recorded`, `finalized-files`):
   * the crash tests' harness kills the process there. Nothing in production sets it.
   */
  batchFailpoint?: (point: string) => void
  /** The GGUF files a local engine runs: what Ollama's /api/tags and /api/show describe. */
  modelFiles?: ModelFiles | undefined
}

/** Everything a running Visto is made of, wired but not listening. */
export interface ComposedServer {
  app: FastifyInstance
  engine: Engine
  admission: Admission
  chat: ChatCompletionsService
  images: ImagePipelineOptions
  videos: Videos
  metrics: ServerMetrics
  responseCache: ResponseCache
  /**
   * The data directory files and batches live in: close it after the app. Undefined, as
   * they are, without a data directory or when another server holds it.
   */
  dataDir: DataDir | undefined
  files: FilesService | undefined
  batches: BatchSystem | undefined
  /** Every route the app serves, as registered. */
  routes: readonly RouteEntry[]
}

/**
 * The composition root: a frozen config (plus the engine) becomes admission, services
 * and every route, each built from the ones before it: files → chat (whose documents
 * read uploads by `file_id`) → batches (which run chat requests on stored files).
 * main.ts, the tests and the scripts all build servers through here, so what they
 * exercise is what `visto serve` runs.
 */
export async function composeServer(config: ServeConfig, options: ComposeOptions): Promise<ComposedServer> {
  const { engine } = options
  const startedAt = options.startedAt ?? Date.now()
  // Asked per image: the engine reads its model's geometry when it starts, after this.
  const images = imagePipelineOptions(config, { geometry: () => engine.describe().geometry, decodeSlots: new Semaphore(config['decode-concurrency']) })
  const log = options.data?.log ?? (() => {})
  const dataDir = options.data ? await openDataDirUnlessInUse(options.data.dir, log) : undefined
  const files = dataDir ? await openFiles(dataDir, { limits: fileLimitsFrom(config), clock: options.data?.clock, log }) : undefined
  const documents = documentOptionsFrom(config, images, files && ((id) => files.read(id)))
  const pdfDocuments = new PdfDocuments(documents)
  const videos = new Videos(
    videoOptionsFrom(config, images, {
      files: files && ((id) => files.read(id)),
      countTextTokens: engine.countTextTokens && ((texts, signal) => engine.countTextTokens!(texts, signal)),
    }),
  )
  // A pool's slots are its healthy engines' together, and change as they come and go.
  const admission = new Admission(engine.watchCapacity ? engine.describe().parallel : config.parallel, config['max-queue'])
  engine.watchCapacity?.((parallel) => admission.setCapacity(parallel))
  const responseCache = new ResponseCache({
    maxBytes: Math.round(config['response-cache-mb'] * MiB),
    mode: config['response-cache'] as ResponseCacheMode,
    maxImageBytes: images.maxImageBytes,
  })
  const metrics = new ServerMetrics({ engine, admission, responseCache, startedAt }, options.metrics)
  const chat = new ChatCompletionsService(
    engine,
    admission,
    {
      fromUrl: options.prepareImage ?? ((url, where, detail, signal) => prepareImage(url, where, images, detail, signal)),
      fromBytes: (bytes, where, detail, signal) => prepareImageBytes(bytes, where, images, detail, signal),
      // A preparer given instead of the pipeline (tests) decodes at once, unmeasured.
      ...(options.prepareImage
        ? {}
        : {
            measure: (part: ChatJobImagePart, signal: AbortSignal) =>
              part.bytes !== undefined ? measureImageBytes(part.bytes, part.where, images, part.detail) : measureImage(part.url, part.where, images, part.detail, signal),
          }),
    },
    {
      defaultMaxTokens: config['default-max-tokens'],
      maxImagesPerRequest: images.maxImagesPerRequest,
      maxChoices: config['max-n'],
      limits: chatRequestLimitsFrom(config),
      documents: pdfDocuments,
      videos: {
        checkParts: (parts) => videos.checkParts(parts),
        inspect: (part, signal) => videos.inspect(part, signal),
        render: (video, signal) => videos.render(video, signal),
        imageTokens: (video) => videos.imageTokens(video),
      } satisfies VideoPreparer<InspectedVideo>,
      responseCache,
      observer: metrics,
      // Only llama-server enforces --ctx-size itself; an upstream's own context is unknown here.
      contextTokens: config.engine === 'llama.cpp' ? () => engine.describe().contextLength : undefined,
    },
  )
  const batches =
    dataDir && files
      ? openBatchSystem({ dataDir, files, chat, admission, ...batchLimitsFrom(config), clock: options.data?.clock, log, failpoint: options.batchFailpoint })
      : undefined
  if (batches) metrics.watchBatches(() => ({ ...batches.store.progressSnapshot(), pausedFor: batches.runner.pause()?.reason }))
  // Stored responses share the data directory's database with files and batches.
  const responseStore = dataDir
    ? new ResponseStore(dataDir.db, {
        retentionSeconds: Math.round(config['response-retention-hours'] * 3600),
        maxBytes: Math.round(config['response-store-mb'] * MiB),
        clock: options.data?.clock,
      })
    : undefined
  const responses = new ResponsesService({ chat, store: responseStore, readFile: files && ((id) => files.read(id)), clock: options.data?.clock })
  // With --batch-concurrency auto, more slots mean more batch lines at once.
  if (batches) engine.watchCapacity?.(() => batches.runner.wake())

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
  // Request metrics hook every route registered after this.
  installObservability(app, metrics)
  const routes = routeTable({
    engine,
    admission,
    chat,
    images,
    documents: pdfDocuments,
    maxPdfBytes: documents.maxFileBytes,
    videos,
    metrics,
    metricsPublic: config['metrics-public'],
    files,
    batches,
    responses,
    staticRoots: options.staticRoots ?? defaultStaticRoots,
    startedAt,
    modelFiles: options.modelFiles,
  })
  await registerRoutes(app, routes)
  if (responseStore) {
    const stopHousekeeping = responseStore.startHousekeeping(log)
    app.addHook('onClose', async () => stopHousekeeping())
  }
  return { app, engine, admission, chat, images, videos, metrics, responseCache, dataDir, files, batches, routes }
}
