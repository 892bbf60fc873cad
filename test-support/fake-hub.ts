import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One file the fake hub holds, and how it misbehaves. */
export interface FakeFile {
  content: Buffer
  /** What the listing claims; defaults to the truth. `null` publishes no sha256. */
  listedSize?: number
  listedSha256?: string | null
  /** Send this many body bytes, then cut the connection, for the first `dropTimes` GETs. */
  dropAfterBytes?: number
  dropTimes?: number
  /** Send this many body bytes, then go silent without closing (a dead connection). */
  stallAfterBytes?: number
  /** Answer every GET with 200 and the whole file, whatever the Range header says. */
  ignoreRange?: boolean
  /** Answer GETs with this status instead. */
  status?: number
  /** Redirect downloads to this base URL (another origin: a CDN). */
  redirectTo?: string
  /** Hold the response until this promise settles (to overlap concurrent downloads). */
  holdUntil?: Promise<void>
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex')
}

/** A GGUF-looking payload: the magic, then deterministic filler. */
export function fakeGguf(size: number, seed = 1): Buffer {
  const buffer = Buffer.alloc(size)
  buffer.write('GGUF', 0, 'latin1')
  let x = seed
  for (let i = 4; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    buffer[i] = x & 0xff
  }
  return buffer
}

/**
 * A local stand-in for Hugging Face (its tree and resolve APIs) and ModelScope (its
 * repo/files and repo?FilePath APIs) on 127.0.0.1, recording every request.
 */
export class FakeHub {
  readonly requests: RecordedRequest[] = []
  readonly repos = new Map<string, Map<string, FakeFile>>()
  private server: Server | undefined
  private readonly sockets = new Set<import('node:net').Socket>()
  private readonly getCounts = new Map<string, number>()
  endpoint = ''

  addRepo(repo: string, files: Record<string, FakeFile>): this {
    this.repos.set(repo, new Map(Object.entries(files)))
    return this
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers })
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500
        res.end(String(error))
      })
    })
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this.endpoint
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  /** Requests whose path (without the query) starts with the prefix. */
  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    const path = decodeURIComponent(url.pathname)
    const hfTree = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/main$/)
    if (hfTree) return this.hfTree(hfTree[1]!, res)
    const hfFile = path.match(/^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/)
    if (hfFile) return this.serveFile(hfFile[1]!, hfFile[2]!, req, res)
    const modelScopeList = path.match(/^\/api\/v1\/models\/([^/]+\/[^/]+)\/repo\/files$/)
    if (modelScopeList) return this.modelScopeFiles(modelScopeList[1]!, res)
    const modelScopeFile = path.match(/^\/api\/v1\/models\/([^/]+\/[^/]+)\/repo$/)
    if (modelScopeFile) return this.serveFile(modelScopeFile[1]!, url.searchParams.get('FilePath') ?? '', req, res)
    res.writeHead(404).end('no route')
  }

  private hfTree(repo: string, res: ServerResponse): void {
    const files = this.repos.get(repo)
    if (!files) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}')
    const entries = [...files].map(([path, file]) => {
      const size = file.listedSize ?? file.content.length
      const oid = file.listedSha256 === undefined ? sha256(file.content) : file.listedSha256
      return oid === null ? { type: 'file', oid: 'a'.repeat(40), size, path } : { type: 'file', oid: 'b'.repeat(40), size: 135, path, lfs: { oid, size, pointerSize: 135 } }
    })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([{ type: 'directory', path: 'docs', oid: 'c', size: 0 }, ...entries]))
  }

  private modelScopeFiles(repo: string, res: ServerResponse): void {
    const files = this.repos.get(repo)
    const body = files
      ? {
          Code: 200,
          Success: true,
          Data: {
            Files: [
              { Type: 'tree', Path: 'docs', Name: 'docs', Size: 0 },
              ...[...files].map(([path, file]) => ({
                Type: 'blob',
                Path: path,
                Name: path.split('/').pop(),
                Size: file.listedSize ?? file.content.length,
                Sha256: file.listedSha256 === undefined ? sha256(file.content) : file.listedSha256,
                Revision: 'abc',
              })),
            ],
          },
        }
      : { Code: 10010205, Success: false, Message: 'model not found' }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }

  private async serveFile(repo: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const file = this.repos.get(repo)?.get(path)
    if (!file) return void res.writeHead(404).end('Entry not found')
    if (file.status) return void res.writeHead(file.status).end('nope')
    if (file.redirectTo) {
      return void res.writeHead(302, { location: `${file.redirectTo}/${repo}/resolve/main/${path}` }).end()
    }
    if (file.holdUntil) await file.holdUntil
    const key = `${repo}/${path}`
    const count = (this.getCounts.get(key) ?? 0) + 1
    this.getCounts.set(key, count)
    const { content } = file
    const range = req.headers.range?.match(/^bytes=(\d+)-$/)
    let start = 0
    if (range && !file.ignoreRange) {
      start = Number(range[1])
      if (start >= content.length) {
        return void res.writeHead(416, { 'content-range': `bytes */${content.length}` }).end()
      }
      res.writeHead(206, {
        'content-length': String(content.length - start),
        'content-range': `bytes ${start}-${content.length - 1}/${content.length}`,
        'accept-ranges': 'bytes',
      })
    } else {
      res.writeHead(200, { 'content-length': String(content.length), 'accept-ranges': 'bytes' })
    }
    const body = content.subarray(start)
    if (file.dropAfterBytes !== undefined && count <= (file.dropTimes ?? 1)) {
      res.write(body.subarray(0, file.dropAfterBytes), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    if (file.stallAfterBytes !== undefined) {
      res.write(body.subarray(0, file.stallAfterBytes))
      return
    }
    res.end(body)
  }
}
