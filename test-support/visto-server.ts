import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from '../packages/server/src/engines/llama-cpp/llama-server-process.js'
import { serveWithFailpoint, vistoBin } from './paths.js'
import { ensureTinyStandin, tinyServeArgs } from './standin.js'

export interface SpawnedVisto {
  baseURL: string
  port: number
  child: ChildProcess
  /** Everything the server printed (stderr), for assertions and failure messages. */
  output(): string
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Starts the real `visto serve` (real llama-server, tiny stand-in model) on a free port
 * and waits until /health is 200. Extra flags are passed through.
 */
export async function startVisto(
  extraArgs: string[] = [],
  options: {
    env?: NodeJS.ProcessEnv
    timeoutMs?: number
    /** A server set to kill itself (crash tests) may do so before it is seen ready: hand it back dead. */
    mayDieBeforeReady?: boolean
    /** `<point>[:<hit>]`: the server SIGKILLs itself there in a batch's life (test-support/serve-with-failpoint.js). */
    failpoint?: string
  } = {},
): Promise<SpawnedVisto> {
  const standin = await ensureTinyStandin()
  const port = await freePort()
  const entry = options.failpoint ? [serveWithFailpoint, options.failpoint] : [vistoBin, 'serve']
  const args = [...entry, ...tinyServeArgs(standin, port, 'warn'), ...extraArgs]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let output = ''
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const baseURL = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.timeoutMs ?? 120_000)
  for (;;) {
    // A signal ends a process with no exit code: both mean it is gone.
    if (child.exitCode !== null || child.signalCode !== null) {
      if (options.mayDieBeforeReady && child.signalCode === 'SIGKILL') break
      throw new Error(`visto serve exited with ${child.exitCode ?? child.signalCode} before becoming ready:\n${output}`)
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`visto serve did not become ready in time:\n${output}`)
    }
    try {
      const response = await fetch(`${baseURL}/health`)
      if (response.status === 200) break
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return {
    baseURL,
    port,
    child,
    output: () => output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal)
      return exited
    },
  }
}
