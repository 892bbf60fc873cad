import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify'
import type { BatchSystem } from './batches/batch-system.js'
import { composeServer } from './compose.js'
import { describeNonDefaults, imageCacheSetting, parseDevices, replicaCount, upstreamUrls, type ServeConfig } from './config.js'
import type { Engine } from './engines/engine.js'
import { autoImageCacheCeilingMb, imageCacheMbPerEngine, usableMemoryBytes } from './engines/llama-cpp/image-cache-size.js'
import { LlamaCppEngine } from './engines/llama-cpp/llama-cpp-engine.js'
import { locateLlamaServer } from './engines/llama-cpp/llama-server-binary.js'
import { OpenAiUpstreamEngine } from './engines/openai-upstream-engine.js'
import { dnsMembership, type HostResolver } from './engines/pool/dns-discovery.js'
import { EnginePool, type EnginePoolOptions, type PoolMember } from './engines/pool/engine-pool.js'
import type { RoutingMode } from './engines/pool/routing-policy.js'
import { mirrorEntriesFor } from './engines/pool/routing-memory.js'
import { redactUrlCredentials } from './redact.js'
import { defaultCacheDir } from './models/cache-dir.js'
import { createProgressPrinter, resolveModel } from './models/resolve.js'
import type { ModelFiles } from './serving/ollama-models.js'

export interface RunningServer {
  app: FastifyInstance
  engine: Engine
  /** Absent when another server holds the data directory. */
  batches: BatchSystem | undefined
  url: string
  /** Drains in-flight requests (up to the configured deadline), then stops everything. */
  shutdown(): Promise<void>
  /** Stops the engine at once, synchronously: for process 'exit' handlers. */
  kill(): void
  /** Resolves when the engine is ready to answer. */
  ready: Promise<void>
}

export interface ServeIo {
  log: (line: string) => void
  /** Engine output (llama-server's log), shown only at debug level. */
  engineLog?: (line: string) => void
  /** Replaces the server log --log-level would make (tests capture it). */
  logger?: FastifyServerOptions['logger']
}

/**
 * The embedding cache of each engine in a pool, in MiB, as far as this server can know:
 * its own children's, or for engines elsewhere the size given, else the auto size of an
 * engine on a machine with memory to spare (auto's ceiling), which is what pool boxes have.
 */
function upstreamImageCacheMb(config: ServeConfig): number {
  const setting = imageCacheSetting(config['image-cache-mb'])
  return setting === 'auto' ? autoImageCacheCeilingMb : setting
}

function poolOptions(config: ServeConfig, aliases: string[], io: ServeIo, imageCacheMb: number): EnginePoolOptions {
  const probeMs = Math.round(config['upstream-probe-seconds'] * 1000)
  return {
    routing: config.routing as RoutingMode,
    cacheEntries: mirrorEntriesFor(imageCacheMb),
    modelAliases: aliases,
    contextLength: config['ctx-size'],
    probeIntervalMs: probeMs,
    breaker: { threshold: 3, openMs: probeMs, maxOpenMs: Math.max(probeMs, 30_000) },
    log: io.log,
  }
}

