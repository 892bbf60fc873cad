import type Database from 'better-sqlite3'
import { systemClock, type Clock } from '../data-dir.js'
import type { FileRecord, FileRecords } from '../files/file-records.js'

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled'
/** What a finalizing batch becomes once its files are written. */
export type EndStatus = 'completed' | 'cancelled' | 'expired'

export interface BatchLineError {
  code: string
  message: string
  param: string | null
  line: number | null
}

export interface BatchRecord {
  seq: number
  id: string
  endpoint: string
  input_file_id: string
  completion_window: string
  status: BatchStatus
  end_status: EndStatus | null
  errors: BatchLineError[] | null
  metadata: Record<string, string> | null
  output_file_id: string | null
  error_file_id: string | null
  created_at: number
  in_progress_at: number | null
  expires_at: number
  finalizing_at: number | null
  completed_at: number | null
  failed_at: number | null
  expired_at: number | null
  cancelling_at: number | null
  cancelled_at: number | null
  total: number
  completed: number
  failed: number
  input_tokens: number
  output_tokens: number
  model: string | null
  /** Validations started and not ended (a crash during one leaves it counted). */
  validation_attempts: number
}

export interface PendingLine {
  batchSeq: number
  lineNo: number
  offset: number
  length: number
  customId: string
}

export interface IndexedLine {
  lineNo: number
  offset: number
  length: number
  customId: string
}

/** One finished line: the JSONL text that goes to the output or error file. */
export interface LineResult {
  batchSeq: number
  lineNo: number
  ok: boolean
  /** Counted in request_counts (false for lines cancelled or expired before they ran). */
  ran: boolean
  text: string
  inputTokens: number
  outputTokens: number
}

const terminal: readonly BatchStatus[] = ['completed', 'failed', 'expired', 'cancelled']
export function isTerminal(status: BatchStatus): boolean {
  return terminal.includes(status)
}

const schema = `
CREATE TABLE IF NOT EXISTS batches (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  endpoint TEXT NOT NULL,
  input_file_id TEXT NOT NULL,
  completion_window TEXT NOT NULL,
  status TEXT NOT NULL,
  end_status TEXT,
  errors TEXT,
  metadata TEXT,
  output_file_id TEXT,
  error_file_id TEXT,
  created_at INTEGER NOT NULL,
  in_progress_at INTEGER,
  expires_at INTEGER NOT NULL,
  finalizing_at INTEGER,
  completed_at INTEGER,
  failed_at INTEGER,
  expired_at INTEGER,
  cancelling_at INTEGER,
  cancelled_at INTEGER,
  total INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  model TEXT,
  validation_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status);
CREATE TABLE IF NOT EXISTS batch_lines (
  batch_seq INTEGER NOT NULL,
  line_no INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  custom_id TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  result TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (batch_seq, line_no)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batch_lines_pending ON batch_lines (batch_seq, state, line_no);
`

/**
 * Columns added since the first release: `CREATE TABLE IF NOT EXISTS` leaves an existing
 * table as it was, so a data directory from before gets them here. Attempts count work
 * started and not yet ended cleanly: what a crash during that work leaves behind.
 */
const addedColumns: Array<{ table: string; column: string; definition: string }> = [
  { table: 'batches', column: 'validation_attempts', definition: 'INTEGER NOT NULL DEFAULT 0' },
  { table: 'batch_lines', column: 'attempts', definition: 'INTEGER NOT NULL DEFAULT 0' },
]

