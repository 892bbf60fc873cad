import Database from 'better-sqlite3'
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
    const batch = store.insertBatch({
      id: 'batch_x',
      endpoint: '/v1/chat/completions',
      input_file_id: 'file-x',
      completion_window: '24h',
      metadata: null,
      created_at: 1000,
      expires_at: 2000,
    })
    store.startBatch(batch.seq, [{ lineNo: 1, offset: 0, length: 10, customId: 'a' }])
    const result = { batchSeq: batch.seq, lineNo: 1, ok: true, ran: true, text: '{"custom_id":"a"}', inputTokens: 3, outputTokens: 2 }
    expect(store.recordLine(result)).toBe(true)
    expect(store.recordLine(result)).toBe(false)
    expect(store.getBatch('batch_x')).toMatchObject({ status: 'in_progress', total: 1, completed: 1, failed: 0, input_tokens: 3, output_tokens: 2 })
    expect([...store.results(batch.seq, true)]).toEqual(['{"custom_id":"a"}'])
    expect(store.progressSnapshot()).toEqual({ batches: { in_progress: 1 }, lines: { pending: 0, succeeded: 1, failed: 0 } })
    dataDir.close()
  })

  it('adds the attempt counters to a data directory made before them, keeping its batches', async () => {
    const dir = await tempDir()
    // The tables as the first release made them.
    const old = new Database(join(dir, 'batches.sqlite'))
    old.exec(`CREATE TABLE batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL,
      completion_window TEXT NOT NULL, status TEXT NOT NULL, end_status TEXT, errors TEXT, metadata TEXT, output_file_id TEXT, error_file_id TEXT,
      created_at INTEGER NOT NULL, in_progress_at INTEGER, expires_at INTEGER NOT NULL, finalizing_at INTEGER, completed_at INTEGER, failed_at INTEGER,
      expired_at INTEGER, cancelling_at INTEGER, cancelled_at INTEGER, total INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0,
      failed INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0, model TEXT);
      CREATE TABLE batch_lines (batch_seq INTEGER NOT NULL, line_no INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,
      custom_id TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', result TEXT, PRIMARY KEY (batch_seq, line_no)) WITHOUT ROWID;
      INSERT INTO batches (id, endpoint, input_file_id, completion_window, status, created_at, expires_at, total) VALUES ('batch_old', '/v1/chat/completions', 'file-x', '24h', 'in_progress', 1, 2, 1);
      INSERT INTO batch_lines (batch_seq, line_no, offset, length, custom_id) VALUES (1, 1, 0, 10, 'a');`)
    old.close()
    const dataDir = await openDataDir(dir)
    const store = new BatchStore(dataDir.db, new FileRecords(dataDir.db), () => 1000)
    expect(store.getBatch('batch_old')).toMatchObject({ status: 'in_progress', total: 1, validation_attempts: 0 })
    expect(store.beginLineAttempt(1, 1)).toBe(1)
    expect(store.beginLineAttempt(1, 1)).toBe(2)
    // An attempt that ended without a crash (the engine restarting, a shutdown) does not count.
    store.endLineAttempt(1, 1)
    expect(store.beginLineAttempt(1, 1)).toBe(2)
    expect(store.beginValidationAttempt(1)).toBe(1)
    dataDir.close()
    // Opening it again migrates nothing twice and keeps the counts.
    const again = await openDataDir(dir)
    expect(new BatchStore(again.db, new FileRecords(again.db)).getBatch('batch_old')!.validation_attempts).toBe(1)
    again.close()
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

describe('batch input lines checked while they are read', () => {
  it('refuses a line nested too deep at its first bracket too deep and a line too long, without holding either', async () => {
    const dir = await tempDir()
    const path = join(dir, 'in.jsonl')
    const good = JSON.stringify({ custom_id: 'good', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } })
    const deep = `{"custom_id":"deep","body":${'['.repeat(3_000_000)}`
    const long = JSON.stringify({ custom_id: 'long', text: 'x'.repeat(3_000_000) })
    await writeFile(path, [good, deep, long, good.replace('good', 'after')].join('\n'))
    const raw = []
    for await (const entry of readLines(path, { maxJsonDepth: 64, maxLineBytes: 1_000_000 })) raw.push(entry)
    expect(raw.map((r) => [r.lineNo, r.length, r.bytes.length, r.refused])).toEqual([
      [1, good.length, good.length, undefined],
      [2, deep.length, 0, { kind: 'too_deep', at: '{"custom_id":"deep","body":'.length + 63 }],
      [3, long.length, 0, { kind: 'too_long' }],
      [4, good.length + 1, good.length + 1, undefined],
    ])
    // The offsets still point at each line, so the lines after a refused one run from the right bytes.
    expect(raw[3]!.offset).toBe(good.length + deep.length + long.length + 3)
    const result = await validateBatchInput(path, '/v1/chat/completions', { maxLines: 10, maxLineBytes: 1_000_000 })
    expect(result.errors).toEqual([
      { code: 'json_too_deep', message: 'Line 2: nests objects and arrays deeper than 64 levels (at character 90); the limit is --max-json-depth', param: null, line: 2 },
      { code: 'line_too_long', message: 'Line 3: is 2.9 MiB, over the 977 KiB one request may have (--body-limit-mb)', param: null, line: 3 },
    ])
  })
})