/** The engine, and the model files it runs when they are local. */
async function createEngine(
  config: ServeConfig,
  io: ServeIo,
  cacheDir: string,
  hooks: ServeHooks,
  serverLog: () => FastifyBaseLogger | undefined,
): Promise<{ engine: Engine; modelFiles?: ModelFiles }> {
  const aliases = config['model-alias']
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (config.engine === 'openai') {
    const upstream = (baseUrl: string) =>
      new OpenAiUpstreamEngine({
        baseUrl,
        apiKey: config['upstream-api-key'],
        modelAliases: aliases,
        contextLength: config['ctx-size'],
        parallel: config['upstream-parallel'] ?? config.parallel,
        readSlots: config['upstream-parallel'] === undefined,
      })
    const urls = upstreamUrls(config['upstream-url'])
    if (config['upstream-discovery'] === 'dns') {
      const membership = dnsMembership({ urls, intervalMs: Math.round(config['upstream-discovery-seconds'] * 1000), create: upstream, resolve: hooks.resolveHost })
      return { engine: new EnginePool([], { ...poolOptions(config, aliases, io, upstreamImageCacheMb(config)), membership }) }
    }
    if (urls.length === 1) return { engine: upstream(urls[0]!) }
    return {
      engine: new EnginePool(
        urls.map((url): PoolMember => ({ id: redactUrlCredentials(url).replace(/\/+$/, ''), engine: upstream(url) })),
        poolOptions(config, aliases, io, upstreamImageCacheMb(config)),
      ),
    }
  }
  const model = await resolveModel(
    { model: config.model, mmproj: config.mmproj, source: config.source as 'huggingface' | 'modelscope' },
    { cacheDir, onProgress: createProgressPrinter() },
  )
  io.log(`model: ${model.label}`)
  const binary = await locateLlamaServer({
    explicitPath: config['llama-server'],
    cacheDir,
    build: { log: (line) => io.log(`engine build: ${line}`) },
  })
  io.log(`engine: ${binary.path} (${binary.origin})`)
  const replicas = replicaCount(config)
  const devices = parseDevices(config.devices)
  const imageCacheMb = imageCacheMbPerEngine(imageCacheSetting(config['image-cache-mb']), usableMemoryBytes(), replicas)
  io.log(`image embedding cache: ${imageCacheMb} MiB${replicas > 1 ? ' per child' : ''}`)
  // Children on the CPU share its cores rather than each taking all of them.
  const threads = config.threads ?? (replicas > 1 && devices.length === 0 ? Math.max(1, Math.floor(availableParallelism() / replicas)) : undefined)
  const replica = (index: number) =>
    new LlamaCppEngine({
      binary: binary.path,
      modelPath: model.modelPath,
      mmprojPath: model.mmprojPath,
      modelAliases: aliases,
      contextLength: config['ctx-size'],
      parallel: config.parallel,
      threads,
      gpuLayers: config['gpu-layers'],
      imageCacheMb,
      stallSeconds: config['engine-stall-seconds'],
      reportError: (message, details) => serverLog()?.error(details, message),
      ...(devices.length > 0 ? { extraEnv: { CUDA_VISIBLE_DEVICES: devices[index % devices.length]! } } : {}),
      log: replicas > 1 && io.engineLog ? (line) => io.engineLog!(`[replica-${index}] ${line}`) : io.engineLog,
    })
  const modelFiles = { model: model.modelPath, mmproj: model.mmprojPath }
  if (replicas === 1) return { engine: replica(0), modelFiles }
  io.log(`replicas: ${replicas} llama-server children${devices.length > 0 ? ` on devices ${devices.join(',')}` : threads !== undefined ? `, ${threads} threads each` : ''}`)
  return {
    engine: new EnginePool(
      Array.from({ length: replicas }, (_, i): PoolMember => ({ id: `replica-${i}`, engine: replica(i) })),
      poolOptions(config, aliases, io, imageCacheMb),
    ),
    modelFiles,
  }
}

/** What a harness may add to a real server; `visto serve` sets none of it. */
export interface ServeHooks {
  /** See ComposeOptions.batchFailpoint: how the crash tests stop a server mid-batch. */
  batchFailpoint?: (point: string) => void
  /** Replaces the system resolver for --upstream-discovery dns: how tests make one name stand for several loopback addresses. */
  resolveHost?: HostResolver
}

/** config → engine → HTTP listening → engine start. Never exits the process itself. */
export async function startServer(config: ServeConfig, io: ServeIo, hooks: ServeHooks = {}): Promise<RunningServer> {
  const startedAt = Date.now()
  const nonDefaults = describeNonDefaults(config)
  if (nonDefaults.length > 0) io.log(`settings: ${nonDefaults.join(' ')}`)
  if (config.host === '0.0.0.0' || config.host === '::') {
    io.log(
      `WARNING: listening on all interfaces (${config.host}): the API is open to the network` +
        (config['api-key'] ? '.' : ' and needs no API key. Set --api-key (VISTO_API_KEY) unless a proxy guards it.'),
    )
  }
  const cacheDir = config.cache ?? defaultCacheDir()
  // The engine is made before the app whose log its errors go to.
  let serverLog: FastifyBaseLogger | undefined
  const { engine, modelFiles } = await createEngine(config, io, cacheDir, hooks, () => serverLog)
  const { app, admission, dataDir, batches } = await composeServer(config, {
    engine,
    modelFiles,
    startedAt,
    logger: io.logger ?? (config['log-level'] === 'silent' ? false : { level: config['log-level'] }),
    data: { dir: config['data-dir'] ?? join(cacheDir, 'data'), log: io.log },
    ...(hooks.batchFailpoint ? { batchFailpoint: hooks.batchFailpoint } : {}),
  })
  serverLog = app.log
  const url = await app.listen({ port: config.port, host: config.host })
  io.log(`listening on ${url} (POST /v1/chat/completions, web page at /)`)
  const started = Date.now()
  const ready = engine.start().then(() => {
    io.log(`model ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    batches?.start()
  })
  ready.catch(() => {})

  let shuttingDown: Promise<void> | undefined
  const shutdown = (): Promise<void> =>
    (shuttingDown ??= (async () => {
      admission.drain()
      const closing = app.close()
      const deadline = Date.now() + config['drain-seconds'] * 1000
      const batchesDrained = batches?.drain(deadline)
      while (app.inFlight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
      if (app.inFlight.count > 0) io.log(`drain deadline (${config['drain-seconds']} s) passed with ${app.inFlight.count} responses unfinished; stopping them`)
      // Keep-alive clients hold idle sockets open forever; the work is done, so cut them.
      app.server.closeAllConnections()
      await batchesDrained
      await engine.close()
      await closing
      dataDir?.close()
    })())
  return { app, engine, batches, url, shutdown, kill: () => engine.kill(), ready }
}
