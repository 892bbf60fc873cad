/**
 * The packages as a user gets them: `npm pack` protocol, sdk and cli (their built dist),
 * install the tarballs into an empty folder offline, and use that install. Their registry
 * dependencies (tinyglobby and its own) are packed from this checkout's node_modules, so
 * the install reads no registry and no cache (`npm ci` caches tarballs, not the package
 * documents npm would need to resolve names). The install must hold
 * none of the server's native dependencies, load in plain Node and in a browser bundle,
 * answer through `visto ask` / `visto ocr` against a real server, and say how to get the
 * server when `visto serve` needs it.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createClient } from '@visto/sdk'
import { testImage } from '@visto/testkit/images/test-images'
import type { Browser } from 'playwright-core'
import { rolldown } from 'rolldown'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SERVER_MISSING, TESTKIT_MISSING } from '../packages/cli/src/optional-packages.js'
import type { RunningServer } from '../packages/server/src/main.js'
import { launchChromium } from '../test-support/chromium.js'
import { startTinyServer } from '../test-support/in-process-server.js'
import { repoRoot } from '../test-support/paths.js'
import { textPdf } from '../test-support/pdfs.js'
import { runCli } from '../test-support/run-cli.js'

const run = promisify(execFile)
const published = ['protocol', 'sdk', 'cli'] as const
/** What installing @visto/cli may bring: our three packages and tinyglobby with its two dependencies. */
const expectedPackages = ['@visto/cli', '@visto/protocol', '@visto/sdk', 'fdir', 'picomatch', 'tinyglobby']
const serverOnly = ['@visto/server', '@visto/testkit', '@visto/webui', 'sharp', 'better-sqlite3', 'node-llama-cpp', '@hyzyla/pdfium', 'libheif-js', 'fastify']

let dir: string
let app: string
let visto: string
let server: RunningServer
let page: Server
let pageURL: string
let browser: Browser | undefined
const tarballs: Record<string, { file: string; files: string[] }> = {}

/**
 * npm as a user runs it: none of the npm_* variables of an enclosing `npm test` (its
 * local prefix would point npm back at this repository), but the same cache and registry.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  const kept = /^npm_config_(cache|registry|userconfig|globalconfig)$/i
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) || kept.test(key)) env[key] = value
  return env
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: npmEnvironment(), maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** The registry packages the published ones depend on, transitively, as installed (hoisted) in this checkout. */
function registryDependencies(): string[] {
  const found = new Set<string>()
  const visit = (manifest: string): void => {
    const { dependencies = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> }
    for (const name of Object.keys(dependencies)) {
      if (name.startsWith('@visto/') || found.has(name)) continue
      found.add(name)
      visit(path.join(repoRoot, 'node_modules', name, 'package.json'))
    }
  }
  for (const name of published) visit(path.join(repoRoot, 'packages', name, 'package.json'))
  return [...found].sort()
}

/** Every package folder under node_modules, scoped ones as @scope/name, nested ones included. */
function installedPackages(nodeModules: string): string[] {
  const names: string[] = []
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('.')) continue
    const scoped = entry.startsWith('@') ? readdirSync(path.join(nodeModules, entry)).map((name) => `${entry}/${name}`) : [entry]
    for (const name of scoped) {
      names.push(name)
      const nested = path.join(nodeModules, name, 'node_modules')
      if (existsSync(nested)) names.push(...installedPackages(nested))
    }
  }
  return names.sort()
}

