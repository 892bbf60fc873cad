import { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import { rawExchange } from '../../../../test-support/raw-http.js'
import { startBatchHarness, type BatchHarness } from '../../../../test-support/batch-harness.js'
import { contentDisposition } from './content-disposition.js'

const harnesses: BatchHarness[] = []
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close({ removeData: true })
})

/** A multipart upload written by hand, so the file name reaches the server byte for byte as given. */
function multipartUpload(filename: string, host: string): Buffer {
  const boundary = 'visto-test-boundary'
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/jsonl\r\n\r\n`, 'utf8'),
    Buffer.from('{"custom_id":"a"}\n'),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  return Buffer.concat([
    Buffer.from(
      `POST /v1/files HTTP/1.1\r\nHost: ${host}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
    body,
  ])
}

describe('file names of any script, through the Files API', () => {
  it.each(['请求.jsonl', 'photos 📷.jsonl', 'résumé (v2).jsonl', "it's 50%.jsonl", 'שלום.jsonl'])('stores %s as sent, returns it unchanged and downloads it', async (name) => {
    const harness = await startBatchHarness()
    harnesses.push(harness)
    const { client } = harness
    const file = await client.files.create({ file: await toFile(Buffer.from('{"custom_id":"a"}\n'), name), purpose: 'batch' })
    expect(file.filename).toBe(name)
    expect((await client.files.retrieve(file.id)).filename).toBe(name)
    const response = await fetch(`${harness.baseURL}/files/${file.id}/content`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-disposition')).toBe(contentDisposition(name))
    expect(await response.text()).toBe('{"custom_id":"a"}\n')
  })

  it('drops control characters and U+202E from a name sent raw, and downloads what is left', async () => {
    const harness = await startBatchHarness()
    harnesses.push(harness)
    const port = Number(new URL(harness.baseURL).port)
    // Quotes inside a quoted filename are sent percent-encoded by browsers; raw bytes otherwise.
    const response = await rawExchange(port, multipartUpload('inv\u0007oice\u202Efdp\u001b.exe', `127.0.0.1:${port}`))
    expect(response.status).toBe('HTTP/1.1 200 OK')
    const file = JSON.parse(response.body) as { id: string; filename: string }
    expect(file.filename).toBe('invoicefdp.exe')
    expect((await harness.client.files.retrieve(file.id)).filename).toBe('invoicefdp.exe')
    const download = await fetch(`${harness.baseURL}/files/${file.id}/content`)
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="invoicefdp.exe"')
    expect(await download.text()).toBe('{"custom_id":"a"}\n')
  })
})
