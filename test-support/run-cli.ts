/** Runs the real `visto` binary (built dist) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process'
import { repoRoot, vistoBin } from './paths.js'

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  /** Another copy of bin/visto.js (an installed package's); the repository's by default. */
  bin?: string
  input?: string
  cwd?: string
  env?: Record<string, string | undefined>
  timeoutMs?: number
}

/** A clean environment: no inherited VISTO_* or colour settings leak into tests. */
function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!/^(VISTO_|OPENAI_|NO_COLOR|FORCE_COLOR)/.test(key)) env[key] = value
  for (const [key, value] of Object.entries(extra))
    if (value === undefined) delete env[key]
    else env[key] = value
  return env
}

export function startCli(args: string[], options: CliOptions = {}): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [options.bin ?? vistoBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: environment(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (piece: string) => (stdout += piece))
  child.stderr!.setEncoding('utf8').on('data', (piece: string) => (stderr += piece))
  if (options.input !== undefined) child.stdin!.end(options.input)
  else child.stdin!.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
  return { child, done }
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return startCli(args, options).done
}