beforeAll(async () => {
  for (const name of published) {
    if (!existsSync(path.join(repoRoot, 'packages', name, 'dist', 'index.js'))) throw new Error(`packages/${name}/dist is missing: run \`npx tsc -b\` first`)
  }
  dir = mkdtempSync(path.join(os.tmpdir(), 'visto-packages-'))
  const folders = [...published.map((name) => path.join(repoRoot, 'packages', name)), ...registryDependencies().map((name) => path.join(repoRoot, 'node_modules', name))]
  const packed = JSON.parse(await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir, ...folders], dir)) as {
    name: string
    filename: string
    files: { path: string }[]
  }[]
  for (const entry of packed) tarballs[entry.name] = { file: path.join(dir, entry.filename), files: entry.files.map((f) => f.path) }

  app = path.join(dir, 'app')
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'visto-install-check', private: true, type: 'module' }))
  // An empty cache and --offline: anything the tarballs do not hold fails the install.
  const install = ['install', '--offline', '--cache', path.join(dir, 'npm-cache'), '--no-audit', '--no-fund', '--loglevel', 'error']
  await npm([...install, ...Object.values(tarballs).map((t) => t.file)], app)
  visto = path.join(app, 'node_modules', '@visto', 'cli', 'bin', 'visto.js')

  // The browser page lives on its own origin, which the server allows.
  page = createServer()
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve))
  pageURL = `http://127.0.0.1:${(page.address() as AddressInfo).port}`
  server = await startTinyServer(['--cors-origins', pageURL])
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await server?.shutdown()
  if (page) {
    page.closeAllConnections()
    await new Promise((resolve) => page.close(resolve))
  }
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('the packed packages', () => {
  it('each carry their built code, the licence and nothing of the build', () => {
    const licence = readFileSync(path.join(repoRoot, 'LICENSE'), 'utf8')
    expect(registryDependencies()).toEqual(['fdir', 'picomatch', 'tinyglobby'])
    for (const name of published) {
      const { files } = tarballs[`@visto/${name}`]!
      expect(files).toContain('LICENSE')
      expect(files).toContain('dist/index.js')
      expect(files.filter((file) => file.endsWith('.map') || file.endsWith('.tsbuildinfo') || file.endsWith('.test.js'))).toEqual([])
      expect(readFileSync(path.join(app, 'node_modules', '@visto', name, 'LICENSE'), 'utf8')).toBe(licence)
    }
    expect(tarballs['@visto/cli']!.files).toContain('bin/visto.js')
  })

  it('install without the server or any native dependency', () => {
    const installed = installedPackages(path.join(app, 'node_modules'))
    expect(installed.filter((name) => serverOnly.includes(name))).toEqual([])
    expect(installed).toEqual(expectedPackages)
  })
})

