import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NotFoundError } from '../errors.js'

/**
 * The web interface: the static chat page (packages/webui) on `/`, plus the
 * browser builds of the SDK and protocol so the page (or anyone's page) can import them,
 * and of markdown-it, which the page draws answers with.
 * Plain files, no bundler, so a tiny handler is enough and we need no @fastify/static.
 */

// src/routes and dist/routes sit at the same depth, so one relative path serves both.
const packagesDir = fileURLToPath(new URL('../../../', import.meta.url))

export interface StaticRoots {
  webui: string
  sdk: string
  protocol: string
  /** The folder of markdown-it's self-contained browser builds. */
  markdownIt: string
}

const webuiDir = path.join(packagesDir, 'webui')

export const defaultStaticRoots: StaticRoots = {
  webui: webuiDir,
  sdk: path.join(packagesDir, 'sdk', 'dist'),
  protocol: path.join(packagesDir, 'protocol', 'dist'),
  // A dependency of the page's package: found the way Node finds it from there, whether npm
  // hoisted it or nested it under @visto/webui.
  markdownIt: path.dirname(createRequire(path.join(webuiDir, 'package.json')).resolve('markdown-it/browser')),
}

// Only what a browser needs; anything else (.ts sources, .tsbuildinfo) is not served.
const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * The page may load only its own files, talk only to its own server and never be framed:
 * even a model answer that slipped into the DOM as HTML could not load or send anything.
 * The one inline script (the import map, which browsers cannot load from a file) is
 * allowed by its hash.
 */
export function contentSecurityPolicy(html: string): string {
  const inlineScripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)].map(
    (match) => `'sha256-${createHash('sha256').update(match[1]!).digest('base64')}'`,
  )
  return [
    "default-src 'self'",
    `script-src 'self'${inlineScripts.map((hash) => ` ${hash}`).join('')}`,
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

function notFound(request: FastifyRequest): NotFoundError {
  return new NotFoundError(`No file at ${request.url.split('?')[0]}`, { code: 'file_not_found' })
}

/** Resolves `relative` inside `root`, following symlinks, and refuses anything that lands outside it. */
async function resolveInside(root: string, relative: string): Promise<string | undefined> {
  if (relative.includes('\0')) return undefined
  let realRoot: string
  let realFile: string
  try {
    realRoot = await fs.realpath(root)
    realFile = await fs.realpath(path.resolve(realRoot, `.${path.sep}${relative}`))
  } catch {
    return undefined
  }
  return realFile.startsWith(realRoot + path.sep) ? realFile : undefined
}

/** The file types each folder serves. The page's folder is its package too: its package.json, tsconfig.json and README are no business of a browser. */
const pageFiles = ['.html', '.js', '.css']
const builtFiles = Object.keys(contentTypes)
const markdownItFiles = ['.mjs', '.map']

async function sendFile(request: FastifyRequest, reply: FastifyReply, root: string, relative: string, served: readonly string[]): Promise<FastifyReply> {
  const extension = path.extname(relative).toLowerCase()
  const type = served.includes(extension) ? contentTypes[extension] : undefined
  const file = type === undefined ? undefined : await resolveInside(root, relative)
  const stat = file === undefined ? undefined : await fs.stat(file).catch(() => undefined)
  if (file === undefined || stat === undefined || !stat.isFile()) throw notFound(request)

  // Names carry no content hash, so browsers must revalidate; the ETag keeps that cheap.
  const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`
  reply
    .header('cache-control', 'no-cache')
    .header('etag', etag)
    .header('last-modified', stat.mtime.toUTCString())
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
  const body = await fs.readFile(file)
  if (type!.startsWith('text/html')) reply.header('content-security-policy', contentSecurityPolicy(body.toString('utf8')))
  if (request.headers['if-none-match'] === etag) return reply.code(304).send()
  return reply.type(type!).send(body)
}

/** The page and the files under `/ui/*`, `/sdk/*`, `/protocol/*`, `/vendor/markdown-it/*`, each folder serving only its own kinds of file. */
export function webUiHandlers(roots: StaticRoots = defaultStaticRoots) {
  const filesIn = (root: string, served: readonly string[]) => (request: FastifyRequest, reply: FastifyReply) =>
    sendFile(request, reply, root, (request.params as { '*': string })['*'], served)
  return {
    page: (request: FastifyRequest, reply: FastifyReply) => sendFile(request, reply, roots.webui, 'index.html', pageFiles),
    // `/index.html` is what people type after seeing `/`; keep one canonical address.
    toPage: (_request: FastifyRequest, reply: FastifyReply) => reply.redirect('/', 301),
    pageFiles: filesIn(roots.webui, pageFiles),
    sdkFiles: filesIn(roots.sdk, builtFiles),
    protocolFiles: filesIn(roots.protocol, builtFiles),
    markdownItFiles: filesIn(roots.markdownIt, markdownItFiles),
  }
}
