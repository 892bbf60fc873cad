import type Database from 'better-sqlite3'

/** `user_data`: a document for chat requests (`file_id` in a `file` part). */
export type FilePurpose = 'batch' | 'batch_output' | 'user_data'

export interface FileRecord {
  id: string
  purpose: FilePurpose
  filename: string
  bytes: number
  created_at: number
  expires_at: number | null
}

const schema = `
CREATE TABLE IF NOT EXISTS files (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  purpose TEXT NOT NULL,
  filename TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
`

const columns = 'id, purpose, filename, bytes, created_at, expires_at'

/** The `files` table of the data directory's database: one row per stored file. */
export class FileRecords {
  constructor(private readonly db: Database.Database) {
    db.exec(schema)
  }

  insert(file: FileRecord): void {
    this.db.prepare(`INSERT INTO files (${columns}) VALUES (@id, @purpose, @filename, @bytes, @created_at, @expires_at)`).run(file)
  }

  get(id: string): FileRecord | undefined {
    return this.db.prepare(`SELECT ${columns} FROM files WHERE id = ?`).get(id) as FileRecord | undefined
  }

  list(options: { after?: string | undefined; limit: number; order: 'asc' | 'desc'; purpose?: string | undefined }): FileRecord[] {
    const cmp = options.order === 'asc' ? '>' : '<'
    const params: unknown[] = []
    let where = '1=1'
    if (options.purpose) {
      where += ' AND purpose = ?'
      params.push(options.purpose)
    }
    if (options.after) {
      where += ` AND seq ${cmp} COALESCE((SELECT seq FROM files WHERE id = ?), ${options.order === 'asc' ? 9e15 : 0})`
      params.push(options.after)
    }
    return this.db.prepare(`SELECT ${columns} FROM files WHERE ${where} ORDER BY seq ${options.order.toUpperCase()} LIMIT ?`).all(...params, options.limit) as FileRecord[]
  }

  delete(id: string): boolean {
    return this.db.prepare('DELETE FROM files WHERE id = ?').run(id).changes > 0
  }

  allIds(): Set<string> {
    return new Set(this.db.prepare('SELECT id FROM files').pluck().all() as string[])
  }

  totalBytes(): number {
    return (this.db.prepare('SELECT COALESCE(SUM(bytes), 0) FROM files').pluck().get() as number) ?? 0
  }

  /** Files whose own expires_at has passed. */
  expiredIds(now: number): string[] {
    return this.db.prepare('SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?').pluck().all(now) as string[]
  }
}
