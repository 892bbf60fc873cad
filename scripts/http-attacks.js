// The requests of issue 18 that once froze, crashed, stalled or escaped the error
// envelope of a Visto server, each with the answer that shows it is handled now. The HTTP
// fuzz (scripts/fuzz-images.js --http) runs them after its random cases, so they stay
// fixed: a fixed set, a few seconds in all. While each runs, /health is polled and its
// slowest answer reported: no single request may stall the event loop.
//
// Plain JavaScript on Node's own modules: the fuzz script imports it as it is.
import { connect } from 'node:net'
import { crc32, deflateSync } from 'node:zlib'

/** One request as bytes on a socket; resolves with the answer when the server closes. */
export function rawExchange(port, request) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      received += chunk
      const end = received.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(received)
      if (end >= 0 && length && Buffer.byteLength(received) >= end + 4 + Number(length[1])) socket.end()
    })
    socket.on('close', () => {
      const end = received.indexOf('\r\n\r\n')
      const head = end < 0 ? received : received.slice(0, end)
      resolve({ status: Number(head.split(' ')[1]), head, body: end < 0 ? '' : received.slice(end + 4) })
    })
    socket.on('error', reject)
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')))
  })
}

/** Why an answer is not the expected refusal in our envelope with a request id; undefined when it is. */
function wrongAnswer(answer, status, code) {
  if (answer.status !== status) return `HTTP ${answer.status}, expected ${status}: ${answer.body.slice(0, 160)}`
  if (!/\r\nx-request-id: req_[0-9a-f]{24}/i.test(`\r\n${answer.head}`)) return `HTTP ${answer.status} without x-request-id`
  let envelope
  try {
    envelope = JSON.parse(answer.body)
  } catch {
    return `HTTP ${answer.status} without a JSON body: ${answer.body.slice(0, 160)}`
  }
  if (typeof envelope?.error?.message !== 'string' || envelope.error.code !== code)
    return `HTTP ${answer.status} with ${JSON.stringify(envelope).slice(0, 200)}, expected code ${code}`
  return undefined
}

/** A fetch answer in the shape rawExchange gives. */
async function fetched(response) {
  const head = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\r\n')
  return { status: response.status, head, body: await response.text(), headers: response.headers }
}

function pngChunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A valid all-black grey PNG: `width` x `height` pixels to decode, a few hundred KB to send. */
function blankPng(width, height) {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 0, 0, 0, 0], 8)
  const pixels = deflateSync(Buffer.alloc((width + 1) * height), { level: 9 })
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', pixels), pngChunk('IEND', Buffer.alloc(0))])
}

function multipartFile(filename, bytes) {
  const boundary = 'visto-attack-boundary'
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/jsonl\r\n\r\n`,
      'utf8',
    ),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  return { body, contentType: `multipart/form-data; boundary=${boundary}` }
}

/** A POST of `bytes` of `[` to the chat route, as one buffer for a socket. */
function nestedBody(bytes, type) {
  const head = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`)
  return Buffer.concat([head, Buffer.alloc(bytes, '[')])
}

const chatLine = (id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 } })

/**
 * The attacks: a label, a function of the server's base URL, its port and the payload
 * that returns why the answer is wrong (or undefined), and what builds the payload.
 * `batches`: the server has a data directory of its own.
 */