function migrate(db: Database.Database): void {
  for (const { table, column, definition } of addedColumns) {
    const existing = (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name)
    if (!existing.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`)
  }
}

type Row = Record<string, unknown>

function toBatch(row: Row): BatchRecord {
  return {
    ...(row as unknown as BatchRecord),
    errors: row.errors ? (JSON.parse(row.errors as string) as BatchLineError[]) : null,
    metadata: row.metadata ? (JSON.parse(row.metadata as string) as Record<string, string>) : null,
  }
}

/**
 * Batch state in the data directory's database (see data-dir.ts): batches and the index
 * of their lines. Output files are registered in the files table by the same
 * transaction that ends their batch.
 */
export class BatchStore {
  constructor(
    private readonly db: Database.Database,
    private readonly files: FileRecords,
    readonly now: Clock = systemClock,
  ) {
    db.exec(schema)
    migrate(db)
  }

  /** Batches not yet ended that read this file. */
  activeBatchesUsing(fileId: string): string[] {
    return this.db.prepare(`SELECT id FROM batches WHERE input_file_id = ? AND status NOT IN ('completed','failed','expired','cancelled')`).pluck().all(fileId) as string[]
  }

  // Batches

  insertBatch(batch: {
    id: string
    endpoint: string
    input_file_id: string
    completion_window: string
    metadata: Record<string, string> | null
    created_at: number
    expires_at: number
  }): BatchRecord {
    this.db
      .prepare(
        `INSERT INTO batches (id, endpoint, input_file_id, completion_window, status, metadata, created_at, expires_at)
         VALUES (@id, @endpoint, @input_file_id, @completion_window, 'validating', @metadata, @created_at, @expires_at)`,
      )
      .run({ ...batch, metadata: batch.metadata ? JSON.stringify(batch.metadata) : null })
    return this.getBatch(batch.id)!
  }

  getBatch(id: string): BatchRecord | undefined {
    const row = this.db.prepare('SELECT * FROM batches WHERE id = ?').get(id) as Row | undefined
    return row ? toBatch(row) : undefined
  }

  getBatchBySeq(seq: number): BatchRecord | undefined {
    const row = this.db.prepare('SELECT * FROM batches WHERE seq = ?').get(seq) as Row | undefined
    return row ? toBatch(row) : undefined
  }

  listBatches(options: { after?: string | undefined; limit: number }): BatchRecord[] {
    const rows = options.after
      ? this.db.prepare('SELECT * FROM batches WHERE seq < COALESCE((SELECT seq FROM batches WHERE id = ?), 0) ORDER BY seq DESC LIMIT ?').all(options.after, options.limit)
      : this.db.prepare('SELECT * FROM batches ORDER BY seq DESC LIMIT ?').all(options.limit)
    return (rows as Row[]).map(toBatch)
  }

  batchesInStatus(...statuses: BatchStatus[]): BatchRecord[] {
    const rows = this.db.prepare(`SELECT * FROM batches WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY seq`).all(...statuses) as Row[]
    return rows.map(toBatch)
  }

  /** Validation passed: the line index and in_progress in one transaction, unless cancelled meanwhile. */
  startBatch(seq: number, lines: IndexedLine[]): void {
    const insert = this.db.prepare('INSERT INTO batch_lines (batch_seq, line_no, offset, length, custom_id) VALUES (?, ?, ?, ?, ?)')
    this.db.transaction(() => {
      for (const line of lines) insert.run(seq, line.lineNo, line.offset, line.length, line.customId)
      const now = this.now()
      this.db
        .prepare(`UPDATE batches SET total = ?, in_progress_at = CASE WHEN status = 'validating' THEN ? ELSE in_progress_at END,
                  status = CASE WHEN status = 'validating' THEN 'in_progress' ELSE status END WHERE seq = ?`)
        .run(lines.length, now, seq)
    })()
  }

  /**
   * Counts a validation attempt before it starts, durably: if the process dies during
   * it, the next start sees how many attempts never ended. Returns the count, this one included.
   */
  beginValidationAttempt(seq: number): number {
    this.db.prepare('UPDATE batches SET validation_attempts = validation_attempts + 1 WHERE seq = ?').run(seq)
    return this.db.prepare('SELECT validation_attempts FROM batches WHERE seq = ?').pluck().get(seq) as number
  }

  /** The validation attempt ended without a crash (the disk was full): it does not count. */
  endValidationAttempt(seq: number): void {
    this.db.prepare('UPDATE batches SET validation_attempts = MAX(0, validation_attempts - 1) WHERE seq = ?').run(seq)
  }

  /** Counts a line's run before it starts (see beginValidationAttempt); returns the count, this one included. */
  beginLineAttempt(seq: number, lineNo: number): number {
    this.db.prepare('UPDATE batch_lines SET attempts = attempts + 1 WHERE batch_seq = ? AND line_no = ?').run(seq, lineNo)
    return (this.db.prepare('SELECT attempts FROM batch_lines WHERE batch_seq = ? AND line_no = ?').pluck().get(seq, lineNo) as number | undefined) ?? 0
  }

  /** The attempt ended without a crash (the engine was restarting, the server shut down): it does not count against the line. */
  endLineAttempt(seq: number, lineNo: number): void {
    this.db.prepare('UPDATE batch_lines SET attempts = MAX(0, attempts - 1) WHERE batch_seq = ? AND line_no = ?').run(seq, lineNo)
  }

  failValidation(seq: number, errors: BatchLineError[]): void {
    this.db
      .prepare(`UPDATE batches SET status = 'failed', failed_at = ?, errors = ? WHERE seq = ? AND status IN ('validating', 'cancelling')`)
      .run(this.now(), JSON.stringify(errors), seq)
  }

  /** Moves a validating or running batch to cancelling; returns the batch as it is now. */
  requestCancel(id: string): BatchRecord | undefined {
    this.db.prepare(`UPDATE batches SET status = 'cancelling', cancelling_at = ? WHERE id = ? AND status IN ('validating', 'in_progress')`).run(this.now(), id)
    return this.getBatch(id)
  }

  /** All lines have a result (or the batch is ending early): the files are written next. */
  beginFinalizing(seq: number, endStatus: EndStatus): void {
    this.db
      .prepare(
        `UPDATE batches SET status = CASE WHEN status = 'cancelling' THEN 'cancelling' ELSE 'finalizing' END, end_status = ?, finalizing_at = COALESCE(finalizing_at, ?) WHERE seq = ?`,
      )
      .run(endStatus, this.now(), seq)
  }

  nextPendingLine(seq: number, afterLineNo: number): PendingLine | undefined {
    const row = this.db
      .prepare(`SELECT batch_seq, line_no, offset, length, custom_id FROM batch_lines WHERE batch_seq = ? AND state = 'pending' AND line_no > ? ORDER BY line_no LIMIT 1`)
      .get(seq, afterLineNo) as Row | undefined
    return row
      ? { batchSeq: row.batch_seq as number, lineNo: row.line_no as number, offset: row.offset as number, length: row.length as number, customId: row.custom_id as string }
      : undefined
  }

  pendingCount(seq: number): number {
    return this.db.prepare(`SELECT COUNT(*) FROM batch_lines WHERE batch_seq = ? AND state = 'pending'`).pluck().get(seq) as number
  }

  /**
   * Records a finished line and its output text in one transaction: the only place a
   * line stops being pending, so a line is either not done (and runs again after a
   * crash) or done exactly once. Returns false when it was already done.
   */
  recordLine(result: LineResult): boolean {
    return this.db.transaction(() => {
      const changed = this.db
        .prepare(`UPDATE batch_lines SET state = ?, result = ? WHERE batch_seq = ? AND line_no = ? AND state = 'pending'`)
        .run(result.ok ? 'succeeded' : 'failed', result.text, result.batchSeq, result.lineNo).changes
      if (changed === 0) return false
      if (result.ran) {
        this.db
          .prepare(
            `UPDATE batches SET ${result.ok ? 'completed = completed + 1' : 'failed = failed + 1'}, input_tokens = input_tokens + ?, output_tokens = output_tokens + ? WHERE seq = ?`,
          )
          .run(result.inputTokens, result.outputTokens, result.batchSeq)
      }
      return true
    })()
  }

  /** Marks every still-pending line of a batch with the same error (cancelled or expired before it ran). */
  failPendingLines(seq: number, makeText: (line: PendingLine) => string): void {
    const lines = this.db.prepare(`SELECT batch_seq, line_no, offset, length, custom_id FROM batch_lines WHERE batch_seq = ? AND state = 'pending'`).iterate(seq) as Iterable<Row>
    const update = this.db.prepare(`UPDATE batch_lines SET state = 'failed', result = ? WHERE batch_seq = ? AND line_no = ?`)
    // Collect first: SQLite does not allow writes while a statement iterates the same connection.
    const pending: PendingLine[] = []
    for (const row of lines) {
      pending.push({ batchSeq: seq, lineNo: row.line_no as number, offset: row.offset as number, length: row.length as number, customId: row.custom_id as string })
    }
    this.db.transaction(() => {
      for (const line of pending) update.run(makeText(line), seq, line.lineNo)
    })()
  }

  /**
   * Finished lines in input order, a page at a time, so results are never all in memory
   * and no statement stays open across an await (other writes would find the connection busy).
   */
  *results(seq: number, ok: boolean, pageSize = 500): Generator<string> {
    const page = this.db.prepare(`SELECT line_no, result FROM batch_lines WHERE batch_seq = ? AND state = ? AND line_no > ? ORDER BY line_no LIMIT ?`)
    let after = -1
    for (;;) {
      const rows = page.all(seq, ok ? 'succeeded' : 'failed', after, pageSize) as Array<{ line_no: number; result: string }>
      for (const row of rows) yield row.result
      if (rows.length < pageSize) return
      after = rows[rows.length - 1]!.line_no
    }
  }

  /** The output and error files are on disk: register them and end the batch, in one transaction. */
  finishBatch(seq: number, outputs: { output?: FileRecord | undefined; error?: FileRecord | undefined }): void {
    this.db.transaction(() => {
      const batch = this.getBatchBySeq(seq)!
      const endStatus = batch.end_status ?? 'completed'
      if (outputs.output) this.files.insert(outputs.output)
      if (outputs.error) this.files.insert(outputs.error)
      const at = this.now()
      const stamp = endStatus === 'completed' ? 'completed_at' : endStatus === 'cancelled' ? 'cancelled_at' : 'expired_at'
      this.db
        .prepare(`UPDATE batches SET status = ?, ${stamp} = ?, output_file_id = ?, error_file_id = ? WHERE seq = ?`)
        .run(endStatus, at, outputs.output?.id ?? null, outputs.error?.id ?? null, seq)
      // The files hold the results now; the index is no longer needed.
      this.db.prepare('DELETE FROM batch_lines WHERE batch_seq = ?').run(seq)
    })()
  }

  /** Ended batches whose retention has passed. */
  expiredForCleanup(retentionSeconds: number): BatchRecord[] {
    const now = this.now()
    return (
      this.db
        .prepare(
          `SELECT * FROM batches WHERE status IN ('completed','failed','expired','cancelled')
           AND COALESCE(completed_at, failed_at, expired_at, cancelled_at) + ? <= ?`,
        )
        .all(retentionSeconds, now) as Row[]
    ).map(toBatch)
  }

  deleteBatch(seq: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM batch_lines WHERE batch_seq = ?').run(seq)
      this.db.prepare('DELETE FROM batches WHERE seq = ?').run(seq)
    })()
  }

  /** The earliest expires_at among unfinished batches, to time the next expiry check. */
  nextExpiry(): number | undefined {
    return (this.db.prepare(`SELECT MIN(expires_at) FROM batches WHERE status IN ('validating','in_progress')`).pluck().get() as number | null) ?? undefined
  }

  /** Batches by status, and the lines of unfinished batches by state: for /metrics and the log. */
  progressSnapshot(): { batches: Record<string, number>; lines: { pending: number; succeeded: number; failed: number } } {
    const batches = Object.fromEntries(
      (this.db.prepare('SELECT status, COUNT(*) AS n FROM batches GROUP BY status').all() as Array<{ status: string; n: number }>).map((r) => [r.status, r.n]),
    )
    const lines = { pending: 0, succeeded: 0, failed: 0 }
    for (const row of this.db.prepare('SELECT state, COUNT(*) AS n FROM batch_lines GROUP BY state').all() as Array<{ state: keyof typeof lines; n: number }>)
      lines[row.state] = row.n
    return { batches, lines }
  }

  /** Unfinished batches whose completion window has passed. */
  overdueBatches(): BatchRecord[] {
    return (this.db.prepare(`SELECT * FROM batches WHERE status IN ('validating','in_progress') AND expires_at <= ?`).all(this.now()) as Row[]).map(toBatch)
  }
}
