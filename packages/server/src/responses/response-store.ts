import type Database from 'better-sqlite3'
import type { ResponsesResponse, ResponsesStoredItem } from '@visto/protocol'
import { systemClock, type Clock } from '../data-dir.js'

/** A stored response: the object as answered, and the input items it was asked with. */
export interface StoredResponse {
  id: string
  previousResponseId: string | null
  createdAt: number
  expiresAt: number
  response: ResponsesResponse
  inputItems: ResponsesStoredItem[]
}

export interface ResponseStoreOptions {
  /** How long a response is kept after it was created or its conversation last continued. */
  retentionSeconds: number
  /** All stored responses together (their JSON, images inline as sent); beyond it the oldest go first. */
  maxBytes: number
  clock?: Clock | undefined
}

const schema = `
CREATE TABLE IF NOT EXISTS responses (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  previous_response_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  input_items TEXT NOT NULL,
  response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_expiry ON responses (expires_at);
`

type Row = { id: string; previous_response_id: string | null; created_at: number; expires_at: number; input_items: string; response: string }

/**
 * Responses kept for `previous_response_id` and `GET /v1/responses/{id}`, in the data
 * directory's database (see data-dir.ts: the one Files and Batches use, 0600 in a 0700
 * folder). Each row holds its own input and output only; a conversation is the chain of
 * rows its `previous_response_id`s name, so an image sent once is stored once however
 * long the conversation grows. Continuing a conversation renews every row of it, so a
 * conversation in use does not lose its beginning to retention.
 */
export class ResponseStore {
  readonly now: Clock
  /**
   * What the stored rows take, kept as they change: summing the table on every insert
   * scanned it whole (4 ms a request at 26,000 rows). Only this server writes the table
   * (the data directory's lock), so the count cannot drift.
   */
  private storedBytes: number

  constructor(
    private readonly db: Database.Database,
    private readonly options: ResponseStoreOptions,
  ) {
    this.now = options.clock ?? systemClock
    db.exec(schema)
    this.storedBytes = db.prepare('SELECT COALESCE(SUM(bytes), 0) FROM responses').pluck().get() as number
  }

  /**
   * Stores a response, renews the conversation it continues (`chain`: the ids of its
   * earlier responses) and deletes the oldest responses while all of them together are
   * over the size limit, in one transaction.
   */
  insert(record: { response: ResponsesResponse; inputItems: ResponsesStoredItem[]; chain: readonly string[] }): void {
    const inputItems = JSON.stringify(record.inputItems)
    const response = JSON.stringify(record.response)
    const bytes = Buffer.byteLength(inputItems) + Buffer.byteLength(response)
    const now = this.now()
    const expiresAt = now + this.options.retentionSeconds
    // The new total counts only once the transaction has committed.
    this.storedBytes = this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO responses (id, previous_response_id, created_at, expires_at, bytes, input_items, response) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(record.response.id, record.response.previous_response_id, record.response.created_at, expiresAt, bytes, inputItems, response)
      const renew = this.db.prepare('UPDATE responses SET expires_at = MAX(expires_at, ?) WHERE id = ?')
      for (const id of record.chain) renew.run(expiresAt, id)
      return this.evictOverLimit(record.response.id, this.storedBytes + bytes)
    })()
  }

  /** Deletes the oldest responses but `keep` while `total` is over the limit; returns what is left. */
  private evictOverLimit(keep: string, total: number): number {
    if (total <= this.options.maxBytes) return total
    const oldest = this.db.prepare('SELECT seq, bytes FROM responses WHERE id != ? ORDER BY seq').iterate(keep) as Iterable<{ seq: number; bytes: number }>
    const doomed: number[] = []
    for (const row of oldest) {
      if (total <= this.options.maxBytes) break
      doomed.push(row.seq)
      total -= row.bytes
    }
    const remove = this.db.prepare('DELETE FROM responses WHERE seq = ?')
    for (const seq of doomed) remove.run(seq)
    return total
  }

  /** A stored response not past its retention. */
  get(id: string): StoredResponse | undefined {
    const row = this.db
      .prepare('SELECT id, previous_response_id, created_at, expires_at, input_items, response FROM responses WHERE id = ? AND expires_at > ?')
      .get(id, this.now()) as Row | undefined
    if (!row) return undefined
    return {
      id: row.id,
      previousResponseId: row.previous_response_id,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      response: JSON.parse(row.response) as ResponsesResponse,
      inputItems: JSON.parse(row.input_items) as ResponsesStoredItem[],
    }
  }

  /** False when there was no such response. */
  delete(id: string): boolean {
    const removed = this.db.prepare('DELETE FROM responses WHERE id = ? RETURNING bytes').pluck().get(id) as number | undefined
    if (removed === undefined) return false
    this.storedBytes -= removed
    return true
  }

  /** Deletes the responses past their retention; returns how many. */
  deleteExpired(): number {
    const removed = this.db.prepare('DELETE FROM responses WHERE expires_at <= ? RETURNING bytes').pluck().all(this.now()) as number[]
    for (const bytes of removed) this.storedBytes -= bytes
    return removed.length
  }

  /**
   * Deletes expired responses now and then every `intervalMs` (an hour); expired ones are
   * never served meanwhile (`get` checks). The timer does not hold the process open.
   * Returns what stops it.
   */
  startHousekeeping(log: (line: string) => void, intervalMs = 3_600_000): () => void {
    const sweep = (): void => {
      const removed = this.deleteExpired()
      if (removed > 0) log(`responses: deleted ${removed} stored responses past their retention (--response-retention-hours)`)
    }
    sweep()
    const timer = setInterval(sweep, intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }

  totalBytes(): number {
    return this.storedBytes
  }
}
