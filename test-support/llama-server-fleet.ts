import { spawn, type ChildProcess } from 'node:child_process'
import { defaultCacheDir } from '../packages/server/src/models/cache-dir.js'
import { locateLlamaServer } from '../packages/server/src/engines/llama-cpp/llama-server-binary.js'
import { freePort } from '../packages/server/src/engines/llama-cpp/llama-server-process.js'
import { ensureTinyStandin } from './standin.js'

/**
 * Stock-style llama-servers a test owns, each on its own loopback address and port, running
 * the tiny stand-in with Visto's engine build (image embedding cache on): what a pool of
 * engine boxes looks like from Visto, without Visto supervising them. No API key: they
 * listen on loopback only and live as long as the test.
 */
export class TestLlamaServer {
  private child: ChildProcess | undefined

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly binary: string,
  ) {}

  get url(): string {
    return `http://${this.host}:${this.port}`
  }

  /** Starts it (again, on the same address) and waits until /health answers 200. */
  async start(): Promise<void> {
    const child = spawn(this.binary, ['--host', this.host, '--port', String(this.port), ...this.args], { stdio: ['ignore', 'ignore', 'pipe'], env: this.env })
    let output = ''
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)))
    this.child = child
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`llama-server on ${this.url} exited (${child.exitCode}): ${output}`)
      try {
        if ((await fetch(`${this.url}/health`)).status === 200) return
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`llama-server on ${this.url} did not become healthy: ${output}`)
  }

  /** SIGKILL: a crash, with no goodbye to open connections. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
  }

  /** llama-server's own counters (`llamacpp:…`). */
  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text()
  }
}

/** `count` llama-servers on the stand-in; `hosts` picks each one's loopback address (default 127.0.0.1, each its own port). */
export async function startLlamaServers(count: number, options: { hosts?: string[]; samePort?: boolean; parallel?: number } = {}): Promise<TestLlamaServer[]> {
  const [standin, binary] = await Promise.all([ensureTinyStandin(), locateLlamaServer({ cacheDir: process.env.VISTO_CACHE ?? defaultCacheDir(), build: false })])
  const parallel = options.parallel ?? 2
  const args = [
    '--model',
    standin.model,
    '--mmproj',
    standin.mmproj,
    '--parallel',
    String(parallel),
    '--ctx-size',
    String(2048 * parallel),
    '--threads',
    '1',
    '--metrics',
    '--no-webui',
  ]
  // 256 MiB: what the router's mirror reads as 6 photos (each engine reports it at /metrics).
  const env = { ...process.env, LLAMA_ARG_IMAGE_CACHE_MB: '256' }
  const shared = options.samePort ? await freePort() : undefined
  const servers: TestLlamaServer[] = []
  for (let i = 0; i < count; i++) servers.push(new TestLlamaServer(options.hosts?.[i] ?? '127.0.0.1', shared ?? (await freePort()), args, env, binary.path))
  await Promise.all(servers.map((s) => s.start()))
  return servers
}