describe('the installed SDK', () => {
  it('loads in plain Node, exposes only its named entry points, and answers', async () => {
    const script = `
      const sdk = await import('@visto/sdk')
      const node = await import('@visto/sdk/node')
      const deep = await import('@visto/sdk/dist/client.js').then(() => 'imported', (error) => error.code)
      const answer = await sdk.createClient({ baseURL: process.argv[1] }).ask(undefined, 'Say hi.', { maxTokens: 3, temperature: 0 })
      console.log(JSON.stringify({ createClient: typeof sdk.createClient, diskCache: typeof node.DiskCache, deep, tokens: answer.usage.completion_tokens }))`
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, server.url], { cwd: app })
    expect(JSON.parse(stdout)).toEqual({ createClient: 'function', diskCache: 'function', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED', tokens: 3 })
  })

  it('bundles for the browser from its own files alone, and the bundle asks the server from a page', async () => {
    writeFileSync(
      path.join(app, 'page.js'),
      `import { createClient } from '@visto/sdk'
window.askVisto = async (baseURL, image) => {
  const answer = await createClient({ baseURL, maxRetries: 0 }).ask(new Uint8Array(image), 'Describe.', { maxTokens: 5, temperature: 0 })
  return { text: answer.text, tokens: answer.usage.completion_tokens, finishReason: answer.finishReason }
}`,
    )
    const bundle = await rolldown({ input: path.join(app, 'page.js'), cwd: app, platform: 'browser', logLevel: 'silent' })
    const [chunk] = (await bundle.generate({ format: 'esm' })).output
    await bundle.close()
    const sdkFiles = path.join(app, 'node_modules', '@visto')
    const foreign = chunk.moduleIds.filter(
      (id) => id !== path.join(app, 'page.js') && !id.startsWith(path.join(sdkFiles, 'sdk') + path.sep) && !id.startsWith(path.join(sdkFiles, 'protocol') + path.sep),
    )
    expect(foreign).toEqual([])
    expect(chunk.code).not.toMatch(/\bfrom\s*["']node:|import\(\s*["']node:|\brequire\(/)

    page.on('request', (request, response) => {
      if (request.url === '/page.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(chunk.code)
      else response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>')
    })
    browser = await launchChromium()
    const tab = await browser.newPage()
    await tab.goto(`${pageURL}/`)
    await tab.waitForFunction(() => 'askVisto' in window)
    const image = [...(await testImage(64, 48, 'png'))]
    const inBrowser = await tab.evaluate(([baseURL, bytes]) => (window as unknown as { askVisto(url: string, image: number[]): Promise<unknown> }).askVisto(baseURL, bytes), [
      server.url,
      image,
    ] as [string, number[]])
    const fromNode = await createClient({ baseURL: server.url }).ask(Buffer.from(image), 'Describe.', { maxTokens: 5, temperature: 0 })
    expect(inBrowser).toEqual({ text: fromNode.text, tokens: 5, finishReason: 'length' })
  })
})

describe('the installed CLI', () => {
  const cli = (args: string[]) => runCli(args, { bin: visto, cwd: app, timeoutMs: 120_000 })

  it('visto ask prints the server’s answer', async () => {
    const image = path.join(dir, 'photo.jpg')
    writeFileSync(image, await testImage(96, 64))
    const result = await cli(['ask', image, '-q', 'Describe.', '--max-tokens', '6', '--temperature', '0', '--json', '--base-url', server.url])
    expect(result.code, result.stderr).toBe(0)
    const output = JSON.parse(result.stdout) as { text: string; finish_reason: string; usage: { completion_tokens: number } }
    const expected = await createClient({ baseURL: server.url }).ask(image, 'Describe.', { maxTokens: 6, temperature: 0 })
    expect({ text: output.text, finish: output.finish_reason, tokens: output.usage.completion_tokens }).toEqual({ text: expected.text, finish: 'length', tokens: 6 })
  })

  it('visto ocr reads a PDF page by page, the page count coming from the server', async () => {
    const pdf = path.join(dir, 'two.pdf')
    writeFileSync(pdf, await textPdf(2, { size: [300, 400] }))
    const result = await cli(['ocr', pdf, '--max-tokens', '2', '-c', '1', '--base-url', server.url])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout.match(/^==> .* <==$/gm)).toEqual([`==> ${pdf} (page 1 of 2) <==`, `==> ${pdf} (page 2 of 2) <==`])
  })

  it('visto serve and visto engine say how to get the server, and exit 1', async () => {
    for (const args of [['serve'], ['serve', '--help'], ['engine', 'path']]) {
      const result = await cli(args)
      expect([result.code, result.stdout, result.stderr]).toEqual([1, '', `visto ${args[0]}: ${SERVER_MISSING}\n`])
    }
    expect(SERVER_MISSING).toMatch(/npm install @visto\/server/)
  })

  it('visto standin says it needs the repository, and --help still lists every command', async () => {
    const standin = await cli(['standin', '--preset', 'tiny', '--out', path.join(dir, 'standin')])
    expect([standin.code, standin.stderr]).toEqual([1, `visto standin: ${TESTKIT_MISSING}\n`])
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    for (const command of ['serve', 'standin', 'engine', 'ask', 'batch', 'chat', 'ocr', 'bench']) expect(help.stdout).toMatch(new RegExp(`^  ${command} +\\S`, 'm'))
    expect(help.stdout).not.toContain('(unavailable)')
  })
})
