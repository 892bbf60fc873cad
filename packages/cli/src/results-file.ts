/**
 * The batch output file, JSON Lines or CSV. Every finished item is appended as one line
 * in one write, so a killed batch loses nothing it finished; on the next run the file is
 * read back, failed and half-written lines are dropped (atomically, by rewriting to a
 * temporary file and renaming it), and items already answered are skipped.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import { readFile, rename, unlink, writeFile } from 'node:fs/promises'
import type { DetectionRecord } from './detections.js'

export type OutputFormat = 'jsonl' | 'csv'

export interface ResultRecord {
  file: string
  question: string
  ok: boolean
  answer: string | null
  finish_reason: string | null
  prompt_tokens: number | null
  completion_tokens: number | null
  latency_ms: number | null
  cached: boolean
  model: string | null
  request_id: string | null
  error_type: string | null
  status: number | null
  error: string | null
  /** `batch --detect` only (JSON Lines): the answer's boxes and points in pixels; null when the item's size could not be read (a PDF, a URL). */
  detections?: DetectionRecord[] | null
}

export const CSV_COLUMNS: ReadonlyArray<keyof ResultRecord> = [
  'file',
  'question',
  'ok',
  'answer',
  'finish_reason',
  'prompt_tokens',
  'completion_tokens',
  'latency_ms',
  'cached',
  'model',
  'request_id',
  'error_type',
  'status',
  'error',
]

export function recordKey(record: Pick<ResultRecord, 'file' | 'question'>): string {
  return JSON.stringify([record.file, record.question])
}

/**
 * Spreadsheets run a cell that starts with = + - @ (or tab/CR before one) as a formula, so
 * a model's answer could execute in the reader's Excel. Such cells get a leading
 * apostrophe, which spreadsheets show as text; a cell that already starts with one gets
 * another, so reading strips exactly one and resume sees the original value.
 */
const FORMULA_START = /^[=+\-@\t\r']/

export function neutraliseCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text
}

