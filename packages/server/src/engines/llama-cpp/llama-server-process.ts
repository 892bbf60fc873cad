import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { EventEmitter } from 'node:events'
import type { EngineState } from '../engine.js'
import { engineEnvironment } from './engine-environment.js'

export interface LlamaServerProcessOptions {
  binary: string
  modelPath: string
  mmprojPath?: string
  /** Context per request (slot); llama-server gets contextLength × parallel in total. */
  contextLength: number
  parallel: number
  threads?: number
  gpuLayers?: number
  /**
   * MiB for the engine's cache of image embeddings (Visto's engine patch). Passed in the
   * environment, which a stock llama-server ignores, rather than as a flag it would reject.
   */
  imageCacheMb?: number
  extraArgs?: string[]
  /** Set in the child's environment besides its own (a replica's CUDA_VISIBLE_DEVICES). */
  extraEnv?: Record<string, string>
  /** How long a start may take before it counts as failed (big models load slowly). */
  startTimeoutMs?: number
  log?: (line: string) => void
}

/** Stages of llama-server's start-up log, used as a coarse load progress. */
const LOAD_STAGES: Array<[RegExp, number, string]> = [
  [/llama_model_loader: loaded meta data/, 0.1, 'reading model metadata'],
  [/load_tensors:/, 0.3, 'loading model weights'],
  [/llama_context:|llama_kv_cache/, 0.55, 'allocating context'],
  [/clip_model_loader|load_hparams: projector/, 0.7, 'loading vision projector'],
  [/warming up|warmup/i, 0.85, 'warming up'],
  [/server is listening|model loaded/, 0.95, 'starting HTTP'],
]

/** A loopback port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/**
 * One supervised llama-server child: private loopback port, random API key, a fixed
 * media marker. Emits 'exit' when the child dies; the engine decides about restarts.
 */
export class LlamaServerProcess extends EventEmitter {
  readonly apiKey = randomBytes(24).toString('hex')
  /** llama-server replaces this text in a prompt by the next image (LLAMA_MEDIA_MARKER). */
  readonly mediaMarker = `<__visto_media_${randomBytes(8).toString('hex')}__>`
  port = 0
  private child: ChildProcess | undefined
  private currentState: EngineState = { status: 'loading', progress: 0, message: 'starting llama-server' }
  private stderrTail: string[] = []
  private stopping = false

  constructor(private readonly options: LlamaServerProcessOptions) {
    super()
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }

  state(): EngineState {
    return this.currentState
  }

  /** The last lines llama-server printed: what a user needs when it fails to start. */
  recentOutput(): string {
    return this.stderrTail.join('\n')
  }

  args(): string[] {
    const o = this.options
    const args = [
      '--model',
      o.modelPath,
      '--host',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--parallel',
      String(o.parallel),
      '--ctx-size',
      String(o.contextLength * o.parallel),
      '--no-webui',
      '--metrics',
    ]
    if (o.mmprojPath) args.push('--mmproj', o.mmprojPath)
    if (o.threads !== undefined) args.push('--threads', String(o.threads))
    if (o.gpuLayers !== undefined) args.push('--n-gpu-layers', String(o.gpuLayers))
    args.push(...(o.extraArgs ?? []))
    return args
  }

  /**
   * The key travels in the environment, not argv: any local user can read a process's
   * command line (ps, /proc/PID/cmdline), only its owner its environment. llama-server
   * reads --api-key from LLAMA_API_KEY; a key file from the user's own environment would
   * add keys we did not make, so it is dropped, with Visto's own settings and anything
   * secret-looking (engineEnvironment).
   */
  private environment(): NodeJS.ProcessEnv {
    const env = engineEnvironment(process.env, {
      ...this.options.extraEnv,
      LLAMA_MEDIA_MARKER: this.mediaMarker,
      LLAMA_API_KEY: this.apiKey,
      LLAMA_ARG_IMAGE_CACHE_MB: this.options.imageCacheMb === undefined ? undefined : String(this.options.imageCacheMb),
    })
    delete env.LLAMA_ARG_API_KEY_FILE
    return env
  }

