import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { DataDirInUseError, openDataDir } from '../data-dir.js'
import { FileRecords } from '../files/file-records.js'
import { BatchStore } from './store.js'
import { readLines, validateBatchInput } from './validation.js'

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'visto-store-'))
  dirs.push(dir)
  return dir
}

describe('BatchStore', () => {
  it('refuses a second store on the same data directory, and allows it once the first closes', async () => {
    const dir = await tempDir()
    const first = await openDataDir(dir)
    await expect(openDataDir(dir)).rejects.toThrow(DataDirInUseError)
    await expect(openDataDir(dir)).rejects.toThrow(`The data directory ${dir} is in use by another Visto server (--data-dir)`)
    first.close()
    ;(await openDataDir(dir)).close()
  })

  it('records a line once: a second completion of the same line changes nothing', async () => {
    const dataDir = await openDataDir(await tempDir())
    const store = new BatchStore(dataDir.db, new FileRecords(dataDir.db), () => 1000)
    const batch = store.insertBatch({ id: 'batch_x', endpoint: '/v1/chat/completions', input_file_id: 'file-x', completion_window: '24h', metadata: null, created_at: 1000, expires_at: 2000 })
    store.startBatch(batch.seq, [{ lineNo: 1, offset: 0, length: 10, customId: 'a' }])
    const result = { batchSeq: batch.seq, lineNo: 1, ok: true, ran: true, text: '{"custom_id":"a"}', inputTokens: 3, outputTokens: 2 }
    expect(store.recordLine(result)).toBe(true)
    expect(store.recordLine(result)).toBe(false)
    expect(store.getBatch('batch_x')).toMatchObject({ status: 'in_progress', total: 1, completed: 1, failed: 0, input_tokens: 3, output_tokens: 2 })
    expect([...store.results(batch.seq, true)]).toEqual(['{"custom_id":"a"}'])
    expect(store.progressSnapshot()).toEqual({ batches: { in_progress: 1 }, lines: { pending: 0, succeeded: 1, failed: 0 } })
    dataDir.close()
  })
})

describe('batch input lines', () => {
  it('splits on \\n with byte offsets, tolerating \\r\\n, a BOM, blank lines and no final newline', async () => {
    const dir = await tempDir()
    const path = join(dir, 'in.jsonl')
    const line = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { messages: [] } })
    const text = `\uFEFF${line('é')}\r\n\n${line('b')}\n${line('c')}`
    await writeFile(path, text)
    const raw = []
    for await (const entry of readLines(path)) raw.push(entry)
    expect(raw.map((r) => r.lineNo)).toEqual([1, 2, 3, 4])
    const bytes = Buffer.from(text)
    for (const entry of raw) expect(bytes.subarray(entry.offset, entry.offset + entry.length).equals(entry.bytes)).toBe(true)
    const result = await validateBatchInput(path, '/v1/chat/completions', { maxLines: 10 })
    expect(result.errors).toEqual([])
    expect(result.lines.map((l) => [l.lineNo, l.customId])).toEqual([
      [1, 'é'],
      [3, 'b'],
      [4, 'c'],
    ])
  })
})
