import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CSV_COLUMNS, csvLine, parseCsv, prepareOutput, readResults, recordKey, ResultAppender, serialize, type ResultRecord } from './results-file.js'

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

  it('neutralises cells a spreadsheet would run as formulas, and reads them back unchanged', async () => {
    const hostile = ['=HYPERLINK("http://evil.example","click")', '+1+1', '-2+3', '@SUM(A1)', '\t=1', "'=already quoted", "'plain apostrophe"]
    const line = csvLine(hostile)
    for (const cell of parseCsv(line).rows[0]!) expect(cell).toMatch(/^'/)
    expect(parseCsv(csvLine(['fine', 'a-b', 'x=y'])).rows[0]).toEqual(['fine', 'a-b', 'x=y'])

    const path = join(dir, 'results.csv')
    await prepareOutput(path, 'csv', new Set())
    const appender = new ResultAppender(path, 'csv')
    for (const answer of hostile) appender.append({ ...record('photo.png', true, answer), question: `- ${answer}` })
    appender.close()
    const { records } = (await readResults(path, 'csv'))!
    expect(records.map((r) => r.answer)).toEqual(hostile)
    expect(records.map((r) => r.question)).toEqual(hostile.map((answer) => `- ${answer}`))
  })

  it('writes result files readable by their owner only', async () => {
    for (const format of ['csv', 'jsonl'] as const) {
      const path = join(dir, `private.${format}`)
      await prepareOutput(path, format, new Set())
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      const appended = join(dir, `appended.${format}`)
      new ResultAppender(appended, format).close()
      expect((await stat(appended)).mode & 0o777).toBe(0o600)
    }
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
    await writeFile(path, `${lines.map((r) => serialize(r, 'jsonl')).join('')}{"file":"e.png","ques`)
    const keys = new Set(['a.png', 'b.png', 'd.png', 'e.png'].map((file) => recordKey({ file, question: 'q' })))
    const prepared = await prepareOutput(path, 'jsonl', keys)
    expect([...prepared.done]).toEqual([recordKey({ file: 'a.png', question: 'q' }), recordKey({ file: 'd.png', question: 'q' })])
    expect(prepared.droppedFailures).toBe(1)
    expect(prepared.droppedUnreadable).toBe(1)
    const kept = (await readFile(path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line).file)
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