export function attacks({ batches }) {
  const list = [
    // Written straight to a socket: the client's own HTTP stack stays out of what /health measures.
    [
      'a 46 MiB body of nested [',
      async (_base, port, request) => wrongAnswer(await rawExchange(port, request), 400, 'json_too_deep'),
      () => nestedBody(46 * 2 ** 20, 'application/json'),
    ],
    [
      'a 9.5 MiB body of nested [ sent as text/plain',
      async (_base, port, request) => wrongAnswer(await rawExchange(port, request), 400, 'json_too_deep'),
      () => nestedBody(9.5 * 2 ** 20, 'text/plain'),
    ],
    [
      'a chat body nesting objects 100 deep inside a message',
      async (base) => {
        const deep = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`
        const body = `{"messages":[{"role":"user","content":"hi","extra":${deep}}]}`
        const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        return wrongAnswer(await fetched(response), 400, 'json_too_deep')
      },
    ],
    [
      'a json_schema pattern whose repetitions nest (froze llama-server for good)',
      async (base) => {
        const body = {
          messages: [{ role: 'user', content: 'hi' }],
          response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^(((a{0,20}){0,20}){0,20})$' } } },
        }
        const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        return wrongAnswer(await fetched(response), 400, 'unsupported_schema')
      },
    ],
    [
      'eight 100 MP images over the context (17 s of decoding, then a 400)',
      async (base, _port, body) => {
        const started = performance.now()
        const response = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        const wrong = wrongAnswer(await fetched(response), 400, 'context_length_exceeded')
        const seconds = (performance.now() - started) / 1000
        return wrong ?? (seconds > 3 ? `answered after ${seconds.toFixed(1)} s: the images were decoded first` : undefined)
      },
      () => {
        const url = `data:image/png;base64,${blankPng(10_000, 10_000).toString('base64')}`
        const content = [{ type: 'text', text: 'Describe them.' }, ...Array.from({ length: 8 }, () => ({ type: 'image_url', image_url: { url } }))]
        return JSON.stringify({ messages: [{ role: 'user', content }] })
      },
    ],
    ...[
      ['userinfo in Host', 'Host: evil@127.0.0.1\r\n'],
      ['a path in Host', 'Host: 127.0.0.1:7990/x\r\n'],
      ['two Host lines', 'Host: 127.0.0.1\r\nHost: evil.example\r\n'],
      ['an empty Host', 'Host: \r\n'],
      ['no Host on HTTP/1.1', ''],
    ].map(([name, hostLines]) => [
      `a hostile Host header: ${name}`,
      async (_base, port) => wrongAnswer(await rawExchange(port, `GET /health HTTP/1.1\r\n${hostLines}Connection: close\r\n\r\n`), 400, 'invalid_host_header'),
    ]),
    [
      'GET * (served the page)',
      async (_base, port) => wrongAnswer(await rawExchange(port, 'GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 400, 'invalid_request_target'),
    ],
    [
      'a path segment of 5000 characters (414 outside the envelope)',
      async (_base, port) =>
        wrongAnswer(await rawExchange(port, `GET /v1/files/${'f'.repeat(5000)} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`), 414, 'uri_too_long'),
    ],
    [
      'bad chunked encoding',
      async (_base, port) =>
        wrongAnswer(
          await rawExchange(
            port,
            'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
          ),
          400,
          'malformed_request',
        ),
    ],
    [
      '32 KiB of headers',
      async (_base, port) => wrongAnswer(await rawExchange(port, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`), 431, 'headers_too_large'),
    ],
  ]
  if (!batches) return list
  list.push(
    ...[
      ['请求.jsonl', '请求.jsonl'],
      ['photos 📷 \\"quoted\\".jsonl', 'photos 📷 "quoted".jsonl'],
      ['inv\u0007oice\u202Efdp\u001b.exe', 'invoicefdp.exe'],
      ['C:\\Users\\me\\r\u00e9sum\u00e9.jsonl', 'résumé.jsonl'],
    ].map(([sent, stored]) => [
      `a hostile file name: ${JSON.stringify(sent)}`,
      async (base) => {
        const form = multipartFile(sent, Buffer.from(`${chatLine('a')}\n`))
        const created = await fetched(await fetch(`${base}/v1/files`, { method: 'POST', headers: { 'content-type': form.contentType }, body: form.body }))
        if (created.status !== 200) return `upload: HTTP ${created.status}: ${created.body.slice(0, 160)}`
        const { id, filename } = JSON.parse(created.body)
        if (filename !== stored) return `stored as ${JSON.stringify(filename)}, expected ${JSON.stringify(stored)}`
        const retrieved = JSON.parse(await (await fetch(`${base}/v1/files/${id}`)).text())
        if (retrieved.filename !== stored) return `GET /v1/files/{id} says ${JSON.stringify(retrieved.filename)}`
        const content = await fetched(await fetch(`${base}/v1/files/${id}/content`))
        const disposition = content.headers.get('content-disposition') ?? ''
        if (content.status !== 200) return `download: HTTP ${content.status}: ${content.body.slice(0, 160)}`
        const exact = /filename\*=UTF-8''([^;\s]+)/.exec(disposition)
        const name = exact ? decodeURIComponent(exact[1]) : /filename="([^"]*)"/.exec(disposition)?.[1]
        if (name !== stored) return `download named ${JSON.stringify(name)} (${disposition})`
        await fetch(`${base}/v1/files/${id}`, { method: 'DELETE' })
        return undefined
      },
    ]),
    [
      'a batch line of 40 MB of nested [ (ran validation out of heap, again on every restart)',
      async (base, port, form) => {
        const head = `POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${form.contentType}\r\nContent-Length: ${form.body.length}\r\nConnection: close\r\n\r\n`
        const created = await rawExchange(port, Buffer.concat([Buffer.from(head), form.body]))
        if (created.status !== 200) return `upload: HTTP ${created.status}: ${created.body.slice(0, 160)}`
        const fileId = JSON.parse(created.body).id
        const rssBefore = process.memoryUsage().rss
        let peakRss = rssBefore
        const batch = await (
          await fetch(`${base}/v1/batches`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' }),
          })
        ).json()
        const deadline = Date.now() + 30_000
        for (;;) {
          peakRss = Math.max(peakRss, process.memoryUsage().rss)
          const now = await (await fetch(`${base}/v1/batches/${batch.id}`)).json()
          if (now.status === 'failed') {
            const code = now.errors?.data?.[0]?.code
            if (code !== 'json_too_deep') return `failed with ${JSON.stringify(now.errors).slice(0, 200)}`
            break
          }
          if (now.status !== 'validating' || Date.now() > deadline) return `batch ${now.status}, expected it to fail validation`
          await new Promise((r) => setTimeout(r, 20))
        }
        await fetch(`${base}/v1/files/${fileId}`, { method: 'DELETE' })
        const grownMiB = (peakRss - rssBefore) / 2 ** 20
        return grownMiB > 256 ? `validation grew the process by ${grownMiB.toFixed(0)} MiB` : undefined
      },
      () => {
        const run = 40_000_000
        const prefix = `${chatLine('fine')}\n{"custom_id":"deep","body":`
        const file = Buffer.alloc(prefix.length + run + 1, '[')
        file.write(prefix)
        file.write('\n', prefix.length + run)
        return multipartFile('nested.jsonl', file)
      },
    ],
  )
  return list
}

/**
 * Runs every attack against `base`, one at a time, polling /health meanwhile. Returns one
 * result per attack: its label, why its answer was wrong (or undefined) and the slowest
 * /health answer while it ran.
 */
export async function runAttacks(base, { batches, maxStallMs }) {
  const port = Number(new URL(base).port)
  const results = []
  for (const [label, attack, prepare] of attacks({ batches })) {
    // Built before /health is watched: the payload's cost is the client's, not the server's.
    const payload = prepare?.()
    let running = true
    let slowestHealthMs = 0
    const probe = (async () => {
      while (running) {
        const started = performance.now()
        try {
          await (await fetch(`${base}/health`)).text()
        } catch {
          // The attack's own answer tells.
        }
        slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started)
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    let wrong
    try {
      wrong = await attack(base, port, payload)
    } catch (error) {
      wrong = `request failed: ${error.cause?.code ?? error.message}`
    }
    running = false
    await probe
    if (!wrong && slowestHealthMs > maxStallMs) wrong = `/health took ${slowestHealthMs.toFixed(0)} ms to answer meanwhile (the limit is ${maxStallMs} ms)`
    results.push({ label, wrong, slowestHealthMs: Math.round(slowestHealthMs) })
  }
  return results
}