export function restoreCell(text: string): string {
  return text.startsWith("'") && FORMULA_START.test(text.slice(1)) ? text.slice(1) : text
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = neutraliseCell(String(value))
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\n`
}

/** RFC 4180 rows; a final row without its line end (a write cut short) is reported as partial. */
export function parseCsv(text: string): { rows: string[][]; partial: boolean } {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = 0
  let rowStarted = false
  while (i < text.length) {
    const ch = text[i]!
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i += 2
          continue
        }
        quoted = false
      } else field += ch
      i++
      continue
    }
    if (ch === '"') {
      quoted = true
      rowStarted = true
    } else if (ch === ',') {
      row.push(field)
      field = ''
      rowStarted = true
    } else if (ch === '\n' || ch === '\r') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      rowStarted = false
      if (ch === '\r' && text[i + 1] === '\n') i++
    } else {
      field += ch
      rowStarted = true
    }
    i++
  }
  return { rows, partial: rowStarted || quoted }
}

function fromCsvRow(row: string[]): ResultRecord | undefined {
  if (row.length !== CSV_COLUMNS.length) return undefined
  const get = (name: keyof ResultRecord) => restoreCell(row[CSV_COLUMNS.indexOf(name)]!)
  const num = (name: keyof ResultRecord) => (get(name) === '' ? null : Number(get(name)))
  const str = (name: keyof ResultRecord) => (get(name) === '' ? null : get(name))
  if (get('ok') !== 'true' && get('ok') !== 'false') return undefined
  return {
    file: get('file'),
    question: get('question'),
    ok: get('ok') === 'true',
    answer: get('ok') === 'true' ? get('answer') : str('answer'),
    finish_reason: str('finish_reason'),
    prompt_tokens: num('prompt_tokens'),
    completion_tokens: num('completion_tokens'),
    latency_ms: num('latency_ms'),
    cached: get('cached') === 'true',
    model: str('model'),
    request_id: str('request_id'),
    error_type: str('error_type'),
    status: num('status'),
    error: str('error'),
  }
}

function isRecord(value: unknown): value is ResultRecord {
  const v = value as ResultRecord
  return typeof v === 'object' && v !== null && typeof v.file === 'string' && typeof v.question === 'string' && typeof v.ok === 'boolean'
}

export function serialize(record: ResultRecord, format: OutputFormat): string {
  return format === 'csv' ? csvLine(CSV_COLUMNS.map((column) => record[column])) : `${JSON.stringify(record)}\n`
}

export interface ExistingResults {
  records: ResultRecord[]
  /** Lines that could not be read back (a write cut short, hand edits). */
  unreadable: number
  /** The raw text ends mid-line. */
  partial: boolean
}

export async function readResults(path: string, format: OutputFormat): Promise<ExistingResults | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  const records: ResultRecord[] = []
  let unreadable = 0
  if (format === 'csv') {
    const { rows, partial } = parseCsv(text)
    const body = rows.length > 0 && rows[0]!.join(',') === CSV_COLUMNS.join(',') ? rows.slice(1) : rows
    for (const row of body) {
      const record = fromCsvRow(row)
      if (record) records.push(record)
      else unreadable++
    }
    return { records, unreadable: unreadable + (partial ? 1 : 0), partial }
  }
  const lines = text.split('\n')
  const partial = lines.at(-1) !== ''
  for (const line of lines) {
    if (line.trim() === '') continue
    try {
      const value: unknown = JSON.parse(line)
      if (isRecord(value)) records.push(value)
      else unreadable++
    } catch {
      unreadable++
    }
  }
  return { records, unreadable, partial }
}

export interface PreparedOutput {
  /** Keys of items already answered successfully. */
  done: Set<string>
  /** Failed records removed because their items run again. */
  droppedFailures: number
  droppedUnreadable: number
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`
  try {
    // Answers about a user's images are theirs alone.
    await writeFile(temp, text, { encoding: 'utf8', mode: 0o600 })
    await rename(temp, path)
  } catch (error) {
    await unlink(temp).catch(() => {})
    throw error
  }
}

/**
 * Makes the output ready for appending: keeps every successful record (once) and every
 * record of items not in this run, drops failures of items about to be retried and
 * unreadable lines, and returns what is already done.
 */
export async function prepareOutput(path: string, format: OutputFormat, keysToRun: ReadonlySet<string>): Promise<PreparedOutput> {
  const existing = await readResults(path, format)
  const header = format === 'csv' ? csvLine(CSV_COLUMNS) : ''
  if (!existing) {
    await writeAtomically(path, header)
    return { done: new Set(), droppedFailures: 0, droppedUnreadable: 0 }
  }
  const done = new Set<string>()
  const kept: ResultRecord[] = []
  let droppedFailures = 0
  for (const record of existing.records) {
    const key = recordKey(record)
    if (record.ok) {
      if (done.has(key)) continue
      done.add(key)
      kept.push(record)
    } else if (keysToRun.has(key)) droppedFailures++
    else kept.push(record)
  }
  const changed = kept.length !== existing.records.length || existing.unreadable > 0 || existing.partial
  if (changed || (format === 'csv' && existing.records.length === 0)) {
    await writeAtomically(path, header + kept.map((record) => serialize(record, format)).join(''))
  }
  return { done, droppedFailures, droppedUnreadable: existing.unreadable }
}

/** Appends one record per write(2) call on an O_APPEND descriptor. */
export class ResultAppender {
  private readonly fd: number

  constructor(
    path: string,
    private readonly format: OutputFormat,
  ) {
    this.fd = openSync(path, 'a', 0o600)
  }

  append(record: ResultRecord): void {
    const bytes = Buffer.from(serialize(record, this.format), 'utf8')
    let offset = 0
    while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset)
  }

  close(): void {
    fsyncSync(this.fd)
    closeSync(this.fd)
  }
}