  /** Starts the child and resolves once /health answers 200; rejects with its output if it dies first. */
  async start(): Promise<void> {
    this.stopping = false
    this.port = await freePort()
    this.stderrTail = []
    this.currentState = { status: 'loading', progress: 0.02, message: 'starting llama-server' }
    const child = spawn(this.options.binary, this.args(), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.environment(),
      // Its own process group: a terminal's Ctrl-C must reach Visto only, which then
      // drains in-flight requests before stopping the engine itself.
      detached: true,
    })
    this.child = child
    this.watchOrphan(child)
    const onOutput = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue
        this.stderrTail.push(line)
        if (this.stderrTail.length > 60) this.stderrTail.shift()
        this.options.log?.(line)
        if (this.currentState.status === 'loading') {
          for (const [pattern, progress, message] of LOAD_STAGES) {
            if (pattern.test(line) && progress > this.currentState.progress) this.currentState = { status: 'loading', progress, message }
          }
        }
      }
    }
    child.stdout?.on('data', onOutput)
    child.stderr?.on('data', onOutput)

    const exited = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(error))
      child.once('exit', (code, signal) => {
        const message = `llama-server exited (${signal ?? `code ${code}`})`
        this.currentState = { status: 'unavailable', message }
        if (this.child === child) this.child = undefined
        this.emit('exit', { code, signal, expected: this.stopping })
        reject(new Error(`${message} while starting. Its last output:\n${this.recentOutput()}`))
      })
    })
    exited.catch(() => {})
    await Promise.race([this.waitHealthy(this.options.startTimeoutMs ?? 600_000), exited])
    const unguarded = await Promise.race([this.unguardedStatus(), exited])
    if (unguarded !== undefined) {
      await this.stop()
      throw new Error(
        `${this.options.binary} did not take its API key from the LLAMA_API_KEY environment variable (GET /props without it answered ${unguarded}), ` +
          'so it would be open to every local user. Use a newer llama-server, or Visto’s own build (start without --llama-server).',
      )
    }
    this.currentState = { status: 'ready' }
  }

  /**
   * llama-server runs in its own process group (so Ctrl-C reaches Visto first), which also
   * means nothing kills it if Visto itself is SIGKILLed. A tiny shell watchdog does: it
   * ends when either process does, and stops llama-server if Visto went first.
   */
  private watchOrphan(child: ChildProcess): void {
    if (process.platform === 'win32' || child.pid === undefined) return
    const script =
      'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; ' +
      'if kill -0 "$2" 2>/dev/null; then kill -TERM "$2"; sleep 5; kill -KILL "$2" 2>/dev/null; fi'
    const watchdog = spawn('/bin/sh', ['-c', script, 'visto-watchdog', String(process.pid), String(child.pid)], { detached: true, stdio: 'ignore' })
    watchdog.on('error', () => {})
    watchdog.unref()
    child.once('exit', () => watchdog.kill())
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (!this.child) throw new Error('llama-server is not running')
      try {
        const response = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(2000) })
        if (response.ok) return
        await response.body?.cancel()
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 150))
    }
    throw new Error(`llama-server did not become healthy within ${Math.round(timeoutMs / 1000)} s. Its last output:\n${this.recentOutput()}`)
  }

  /**
   * A llama-server that ignored LLAMA_API_KEY would serve every local user unguarded;
   * refuse to run one rather than fall back to putting the key in argv. Returns the
   * status a keyless request got when it was not refused.
   */
  private async unguardedStatus(): Promise<number | undefined> {
    const response = await fetch(`${this.baseUrl}/props`, { signal: AbortSignal.timeout(10_000) })
    await response.body?.cancel()
    return response.status === 401 ? undefined : response.status
  }

  isRunning(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await done
    clearTimeout(timer)
  }

  /**
   * SIGKILL a child that stopped making progress, counted as a crash: its 'exit' says
   * unexpected, so the engine restarts it. SIGKILL ends a SIGSTOPped process too.
   */
  killUnresponsive(): void {
    this.child?.kill('SIGKILL')
  }

  /** Synchronous last resort for process 'exit' handlers. */
  killNow(): void {
    this.stopping = true
    this.child?.kill('SIGKILL')
  }
}
