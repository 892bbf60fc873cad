import { connect } from 'node:net'

export interface RawResponse {
  /** The status line, e.g. `HTTP/1.1 400 Bad Request`. */
  status: string
  /** The head, status line included. */
  headers: string
  body: string
}

/**
 * Sends bytes exactly as given and reads the answer until the connection closes (or the
 * announced body has arrived): for requests no HTTP client would send.
 */
export function rawExchange(port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(received)
      if (end >= 0 && length && Buffer.byteLength(received) >= end + 4 + Number(length[1])) socket.end()
    })
    socket.on('close', () => {
      const end = received.indexOf('\r\n\r\n')
      const head = end < 0 ? received : received.slice(0, end)
      resolve({ status: head.split('\r\n')[0]!, headers: head, body: end < 0 ? '' : received.slice(end + 4) })
    })
    socket.on('error', reject)
  })
}
