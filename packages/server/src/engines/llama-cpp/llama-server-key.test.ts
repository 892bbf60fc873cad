import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LlamaServerProcess } from './llama-server-process.js'

/**
 * A stand-in for the llama-server binary: only the HTTP surface start-up touches
 * (/health, /props), guarded by LLAMA_API_KEY unless told to ignore it. It writes the
 * argv and key it saw to a file, so the test can see what a local user would.
 */
const fakeServer = `#!/usr/bin/env node
const http = require('node:http')
const fs = require('node:fs')
const args = process.argv.slice(2)
const port = Number(args[args.indexOf('--port') + 1])
const key = process.env.FAKE_IGNORES_KEY ? undefined : process.env.LLAMA_API_KEY
fs.writeFileSync(process.env.FAKE_REPORT, JSON.stringify({ args, key: process.env.LLAMA_API_KEY, keyFile: process.env.LLAMA_ARG_API_KEY_FILE ?? null, imageCacheMb: process.env.LLAMA_ARG_IMAGE_CACHE_MB ?? null, vistoVariables: Object.keys(process.env).filter((name) => name.startsWith('VISTO_')) }))
http.createServer((request, response) => {
  if (request.url !== '/health' && key && request.headers.authorization !== 'Bearer ' + key) return response.writeHead(401).end('{}')
  response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
}).listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
`

let dir: string
let binary: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-key-'))
  binary = join(dir, 'llama-server')
  await writeFile(binary, fakeServer)
  await chmod(binary, 0o700)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function run(env: Record<string, string | undefined>, options: { imageCacheMb?: number } = {}) {
  const report = join(dir, `report-${Math.random().toString(36).slice(2)}.json`)
  const added = { FAKE_REPORT: report, ...env }
  Object.assign(process.env, added)
  const child = new LlamaServerProcess({ binary, modelPath: '/nonexistent/model.gguf', contextLength: 512, parallel: 1, startTimeoutMs: 20_000, ...options })
  try {
    const started = await child.start().then(
      () => undefined,
      (error: Error) => error,
    )
    return {
      child,
      started,
      seen: JSON.parse(await readFile(report, 'utf8')) as { args: string[]; key: string; keyFile: string | null; imageCacheMb: string | null; vistoVariables: string[] },
    }
  } finally {
    for (const name of Object.keys(added)) delete process.env[name]
  }
}

describe('the key Visto gives its llama-server', () => {
  it("never passes Visto's own variables (VISTO_API_KEY, VISTO_UPSTREAM_API_KEY …) to the engine", async () => {
    const { child, started, seen } = await run({ VISTO_API_KEY: 'sk-visto-secret', VISTO_UPSTREAM_API_KEY: 'sk-upstream-secret' })
    try {
      expect(started).toBeUndefined()
      expect(seen.vistoVariables).toEqual([])
    } finally {
      await child.stop()
    }
  })

  it('travels in LLAMA_API_KEY, never on the command line, and a key file from the environment is dropped', async () => {
    const { child, started, seen } = await run({ LLAMA_ARG_API_KEY_FILE: '/tmp/someone-elses-keys' })
    try {
      expect(started).toBeUndefined()
      expect(seen.key).toBe(child.apiKey)
      expect(seen.args.join(' ')).not.toContain(child.apiKey)
      expect(seen.args).not.toContain('--api-key')
      expect(seen.keyFile).toBeNull()
      expect(child.state()).toEqual({ status: 'ready' })
    } finally {
      await child.stop()
    }
  })

  it('gets the image cache size in LLAMA_ARG_IMAGE_CACHE_MB, which a stock build ignores, never as a flag it would reject', async () => {
    const { child, started, seen } = await run({}, { imageCacheMb: 48 })
    try {
      expect(started).toBeUndefined()
      expect(seen.imageCacheMb).toBe('48')
      expect(seen.args.join(' ')).not.toMatch(/cache/)
    } finally {
      await child.stop()
    }
  })

  it('refuses to run a llama-server that ignores LLAMA_API_KEY, and stops it', async () => {
    const { child, started } = await run({ FAKE_IGNORES_KEY: '1' })
    expect(started).toBeInstanceOf(Error)
    expect((started as Error).message).toBe(
      `${binary} did not take its API key from the LLAMA_API_KEY environment variable (GET /props without it answered 200), ` +
        'so it would be open to every local user. Use a newer llama-server, or Visto’s own build (start without --llama-server).',
    )
    expect(child.isRunning()).toBe(false)
  })
})
