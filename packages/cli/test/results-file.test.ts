import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CSV_COLUMNS, csvLine, parseCsv, prepareOutput, recordKey, serialize, type ResultRecord } from '../src/results-file.js'

const record = (file: string, ok: boolean, answer = 'an answer'): ResultRecord => ({
  file,
  question: 'q',
  ok,
  answer: ok ? answer : null,
  finish_reason: ok ? 'stop' : null,
  prompt_tokens: ok ? 10 : null,
  completion_tokens: ok ? 3 : null,
  latency_ms: ok ? 120 : null,
  cached: false,
  model: ok ? 'm' : null,
  request_id: null,
  error_type: ok ? null : 'ServerError',
  status: ok ? null : 500,
  error: ok ? null : '500 boom',
})

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'visto-results-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('CSV', () => {
  it('round-trips fields with commas, quotes, newlines and edge spaces', () => {
    const values = ['plain', 'a,b', 'say "hi"', 'two\nlines', ' padded ', '', 'crlf\r\nend']
    const { rows, partial } = parseCsv(csvLine(values) + csvLine(['x']))
    expect(partial).toBe(false)
    expect(rows).toEqual([values, ['x']])
  })

  it('reports a row cut off mid-write as partial', () => {
    expect(parseCsv('a,b\n"unterminated, quote').partial).toBe(true)
    expect(parseCsv('a,b\nc,d').partial).toBe(true)
    expect(parseCsv('a,b\n').partial).toBe(false)
  })
})

describe('prepareOutput', () => {
  it('keeps successes once, drops failures of items that run again and half-written lines, and rewrites atomically', async () => {
    const path = join(dir, 'results.jsonl')
    const lines = [record('a.png', true), record('b.png', false), record('a.png', true, 'duplicate'), record('c.png', false), record('d.png', true)]
    await writeFile(path, lines.map((r) => serialize(r, 'jsonl')).join('') + '{"file":"e.png","ques')
    const keys = new Set(['a.png', 'b.png', 'd.png', 'e.png'].map((file) => recordKey({ file, question: 'q' })))
    const prepared = await prepareOutput(path, 'jsonl', keys)
    expect([...prepared.done]).toEqual([recordKey({ file: 'a.png', question: 'q' }), recordKey({ file: 'd.png', question: 'q' })])
    expect(prepared.droppedFailures).toBe(1)
    expect(prepared.droppedUnreadable).toBe(1)
    const kept = (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line).file)
    // c.png failed but is not part of this run: its record stays.
    expect(kept).toEqual(['a.png', 'c.png', 'd.png'])
    expect((await readFile(path, 'utf8')).endsWith('\n')).toBe(true)
  })

  it('starts a CSV file with its header and leaves an intact file untouched', async () => {
    const path = join(dir, 'results.csv')
    await prepareOutput(path, 'csv', new Set())
    expect(await readFile(path, 'utf8')).toBe(`${CSV_COLUMNS.join(',')}\n`)
    await writeFile(path, `${CSV_COLUMNS.join(',')}\n${serialize(record('a.png', true, 'x, "y"\nz'), 'csv')}`)
    const before = await readFile(path, 'utf8')
    const prepared = await prepareOutput(path, 'csv', new Set([recordKey({ file: 'a.png', question: 'q' })]))
    expect(prepared.done.size).toBe(1)
    expect(await readFile(path, 'utf8')).toBe(before)
  })
})
