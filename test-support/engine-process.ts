import { readdirSync, readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parsePrometheusText, sample } from './prometheus-text.js'

/**
 * What tests need to know about the llama-server children a Visto server supervises, read
 * from outside the engine (Linux's /proc, Visto's own /metrics) so the engine carries no
 * accessors that only tests call.
 */

export interface EngineChild {
  pid: number
  argv: string[]
}

/** The live llama-server processes whose parent is `parentPid` (this test process by default). */
export function llamaServerChildren(parentPid = process.pid): EngineChild[] {
  const children = new Set<number>()
  for (const task of readdirSync(`/proc/${parentPid}/task`)) {
    for (const pid of readProc(`/proc/${parentPid}/task/${task}/children`).split(' ')) if (pid) children.add(Number(pid))
  }
  return (
    [...children]
      // A child that has exited (a zombie until reaped) has an empty command line.
      .map((pid) => ({ pid, argv: readProc(`/proc/${pid}/cmdline`).split('\0').filter(Boolean) }))
      .filter((child) => child.argv[0] !== undefined && basename(child.argv[0]).startsWith('llama-server'))
  )
}

/**
 * The pid of the one llama-server child of this process (of the one listening on `port`
 * when several run, e.g. under --replicas); throws when there is not exactly one.
 */
export function llamaServerPid(options: { port?: number; parentPid?: number } = {}): number {
  const all = llamaServerChildren(options.parentPid)
  const matching = options.port === undefined ? all : all.filter(({ argv }) => argv[argv.indexOf('--port') + 1] === String(options.port))
  if (matching.length !== 1) {
    const listed = all.map(({ pid, argv }) => `${pid}: ${argv.join(' ')}`).join('\n') || '(none)'
    throw new Error(`expected one llama-server child${options.port === undefined ? '' : ` on port ${options.port}`}, found ${matching.length}; all of them:\n${listed}`)
  }
  return matching[0]!.pid
}

/** The loopback port a replica's llama-server announced in its output (`[replica-N] … listening on http://127.0.0.1:PORT`). */
export function announcedPort(engineLog: string[], replica: string): number {
  for (const line of [...engineLog].reverse()) {
    const match = new RegExp(`^\\[${replica}\\] .*listening on https?://127\\.0\\.0\\.1:(\\d+)`).exec(line)
    if (match) return Number(match[1])
  }
  throw new Error(`no "[${replica}] … listening on" line in the engine's output (${engineLog.length} lines)`)
}

/**
 * How many requests llama-server is generating right now, as Visto's /metrics passes on
 * llama-server's own gauge (it counts the slots that are processing). A scrape that finds
 * the series missing is tried again for a while: Visto leaves the engine's series out when
 * llama-server does not answer its own /metrics within 2 s, which a fully loaded machine
 * (the whole suite at once) can make it miss now and then.
 */
export async function engineRequestsProcessing(serverUrl: string, headers: Record<string, string> = {}): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`${serverUrl}/metrics`, { headers })
    if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`)
    const samples = parsePrometheusText(await response.text())
    if (samples.has('visto_engine_llamacpp_requests_processing')) return sample(samples, 'visto_engine_llamacpp_requests_processing')
    if (attempt >= 5) throw new Error('/metrics carries no visto_engine_llamacpp_requests_processing: is the engine ready?')
    await new Promise((r) => setTimeout(r, 200))
  }
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    // The process ended between listing and reading.
    return ''
  }
}
